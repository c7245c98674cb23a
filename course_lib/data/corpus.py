"""A generated corpus of short English-like stories, for character-level LMs.

The stories come from a small hand-written grammar: a main character with a
name and pronouns, a friend, places, objects, simple past-tense sentences and
some dialogue. That gives a character-level model structure to find at every
scale: spelling, frequent words, sentence shapes, quotes that open and close,
and names that repeat within a story (so remembering the story so far pays).

No downloads: the same seed always gives the same text, on every machine.
"""
from __future__ import annotations

import random

__all__ = ["generate_stories", "split_text", "STORY_SEPARATOR"]

STORY_SEPARATOR = "\n\n"

HEROINES = ["Anna", "Clara", "Emma", "Grace", "Iris", "Lily", "Nora", "Rosa", "Mia", "Ella", "Lucy", "Zoe",
            "Ada", "Bella", "Daisy", "Julia", "Kate", "Maya", "Olivia", "Ruby", "Sofia", "Vera"]
HEROES = ["Ben", "Daniel", "Felix", "Hugo", "Jack", "Leo", "Max", "Oscar", "Sam", "Tom", "Finn", "Noah",
          "Adam", "Charlie", "Eric", "George", "Ivan", "Kevin", "Oliver", "Peter", "Ryan", "Walter"]
SHE = ("she", "her", "her")  # subject, object, possessive
HE = ("he", "him", "his")

KINDS = ["girl", "boy", "little fox", "young bear", "small mouse", "brave rabbit", "clever cat", "little duck",
         "old dog", "tiny hedgehog", "young goat", "busy beaver"]
TRAITS = ["kind", "curious", "quiet", "cheerful", "brave", "clever", "shy", "busy", "honest", "old", "lazy", "funny"]
HOMES = [
    "a small house by the river", "a village near the hills", "a tall tree in the forest",
    "a farm at the edge of the town", "a blue boat on the lake", "a cottage with a red door",
    "a busy street in the city", "a little hut by the sea",
]
PLACES = ["the market", "the park", "the forest", "the river", "the beach", "the old mill", "the garden",
          "the library", "the hill", "the meadow", "the village square", "the lighthouse", "the orchard",
          "the harbour", "the zoo"]
LANDMARKS = ["bridge", "big rock", "old tree", "pond", "fence", "well", "gate", "stone wall", "windmill",
             "fountain", "haystack", "apple tree"]
HIDING = ["table", "bed", "bench", "basket", "chair", "stairs", "door", "box", "sofa", "carpet"]
OBJECTS = ["ball", "kite", "hat", "book", "lamp", "key", "drum", "map", "scarf", "shell", "cup", "bell",
           "whistle", "umbrella", "puzzle", "lantern", "toy boat", "blanket", "flute", "compass"]
COLOURS = ["red", "blue", "green", "yellow", "little", "old", "shiny", "new", "soft", "tiny", "purple",
           "golden", "wooden", "striped", "heavy", "orange"]
FOODS = ["apple pie", "bread", "soup", "cake", "cookies", "pancakes", "berry jam", "lemonade", "muffins"]
INGREDIENTS = ["flour", "sugar", "milk", "butter", "eggs", "apples", "honey", "salt", "berries", "lemons"]
RELATIVES = ["mother", "father", "grandmother", "grandfather", "aunt", "uncle", "big sister", "big brother"]
ANIMALS = [("owl", "nest"), ("frog", "pond"), ("bird", "nest"), ("hedgehog", "burrow"),
           ("squirrel", "tree"), ("turtle", "river"), ("deer", "glade"), ("goat", "barn"),
           ("puppy", "kennel"), ("lamb", "field"), ("kitten", "basket")]
FEELINGS = ["sad", "lost", "scared", "tired", "worried", "cold", "hungry", "lonely"]
TIMES = ["One day", "One morning", "One evening", "Early one morning", "After lunch", "Later that week",
         "On a sunny afternoon", "Last summer", "One winter morning"]
