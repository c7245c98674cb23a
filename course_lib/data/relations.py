"""A generated corpus of sentences whose words have known relations, for word embeddings (chapter 00).

Word vectors are judged by what they know: is "queen" to "king" what "woman" is to "man"? On real
text the answers come from a hand-made list (the word2vec paper's analogy questions). Here the
relations are built into the generator, so every question has a ground truth:

- gender: pairs such as king/queen and uncle/aunt;
- capital: country/capital pairs such as france/paris;
- plural: singular/plural pairs such as dog/dogs.

How the sentences carry the relations is the distributional hypothesis made literal. Both words of
a pair share a *topic* (a king and a queen both wear crowns in palaces); the side of the pair
decides a second set of contexts (he/his for the first word, she/her for the second; city words
for a capital, nation words for a country; one/is for a singular, many/are for a plural). A word's
contexts are then roughly "topic + side", and that sum is what makes king - man + woman land near
queen. The short stories of `corpus.py` are mixed in as everyday text around them.

Deterministic: the same seed gives the same sentences on every machine.
"""
from __future__ import annotations

import random
import re
from typing import NamedTuple

from .corpus import generate_stories

__all__ = ["RELATIONS", "AnalogyQuestion", "analogy_questions", "generate_relation_sentences",
           "tokenize_words"]

# first word, second word, topic words both share
GENDER = [
    ("king", "queen", ["crown", "throne", "palace", "kingdom", "royal"]),
    ("prince", "princess", ["castle", "heir", "young", "ball", "tower"]),
    ("man", "woman", ["street", "office", "works", "bus", "town"]),
    ("boy", "girl", ["school", "toys", "plays", "lessons", "playground"]),
    ("father", "mother", ["children", "family", "home", "cooks", "parents"]),
    ("son", "daughter", ["born", "baby", "grew", "cradle", "birthday"]),
    ("brother", "sister", ["sibling", "twin", "games", "shared", "bedroom"]),
    ("uncle", "aunt", ["visits", "cousins", "holiday", "presents", "relatives"]),
    ("husband", "wife", ["married", "wedding", "ring", "couple", "anniversary"]),
    ("actor", "actress", ["stage", "film", "theatre", "role", "audience"]),
    ("waiter", "waitress", ["restaurant", "tables", "menu", "tips", "cafe"]),
    ("monk", "nun", ["abbey", "prayer", "quiet", "chapel", "robes"]),
    ("grandfather", "grandmother", ["old", "stories", "garden", "grandchildren", "rocking"]),
    ("nephew", "niece", ["cousin", "relative", "visit", "family", "small"]),
]
GENDER_SIDES = (["he", "his", "him", "himself", "mr"], ["she", "her", "hers", "herself", "mrs"])

# country, capital, words both share (the people's adjective and two things the place is known for)
CAPITAL = [
    ("france", "paris", ["french", "wine", "cheese"]),
    ("germany", "berlin", ["german", "beer", "sausages"]),
    ("italy", "rome", ["italian", "pasta", "opera"]),
    ("spain", "madrid", ["spanish", "flamenco", "paella"]),
    ("japan", "tokyo", ["japanese", "sushi", "temples"]),
    ("china", "beijing", ["chinese", "tea", "dumplings"]),
    ("russia", "moscow", ["russian", "ballet", "winter"]),
    ("egypt", "cairo", ["egyptian", "pyramids", "desert"]),
    ("greece", "athens", ["greek", "olives", "ruins"]),
    ("canada", "ottawa", ["canadian", "maple", "hockey"]),
    ("kenya", "nairobi", ["kenyan", "safari", "coffee"]),
    ("peru", "lima", ["peruvian", "llamas", "andes"]),
    ("norway", "oslo", ["norwegian", "fjords", "salmon"]),
    ("poland", "warsaw", ["polish", "pierogi", "amber"]),
    ("portugal", "lisbon", ["portuguese", "fado", "tiles"]),
    ("austria", "vienna", ["austrian", "waltz", "pastry"]),
]
CAPITAL_SIDES = (["nation", "border", "government", "president", "population"],
                 ["city", "mayor", "streets", "metro", "downtown"])

