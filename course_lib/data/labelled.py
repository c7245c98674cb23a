"""Labelled sentences whose sentiment needs context, and unlabelled text to pretrain on.

Each labelled sentence says whether something was liked (label 1, positive) or
not (label 0, negative), in the world of the story corpus (``corpus.py``): its
names, foods, things and places. Most labels need more than one word:

    plain      "the soup was wonderful ."                                       -> positive
    negation   "the soup was not bad ."                                         -> positive
    but        "oscar disliked the picnic but the game was excellent ."          -> positive (after "but")
    although   "although the lamp was really lovely , the party was not splendid ." -> negative (main clause)

In "but" and "although" sentences the two clauses always disagree, so counting
good and bad words gives a coin flip: the model must know which clause decides
and whether a "not" turns it around. There are 16 positive and 16 negative
adjectives, so a few hundred examples show each one only a handful of times,
mostly inside constructions that hide its meaning: trained from scratch on
them, a model memorises sentences instead of learning the words.

``generate_opinion_stories`` writes *unlabelled* text for pretraining: short
visits in which a character gives simple opinions and reacts to each one
("the soup was wonderful . anna smiled ."), and a visit keeps one mood. Nothing
in it says "positive", but a masked language model that must fill in
"anna [MASK] ." or "the soup was [MASK] ." learns which words go together:
that "wonderful" and "lovely" behave alike and unlike "awful". Fine-tuning then
only has to teach what "not", "but" and "although" do to them. (Pretraining text
with many negations and contrasts taught the words more slowly: when an
adjective comes with a smile only half the time, the link is hard to see.)

Everything is deterministic: the same seed gives the same data on every machine.
"""
from __future__ import annotations

import random
from typing import Iterable, NamedTuple

from .corpus import HEROES, HEROINES, PLACES, RELATIVES, STORY_SEPARATOR, TIMES

__all__ = [
    "LABELS",
    "KINDS",
    "LabelledSentence",
    "generate_labelled_sentences",
    "labelled_splits",
    "generate_opinion_stories",
    "accuracy_by_kind",
]

LABELS = ("negative", "positive")  # label 0, label 1
KINDS = ("plain", "negation", "but", "although")

# Adjectives any thing can have. Many of each polarity, so that a small
# labelled set cannot show each one often: knowing them has to come from
# somewhere else (pretraining).
POSITIVE = ["good", "nice", "wonderful", "lovely", "great", "beautiful", "fun", "perfect", "amazing",
            "pleasant", "excellent", "fine", "splendid", "brilliant", "fantastic", "charming"]
NEGATIVE = ["bad", "awful", "terrible", "horrible", "ugly", "boring", "dull", "nasty", "dreadful", "poor",
            "gloomy", "miserable", "rotten", "useless", "disappointing", "messy"]
INTENSIFIERS = ["very", "really", "quite", "so", "truly"]
# Verbs of liking: "anna loved the kite" / "anna did not enjoy the kite".
LIKE = ["liked", "loved", "enjoyed"]
LIKE_BASE = {"liked": "like", "loved": "love", "enjoyed": "enjoy"}
DISLIKE = ["hated", "disliked"]

# Things to have an opinion about: foods and objects of the stories, and a few more.
THINGS = ["soup", "bread", "cake", "pie", "jam", "lemonade", "kite", "hat", "book", "lamp", "drum", "map",
          "scarf", "cup", "bell", "umbrella", "puzzle", "lantern", "blanket", "flute", "story", "song", "game",
          "room", "view", "weather", "music", "garden", "house", "picnic", "party", "trip", "walk", "show", "tea"]
VENUES = PLACES  # "the market", ...
NAMES = HEROINES + HEROES

# Reactions that follow an opinion in the unlabelled stories ({N}: who reacts).
# One word in a fixed place carries the sentiment, so a masked language model
# soon learns to read it off the opinion before it (with many different
# reactions it learns the same, but several times more slowly).
REACTIONS = {
    1: ["{N} smiled .", "{N} laughed ."],
    0: ["{N} frowned .", "{N} sighed ."],
}
# How often each of the KINDS occurs in the unlabelled text (see generate_opinion_stories).
OPINION_KIND_WEIGHTS = (1.0, 0.0, 0.0, 0.0)
OPINIONS_PER_VISIT = (2, 3, 3, 4)
MOOD_AGREEMENT = 0.95  # share of a visit's opinions that share its mood
CLOSINGS = {
    1: ["it was a happy day .", "it was a lovely day .", "what a good day !", "everyone had fun ."],
    0: ["it was a sad day .", "it was a bad day .", "what a long day !", "nobody had fun ."],
}