WEATHER = [
    "The sun was warm and the sky was blue.", "It began to rain.", "The wind was cold.",
    "Snow fell softly on the hills.", "Dark clouds moved over the town.", "It was a bright and windy day.",
    "The air smelled of flowers.", "Fog lay over the fields.",
]
# Sentences that can follow almost any other, drawn now and then for variety.
ASIDES = [
    "A dog barked somewhere far away.", "The birds were singing in the trees.", "Everything was very quiet.",
    "{P} hummed a little song.", "{N} felt a bit hungry.", "A butterfly flew past.", "The grass was still wet.",
    "{N} smiled.", "{P} was not sure what to do.", "The church bell rang twice.", "{Weather}",
    "{N} thought about {s} {relative}.", "It was getting late.", "Nobody else was there.",
]

# Each plot is a list of steps; each step lists alternative sentences and one
# is drawn per story. "" makes a step optional. Slots: {N} hero, {P}/{p}
# pronoun, {o} object pronoun, {s} possessive; {F}, {FP}, {Fp}, {Fs} for the
# friend; {obj}, {adj}, {place}, ... are drawn once per story, so a story stays
# about the same red kite from start to end.
INTRO = [
    ["Once upon a time, there was {a_trait} {kind} named {N}.",
     "{N} was {a_trait} {kind} who lived in {home}.",
     "There once was {a_kind} called {N}, and {p} lived in {home}."],
]
PLOTS = {
    "lost": [
        ["{P} had {a_adj} {obj} that {p} loved very much.", "{N} had {a_adj} {obj}.",
         "{N}'s favourite thing was {a_adj} {obj}."],
        ["{Time}, {N} took the {obj} to {place}.", "{Time}, {N} went to {place} with {s} {obj}."],
        ["", "{P} played there until the sun went down.", "{Weather}"],
        ["When {p} came home, the {obj} was gone!", "On the way home, {N} saw that the {obj} was gone!"],
        ['"Where is my {obj}?" {N} asked.', '"Oh no, I lost my {obj}!" cried {N}.',
         '"Has anyone seen my {obj}?" asked {N}.'],
        ["{P} ran to see {s} friend {F}.", "{N} went to find {F}. {FP} was at home with {Fs} dog."],
        ['{F} said, "Do not worry, {N}. We will find it."', '"I will help you," said {F}.',
         '"Let us look near the {landmark}," said {F}.'],
        ["They looked under the {hiding} and behind the {landmark}.", "They looked everywhere, but they could not find it."],
        ["At last, {F} found the {obj} near the {landmark}.", "Then {N} saw the {obj} by the {landmark}!"],
        ['"Thank you, {F}!" said {N}.', '"You are the best friend, {F}," said {N}.', ""],
        ["{N} was very happy, and {p} never lost {s} {obj} again.",
         "That night, {N} slept with the {obj} beside {o}.", "{N} and {F} played with the {obj} until dinner."],
    ],
    "gift": [
        ["{Time}, {N} wanted to make {food} for {s} friend {F}.", "{N} knew that {F} loved {food}."],
        ["{P} asked {s} {relative} for help.", "{N} went to the kitchen to find {s} {relative}."],
        ['"What do we need?" asked {N}.', '"Can you help me make {food}?" asked {N}.'],
        ['"Some {ing1} and a little {ing2}," said {s} {relative}.',
         '"Of course," said {s} {relative}. "First we need {ing1}."'],
        ["They worked all morning, and the {food} smelled wonderful.", "Soon the {food} was ready."],
        ["Then {N} walked to {F}'s house with the {food} in a basket.", "{N} carried the {food} to {F}'s house."],
        ["", "{Weather}"],
        ['"This is for you," said {N}.', '"Surprise!" said {N}. "I made {food} for you."'],
        ['{F} smiled. "You are a good friend, {N}!"', '"Thank you, {N}!" said {F}. "It is my favourite."'],
        ["{N} and {F} ate the {food} together.", "They shared the {food} and laughed all afternoon."],
    ],
    "animal": [
        ["{Time}, {N} went for a walk in {place}.", "{Time}, {N} walked to {place} to look for flowers."],
        ["{P} saw {a_animal} sitting by the {landmark}.", "Near the {landmark}, {p} met {a_animal}."],
        ["The {animal} looked {feeling}.", "The little {animal} was {feeling} and alone."],
        ['"Why are you {feeling}?" asked {N}.', '"What is wrong?" asked {N}.'],
        ['"I cannot find my way home," said the {animal}.', '"I lost my way to the {animal_home}," said the {animal}.'],
        ["{N} was not afraid. {P} knew the way.", '"Come with me," said {N}. "I know the way."'],
        ["{P} took the {animal} across the {landmark} and over the hill.", "They walked together past the {landmark}."],
        ["Soon they saw the {animal}'s {animal_home}.", "At last they came to the {animal_home}."],
        ['"Thank you!" said the {animal}. "You are very kind."', "The {animal} was so happy that it sang a song."],
        ["{N} waved goodbye and walked home, feeling proud.", "{N} walked home and told {s} {relative} everything."],
    ],
    "race": [
        ["{N} and {F} were best friends.", "{N} had a friend named {F}."],
        ["Every day, they played with {s} {obj} in {place}.", "They liked to play in {place}."],
        ['{Time}, {F} said, "Let us have a race to the {landmark}!"', '"I can run faster than you," said {F}.'],
        ['"Ready, set, go!" shouted {N}.', '"All right," said {N}. "Let us see!"'],
        ["{N} ran fast, but {F} ran faster. {FP} won the race!", "{F} ran fast, but {N} ran faster. {P} won the race!"],
        ["", "{Weather}"],
        ["They both laughed when they reached the {landmark}.", "At the {landmark}, they sat down to rest."],
        ['"That was fun!" said {F}. "Can we do it again tomorrow?"', '"You are so fast!" said {N}.'],
        ["Then it began to rain, so they ran home.", "In the evening, they walked home together."],
        ["{N} didn't mind the rain, because {p} had a good friend.", "{N} was tired, but {p} was happy."],
    ],
    "market": [
        ["{Time}, {N} went to the market with {s} {relative}.", "{Time}, {N} walked to the market alone."],
        ["{P} wanted to buy {a_adj} {obj}.", "At one stall, {N} saw {a_adj} {obj}."],
        ['"How much is the {obj}?" asked {N}.', '"Can I have that {obj}, please?" asked {N}.'],
        ['"Three coins," said the old shopkeeper.', '"Five coins, my dear," said the shopkeeper.'],
        ["{N} counted {s} coins. {P} had only two!", "{N} looked in {s} pocket, but it was empty."],
        ["{P} helped the shopkeeper carry heavy boxes all afternoon.", "So {N} offered to sweep the shop."],
        ['"Thank you for your help," said the shopkeeper. "The {obj} is yours."',
         '"You worked hard," said the shopkeeper, and gave {o} the {obj}.'],
        ["{N} ran home to show {F} the {obj}.", "{N} could not stop smiling all the way home."],
        ['"It is beautiful!" said {F}.', '"Where did you get that?" asked {F}.', ""],
    ],
    "storm": [
        ["{Time}, {N} and {F} were playing near the {landmark}.", "{N} and {F} went to {place} to play."],
        ["Suddenly, the sky grew dark and the wind began to howl.", "Then big drops of rain began to fall."],
        ['"A storm is coming!" shouted {F}.', '"We must find a dry place!" cried {N}.'],
        ["They ran to the old barn, but the door was locked.", "They hid behind the {landmark}."],
        ["{N} was scared, but {p} did not cry.", "{F} held {N}'s hand, and {N} felt brave again.",
         "{FP} told {N} a funny story to pass the time."],
        ["Soon the rain stopped and the sun came out again.", "After a while, the wind grew calm."],
        ['"Look!" said {N}. "A rainbow!"', "There was a bright rainbow over the hills."],
        ["They walked home, wet but happy.", "{N} and {F} laughed all the way home."],
    ],
}


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _cast(rng: random.Random) -> dict[str, str]:
    """Draw the people, places and things of one story."""
    hero_is_she = rng.random() < 0.5
    names = HEROINES if hero_is_she else HEROES
    name = rng.choice(names)
    p, o, s = SHE if hero_is_she else HE
    friend_is_she = rng.random() < 0.5
    friend = rng.choice([n for n in (HEROINES if friend_is_she else HEROES) if n != name])
    fp, _, fs = SHE if friend_is_she else HE
    kind = rng.choice(KINDS)
    if kind in ("girl", "boy"):
        # keep the pronoun and the noun in agreement
        kind = "girl" if hero_is_she else "boy"
    animal, animal_home = rng.choice(ANIMALS)
    adj, trait = rng.choice(COLOURS), rng.choice(TRAITS)
    ing1, ing2 = rng.sample(INGREDIENTS, 2)
    return dict(
        N=name, P=p.capitalize(), p=p, o=o, s=s,
        F=friend, FP=fp.capitalize(), Fp=fp, Fs=fs,
        kind=kind, a_kind=_a(kind), a_trait=_a(trait), home=rng.choice(HOMES), place=rng.choice(PLACES),
        landmark=rng.choice(LANDMARKS), hiding=rng.choice(HIDING),
        obj=rng.choice(OBJECTS), adj=adj, a_adj=_a(adj),
        animal=animal, a_animal=_a(animal), animal_home=animal_home, feeling=rng.choice(FEELINGS),
        food=rng.choice(FOODS), ing1=ing1, ing2=ing2, relative=rng.choice(RELATIVES),
        Time=rng.choice(TIMES), Weather=rng.choice(WEATHER),
    )


