"""Instructions with exact answers about small generated worlds (chapter 9).

An assistant is a language model fine-tuned on (instruction, response) pairs.
Real instruction data is written by people and its answers can only be judged
by people or other models; here every instruction is about a tiny world made
up on the spot, so every answer is known exactly and a model's reply is simply
right or wrong:

    Kate went to the harbour and Ben stayed at home. A shiny drum was found
    by Ben at home. Kate had 3 shells, and Ben gave her 2 more. Ben went to
    bed after Kate.
    How many shells does Kate have now?          -> Kate has 5 shells now.

Five tasks: who found an object, where someone went, how many things someone
has after a gift (one addition), who went to bed first ("before" and "after"
both occur, so the order of the names alone does not tell), and writing a
date in ISO form (chapter 2's task, as an instruction). Each task has several
question templates: three for supervised fine-tuning, one for the preference
data of DPO, and one **held out** of both, which tests whether the model
learned the task or only its phrasings.

Everything is deterministic in the seed; the splits never share a story.
"""
from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass
from typing import Sequence

from .corpus import HEROES, HEROINES, OBJECTS, PLACES
from .dates import FORMATS, MAX_DATE, MIN_DATE, format_date, to_iso

__all__ = ["Instruction", "TASKS", "TEMPLATES", "TRAINING_TEMPLATES", "PREFERENCE_TEMPLATES", "HELD_OUT_TEMPLATES",
           "ANSWER_FORMS", "generate_world", "generate_instructions", "instruction_splits"]

TASKS = ("who", "where", "count", "first", "date")

# Five wordings per task: three for supervised fine-tuning, one only for the
# preference data of DPO (prompts the fine-tuned model has not seen, as the
# prompts users send after fine-tuning are), and one held out of both.
TEMPLATES: dict[str, list[str]] = {
    "who": ["Who found the {obj}?", "Which child found the {obj}?", "Who was it that found the {obj}?",
            "Say who found the {obj}.", "Name the one who found the {obj}."],
    "where": ["Where did {name} go?", "Which place did {name} go to?", "Where was {name}?",
              "Where had {name} gone?", "Tell me where {name} went."],
    "count": ["How many {things} does {name} have now?", "How many {things} has {name} got now?",
              "What number of {things} does {name} have now?", "How many {things} does {name} own now?",
              "Count the {things} that {name} has now."],
    "first": ["Who went to bed first?", "Which of them went to bed first?", "Who was in bed first?",
              "Who got into bed first?", "Who was the first to go to bed?"],
    "date": ["Write {date} as an ISO date.", "Convert {date} to ISO form.", "What is {date} in ISO form?",
             "Please put {date} in ISO format.", "Give {date} as year-month-day."],
}
TRAINING_TEMPLATES: dict[str, list[str]] = {task: templates[:3] for task, templates in TEMPLATES.items()}
PREFERENCE_TEMPLATES: dict[str, str] = {task: templates[3] for task, templates in TEMPLATES.items()}
HELD_OUT_TEMPLATES: dict[str, str] = {task: templates[4] for task, templates in TEMPLATES.items()}
WORDINGS = {"training": TRAINING_TEMPLATES, "preference": PREFERENCE_TEMPLATES, "held-out": HELD_OUT_TEMPLATES}

# The form of each task's answer, whatever the question's wording. Answers
# about the story are short sentences that restate the question: the model can
# then copy a phrase it has read ("Kate went to" ... " the harbour") instead
# of producing the one word cold. Dates are the bare ISO date.
ANSWER_FORMS: dict[str, str] = {
    "who": r"The (?P<obj>.+) was found by (?P<name>.+)\.",
    "where": r"(?P<name>.+) went to (?P<place>.+)\.",
    "count": r"(?P<name>.+) has (?P<number>\d+) (?P<things>.+) now\.",
    "first": r"(?P<name>.+) went to bed first\.",
    "date": r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})",
}

# Countable things with regular plurals, for the addition task.
THINGS = ["apples", "shells", "coins", "cookies", "stones", "feathers", "marbles", "pencils", "buttons", "acorns"]
ADJECTIVES = ["red", "blue", "green", "shiny", "old", "new", "tiny", "wooden", "golden", "striped"]
# Three of chapter 2's formats that spell the month out or put the day first:
# enough variety to need reading, few enough for a 0.3M-parameter model to learn.
DATE_FORMATS = ("d month yyyy", "month dth, yyyy", "dd.mm.yyyy")
OBJECT_NAMES = [o for o in OBJECTS if " " not in o]


@dataclass(frozen=True)
class Instruction:
    """One instruction and its one right response.

    task: one of TASKS; template: the question's template; wording: which
    kind of template it is ("training", "preference" or "held-out"); prompt:
    what the user writes (the story, if any, then the question); answer: the
    exact response.
    """

    task: str
    template: str
    prompt: str
    answer: str
    wording: str = "training"


def _pronouns(name: str) -> tuple[str, str]:
    return ("she", "her") if name in HEROINES else ("he", "him")


def _with_article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[0] in "aeiou" else "a ") + noun_phrase