# singular, plural, what both are seen with
PLURAL = [
    ("dog", "dogs", ["bone", "leash", "barking"]),
    ("cat", "cats", ["milk", "whiskers", "purring"]),
    ("bird", "birds", ["wings", "nest", "feathers"]),
    ("horse", "horses", ["hay", "saddle", "stable"]),
    ("apple", "apples", ["juicy", "orchard", "pie"]),
    ("car", "cars", ["engine", "road", "garage"]),
    ("house", "houses", ["roof", "walls", "chimney"]),
    ("tree", "trees", ["leaves", "branches", "bark"]),
    ("book", "books", ["pages", "library", "reading"]),
    ("boat", "boats", ["sails", "harbour", "lake"]),
    ("flower", "flowers", ["petals", "blooming", "vase"]),
    ("shoe", "shoes", ["laces", "feet", "walking"]),
    ("cup", "cups", ["tea", "saucer", "handle"]),
    ("chair", "chairs", ["sitting", "wooden", "legs"]),
]
PLURAL_SIDES = (["one", "this", "is", "was", "single"], ["many", "these", "are", "were", "several"])

# relation -> (pairs, the two sides' context words)
RELATIONS = {"gender": (GENDER, GENDER_SIDES), "capital": (CAPITAL, CAPITAL_SIDES), "plural": (PLURAL, PLURAL_SIDES)}

# Sentence shapes: {w} the word, {t1} {t2} two of its pair's topic words, {s1} {s2} two of its side's words.
TEMPLATES = [
    "{s1} {w} saw the {t1} and {s2} {t2}",
    "the {w} and {s1} {t1} came near the {t2} {s2}",
    "{s1} said the {w} liked the {t1} of {s2} {t2}",
    "near the {t1} {s1} {w} found {s2} {t2}",
    "people talked about the {w} {s1} {t1} and {t2} {s2}",
]


def tokenize_words(text: str) -> list[str]:
    """Lower-cased words; punctuation is dropped (word vectors need words, not commas)."""
    return re.findall(r"[a-z]+", text.lower())


def _sentence(rng: random.Random, word: str, topic: list[str], side: list[str]) -> list[str]:
    t1, t2 = rng.sample(topic, 2)
    s1, s2 = rng.sample(side, 2)
    return rng.choice(TEMPLATES).format(w=word, t1=t1, t2=t2, s1=s1, s2=s2).split()


def generate_relation_sentences(sentences_per_word: int = 60, stories: int = 150,
                                seed: int = 0) -> list[list[str]]:
    """Sentences (lists of lower-case words): `sentences_per_word` for each word of every relation
    pair, and the sentences of `stories` short stories from corpus.py, shuffled together."""
    if sentences_per_word < 1:
        raise ValueError(f"sentences_per_word must be >= 1, got {sentences_per_word}")
    rng = random.Random(seed)
    sentences = []
    for pairs, sides in RELATIONS.values():
        for pair in pairs:
            first, second, topic = pair
            for word, side in ((first, sides[0]), (second, sides[1])):
                sentences += [_sentence(rng, word, topic, side) for _ in range(sentences_per_word)]
    if stories:
        text = generate_stories(stories, seed=seed)
        sentences += [words for line in re.split(r"[.!?\n]+", text) if len(words := tokenize_words(line)) > 1]
    rng.shuffle(sentences)
    return sentences


class AnalogyQuestion(NamedTuple):
    """a is to b as c is to d (king : queen :: man : woman)."""
    relation: str
    a: str
    b: str
    c: str
    d: str


def analogy_questions(relations: list[str] | None = None) -> list[AnalogyQuestion]:
    """Every ordered pair of different pairs within each relation, e.g. (king, queen, man, woman)."""
    questions = []
    for name in relations or list(RELATIONS):
        pairs = RELATIONS[name][0]
        questions += [AnalogyQuestion(name, a, b, c, d)
                      for a, b, _ in pairs for c, d, _ in pairs if a != c]
    return questions