class LabelledSentence(NamedTuple):
    text: str  # lower case, tokens separated by spaces, ends with " ."
    label: int  # 0 = negative, 1 = positive
    kind: str  # one of KINDS: which construction decides the label


# --------------------------------------------------------------------------- the grammar


def _clause(rng: random.Random, polarity: int, negate: bool, thing: str, name: str) -> str:
    """A clause about `thing` with the given polarity; `negate` puts a "not" in it
    (and picks words of the opposite polarity, so that the "not" is what makes it right)."""
    word_polarity = 1 - polarity if negate else polarity
    if rng.random() < 0.7:  # "the soup was (not) (very) good"
        adj = rng.choice(POSITIVE if word_polarity == 1 else NEGATIVE)
        # "not very bad" is only mildly bad, not good: no intensifier after "not" with a negative word
        can_intensify = not (negate and word_polarity == 0)
        intens = rng.choice(INTENSIFIERS) + " " if can_intensify and rng.random() < 0.35 else ""
        return f"the {thing} was {'not ' if negate else ''}{intens}{adj}"
    # "anna (did not) like(d) the soup"
    if negate:
        if word_polarity == 1:
            return f"{name} did not {LIKE_BASE[rng.choice(LIKE)]} the {thing}"
        return f"{name} did not mind the {thing}"
    return f"{name} {rng.choice(LIKE if polarity == 1 else DISLIKE)} the {thing}"


def _opener(rng: random.Random, name: str) -> str:
    """An optional neutral beginning: it adds words that do not change the label."""
    r = rng.random()
    if r < 0.15:
        return rng.choice(TIMES).lower() + " , "
    if r < 0.3:
        return f"at {rng.choice(VENUES)} , "
    if r < 0.4:
        return f"{name} said that "
    return ""


def _sentence(rng: random.Random, label: int, kind: str) -> str:
    name = rng.choice(NAMES).lower()
    t1, t2 = rng.sample(THINGS, 2)
    neg1, neg2 = rng.random() < 0.4, rng.random() < 0.4
    if kind == "plain":
        body = _clause(rng, label, False, t1, name)
    elif kind == "negation":
        body = _clause(rng, label, True, t1, name)
    elif kind == "but":  # the clause after "but" decides; the other one disagrees
        body = f"{_clause(rng, 1 - label, neg1, t1, name)} but {_clause(rng, label, neg2, t2, name)}"
    elif kind == "although":  # the main clause decides, wherever it stands
        other = _clause(rng, 1 - label, neg1, t1, name)
        main = _clause(rng, label, neg2, t2, name)
        body = f"although {other} , {main}" if rng.random() < 0.5 else f"{main} , although {other}"
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return _opener(rng, name) + body + " ."


def generate_labelled_sentences(
    num: int, seed: int = 0, kinds: Iterable[str] = KINDS, weights: Iterable[float] | None = None
) -> list[LabelledSentence]:
    """`num` labelled sentences (duplicates possible), half positive, half negative on average.

    kinds: the constructions to draw from; weights: their relative frequencies
    (default: plain 1, negation 1, but 1, although 1).
    Uses only its own random.Random(seed).
    """
    kinds = list(kinds)
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown kind {k!r}; choose from {KINDS}")
    weights = list(weights) if weights is not None else [1.0] * len(kinds)
    if len(weights) != len(kinds):
        raise ValueError(f"got {len(weights)} weights for {len(kinds)} kinds")
    rng = random.Random(seed)
    out = []
    for _ in range(num):
        label = rng.randrange(2)
        kind = rng.choices(kinds, weights)[0]
        out.append(LabelledSentence(_sentence(rng, label, kind), label, kind))
    return out


def labelled_splits(
    n_train: int = 400, n_val: int = 200, n_test: int = 1000, seed: int = 0
) -> dict[str, list[LabelledSentence]]:
    """Train/val/test sets of distinct sentences: no sentence is in two splits (or twice in one).

    Returns {"train": [...], "val": [...], "test": [...]}, each a list of
    LabelledSentence(text, label, kind). The same seed always gives the same splits.
    """
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n < 0:
            raise ValueError(f"{name} must be >= 0, got {n}")
    wanted = n_train + n_val + n_test
    rng_seed, seen, unique = seed, set(), []
    while len(unique) < wanted:  # draw in rounds until there are enough distinct sentences
        for ex in generate_labelled_sentences(2 * (wanted - len(unique)) + 10, seed=rng_seed):
            if ex.text not in seen:
                seen.add(ex.text)
                unique.append(ex)
                if len(unique) == wanted:
                    break
        rng_seed += 1_000_003
    return {"train": unique[:n_train], "val": unique[n_train:n_train + n_val], "test": unique[n_train + n_val:]}