def generate_world(rng: random.Random) -> tuple[str, dict]:
    """A short story and the facts it states: (story, facts).

    Two children; one goes somewhere while the other stays at home, one of
    them finds something, one gives the other a few things, one goes to bed
    before the other. Each "who" and "where" question has one sentence that
    answers it; the other child is there to be confused with.
    """
    a, b = rng.sample(HEROINES + HEROES, 2)
    place = rng.choice(PLACES)
    obj = rng.choice(OBJECT_NAMES)
    things = rng.choice(THINGS)
    traveller, stayer = (a, b) if rng.random() < 0.5 else (b, a)
    finder = rng.choice([a, b])
    holder, giver = (a, b) if rng.random() < 0.5 else (b, a)
    have, more = rng.randint(1, 5), rng.randint(1, 4)
    first, second = (a, b) if rng.random() < 0.5 else (b, a)

    went = [f"{traveller} went to {place}", f"{stayer} stayed at home"]
    rng.shuffle(went)
    what = _with_article(f"{rng.choice(ADJECTIVES)} {obj}" if rng.random() < 0.5 else obj)
    where = place if finder == traveller else "home"
    if rng.random() < 0.5:
        found = f"At {where}, {what} was found by {finder}."
    else:
        found = f"{what[0].upper()}{what[1:]} was found by {finder} at {where}."
    gift = f"{holder} had {have} {things}, and {giver} gave {_pronouns(holder)[1]} {more} more."
    bed = f"{first} went to bed before {second}." if rng.random() < 0.5 else f"{second} went to bed after {first}."
    story = " ".join([f"{went[0]} and {went[1]}.", found, gift, bed])
    facts = {"found": {obj: finder}, "went": {traveller: place}, "things": things,
             "holder": holder, "total": have + more, "first": first}
    return story, facts


def _question(task: str, template: str, story: str, facts: dict, rng: random.Random) -> tuple[str, str]:
    """(prompt, answer) for one task on one world."""
    if task == "who":
        obj = rng.choice(sorted(facts["found"]))
        return f"{story}\n{template.format(obj=obj)}", f"The {obj} was found by {facts['found'][obj]}."
    if task == "where":
        name = rng.choice(sorted(facts["went"]))
        return f"{story}\n{template.format(name=name)}", f"{name} went to {facts['went'][name]}."
    if task == "count":
        holder = facts["holder"]
        question = template.format(things=facts["things"], name=holder)
        return f"{story}\n{question}", f"{holder} has {facts['total']} {facts['things']} now."
    if task == "first":
        return f"{story}\n{template}", f"{facts['first']} went to bed first."
    if task == "date":
        day = MIN_DATE + _dt.timedelta(days=rng.randint(0, (MAX_DATE - MIN_DATE).days))
        return template.format(date=format_date(day, rng.choice(DATE_FORMATS))), to_iso(day)
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def generate_instructions(n: int, seed: int = 0, wording: str = "training",
                          tasks: Sequence[str] = TASKS, exclude: set[str] | frozenset = frozenset()
                          ) -> list[Instruction]:
    """`n` instructions, the tasks in turn, each on a fresh world.

    wording: which templates to draw from: "training" (the three supervised
        fine-tuning sees), "preference" (DPO's) or "held-out" (neither's).
    exclude: prompts not to produce (another split's), so splits never share
        a story or a date question.
    """
    for task in tasks:
        if task not in TEMPLATES:
            raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    if wording not in WORDINGS:
        raise ValueError(f"unknown wording {wording!r}; choose from {sorted(WORDINGS)}")
    rng = random.Random(seed)
    seen = set(exclude)
    out: list[Instruction] = []
    while len(out) < n:
        task = tasks[len(out) % len(tasks)]
        templates = WORDINGS[wording][task]
        template = rng.choice(templates if isinstance(templates, list) else [templates])
        story, facts = generate_world(rng)
        prompt, answer = _question(task, template, story, facts, rng)
        # a story asked about twice would let training see a test answer
        key = story if task != "date" else prompt
        if key in seen:
            continue
        seen.add(key)
        out.append(Instruction(task, template, prompt, answer, wording))
    return out


def instruction_splits(n_train: int = 3000, n_val: int = 250, n_test: int = 500, n_unseen: int = 250,
                       n_preference: int = 1500, n_preference_test: int = 300, seed: int = 0
                       ) -> dict[str, list[Instruction]]:
    """The chapter's splits, none sharing a story (or, for dates, a question) with another.

    train / val / test: the training wordings (supervised fine-tuning and its
    evaluation); unseen: the held-out wordings; preference / preference_test:
    the preference wording, for DPO's pairs and for held-out pairs. Each split
    is generated with the stories of the ones before it excluded.
    """
    splits: dict[str, list[Instruction]] = {}
    used: set[str] = set()
    plan = [("train", n_train, "training"), ("val", n_val, "training"), ("test", n_test, "training"),
            ("unseen", n_unseen, "held-out"), ("preference", n_preference, "preference"),
            ("preference_test", n_preference_test, "preference")]
    for offset, (name, n, wording) in enumerate(plan):
        splits[name] = generate_instructions(n, seed=seed * 10 + offset, wording=wording, exclude=frozenset(used))
        used |= {_story_of(x) for x in splits[name]}
    return splits


def _story_of(x: Instruction) -> str:
    return x.prompt.rsplit("\n", 1)[0] if x.task != "date" else x.prompt


assert set(DATE_FORMATS) <= set(FORMATS)