def _story(rng: random.Random) -> str:
    cast = _cast(rng)
    plot = PLOTS[rng.choice(sorted(PLOTS))]
    sentences = []
    for step in INTRO + plot:
        sentence = rng.choice(step)
        if sentence:
            sentences.append(sentence.format(**cast))
        if rng.random() < 0.12:
            sentences.append(rng.choice(ASIDES).format(**cast))
    # Break the story into a few lines so newlines are part of what is learned.
    lines, line = [], []
    for sentence in sentences:
        line.append(sentence)
        if len(line) >= 3 or rng.random() < 0.25:
            lines.append(" ".join(line))
            line = []
    if line:
        lines.append(" ".join(line))
    return "\n".join(lines)


def generate_stories(num_stories: int, seed: int = 0) -> str:
    """`num_stories` short stories separated by a blank line (about 500 characters each).

    Deterministic: uses only its own random.Random(seed), never the global RNG.
    The characters used are letters, space, newline and . , ' " ! ?
    """
    if num_stories < 1:
        raise ValueError(f"num_stories must be >= 1, got {num_stories}")
    rng = random.Random(seed)
    return STORY_SEPARATOR.join(_story(rng) for _ in range(num_stories)) + "\n"


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Split on story boundaries (blank lines): the last stories become validation.

    Splitting between stories rather than mid-story keeps the validation text
    a fair test: no story is half-seen during training.
    Returns (train, val); both end with a newline.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    stories = [s for s in text.strip("\n").split(STORY_SEPARATOR) if s.strip()]
    if len(stories) < 2:
        raise ValueError(
            f"need at least 2 stories (paragraphs separated by a blank line) to split, found {len(stories)}"
        )
    n_val = min(max(1, round(len(stories) * val_fraction)), len(stories) - 1)
    train, val = stories[:-n_val], stories[-n_val:]
    return STORY_SEPARATOR.join(train) + "\n", STORY_SEPARATOR.join(val) + "\n"