# --------------------------------------------------------------------------- unlabelled text


def _visit(rng: random.Random, exclude: set[str], kind_weights: list[float]) -> str:
    name, friend = rng.sample(NAMES, 2)
    name_l = name.lower()
    s = "her" if name in HEROINES else "his"
    lines = [rng.choice([
        f"{rng.choice(TIMES).lower()} , {name_l} went to {rng.choice(VENUES)} with {s} {rng.choice(RELATIVES)} .",
        f"{name_l} and {friend.lower()} spent the day at {rng.choice(VENUES)} .",
        f"{name_l} visited {friend.lower()} .",
    ])]
    # A visit has a mood: most of its opinions agree with it. So a word's
    # neighbours in the same visit (other opinions, reactions, the closing line)
    # hint at its sentiment, the way words of one review hint at each other.
    mood = rng.randrange(2)
    for _ in range(rng.choice(OPINIONS_PER_VISIT)):
        label = mood if rng.random() < MOOD_AGREEMENT else 1 - mood
        for _attempt in range(20):  # never copy a sentence that is held out for testing
            sentence = _sentence(rng, label, rng.choices(KINDS, kind_weights)[0])
            if sentence not in exclude:
                break
        else:
            continue
        # The sentence speaks about {name}? Its reaction is {name}'s. Otherwise the
        # visitor reacts: either way, the reaction follows the sentence's sentiment.
        words = sentence.split()
        reactor = next((w for w in words if w.capitalize() in NAMES), name_l)
        possessive = "her" if reactor.capitalize() in HEROINES else "his"
        lines.append(sentence + " " + rng.choice(REACTIONS[label]).format(N=reactor, s=possessive))
    lines.append(rng.choice(CLOSINGS[mood]))
    return "\n".join(lines)


def generate_opinion_stories(
    num_stories: int, seed: int = 0, exclude: Iterable[str] = (), kind_weights: Iterable[float] = OPINION_KIND_WEIGHTS
) -> str:
    """Unlabelled text for pretraining: `num_stories` short visits, separated by a blank line.

    A visit starts with where someone went, then gives two to four opinions
    (sentences from the grammar of the labelled sets), each followed by a
    reaction that matches its sentiment, and ends with how the day felt. Most
    opinions of a visit share its mood (MOOD_AGREEMENT). Sentences in `exclude`
    (e.g. the labelled validation and test sets) are never used. Lower case,
    tokens separated by spaces.

    kind_weights: relative frequencies of the KINDS; the default is plain
    opinions only, which tie each adjective to its reaction directly. (With all
    kinds equally common an adjective predicts the reaction hardly better than
    chance, and the pretraining of course_lib.bert learned the words' sentiment
    too slowly to help.)
    """
    if num_stories < 1:
        raise ValueError(f"num_stories must be >= 1, got {num_stories}")
    kind_weights = list(kind_weights)
    if len(kind_weights) != len(KINDS):
        raise ValueError(f"kind_weights needs one weight per kind {KINDS}, got {kind_weights}")
    rng = random.Random(seed)
    exclude = set(exclude)
    return STORY_SEPARATOR.join(_visit(rng, exclude, kind_weights) for _ in range(num_stories)) + "\n"


def accuracy_by_kind(correct, examples) -> dict[str, float]:
    """{"all": accuracy, "plain": ..., "negation": ..., "but": ..., "although": ...}.

    correct: one truth value per example (a bool tensor, array or list); examples:
    the LabelledSentences they belong to. Kinds absent from `examples` are left out.
    """
    correct = [bool(c) for c in correct]
    if len(correct) != len(examples):
        raise ValueError(f"{len(correct)} truth values for {len(examples)} examples")
    result = {"all": sum(correct) / len(correct)}
    for kind in KINDS:
        of_kind = [c for c, ex in zip(correct, examples) if ex.kind == kind]
        if of_kind:
            result[kind] = sum(of_kind) / len(of_kind)
    return result
