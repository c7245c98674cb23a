"""Instructions with exact answers about small generated worlds (chapter 9).

An assistant is a language model fine-tuned on (instruction, response) pairs.
Real instruction data is written by people and its answers can only be judged
by people or other models; here every instruction is about a tiny world made
up on the spot, so every answer is known exactly and a model's reply is simply
right or wrong:

    Kate went to the harbour and Ben went to the zoo. At the zoo, Ben found a
    shiny drum. Kate found a map at the harbour. Kate had 3 shells, and Ben
    gave her 2 more. Ben got home after Kate.
    How many shells does Kate have now?                 -> 5

Five tasks: who found an object, where someone went, how many things someone
has after a gift (one addition), who got home first ("before" and "after"
both occur, so the order of the names alone does not tell), and writing a
date in ISO form (chapter 2's task, as an instruction). Each task has several
question templates; one per task is **held out**: it never occurs in training
and tests whether the model learned the task or only its phrasings.

Everything is deterministic in the seed; the splits never share a story.
"""
from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass
from typing import Sequence

from .corpus import HEROES, HEROINES, OBJECTS, PLACES
from .dates import FORMATS, MAX_DATE, MIN_DATE, format_date, to_iso

__all__ = ["Instruction", "TASKS", "TEMPLATES", "HELD_OUT_TEMPLATES", "ANSWER_FORMS", "generate_world",
           "generate_instructions", "instruction_splits"]

TASKS = ("who", "where", "count", "first", "date")

# One question per line; the last template of each task is held out of training.
TEMPLATES: dict[str, list[str]] = {
    "who": ["Who found the {obj}?", "Which child found the {obj}?", "Who was it that found the {obj}?",
            "Name the one who found the {obj}."],
    "where": ["Where did {name} go?", "Which place did {name} go to?", "Where was {name}?",
              "Tell me where {name} went."],
    "count": ["How many {things} does {name} have now?", "How many {things} has {name} got now?",
              "What number of {things} does {name} have now?", "Count the {things} that {name} has now."],
    "first": ["Who got home first?", "Which of them got home first?", "Who was home first?",
              "Who was the first to get home?"],
    "date": ["Write {date} as an ISO date.", "Convert {date} to ISO form.", "What is {date} in ISO form?",
             "Give {date} as year-month-day."],
}
HELD_OUT_TEMPLATES: dict[str, str] = {task: templates[-1] for task, templates in TEMPLATES.items()}

# The form of each task's answer, whatever the question's wording. Answers
# about the story are short sentences that restate the question: the model can
# then copy a phrase it has read ("Kate went to" ... " the harbour") instead
# of producing the one word cold. Dates are the bare ISO date.
ANSWER_FORMS: dict[str, str] = {
    "who": r"The (?P<obj>.+) was found by (?P<name>.+)\.",
    "where": r"(?P<name>.+) went to (?P<place>.+)\.",
    "count": r"(?P<name>.+) has (?P<number>\d+) (?P<things>.+) now\.",
    "first": r"(?P<name>.+) got home first\.",
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

    task: one of TASKS; template: the question's template (held_out says
    whether it is one of HELD_OUT_TEMPLATES); prompt: what the user writes
    (the story, if any, then the question); answer: the exact response.
    """

    task: str
    template: str
    prompt: str
    answer: str
    held_out: bool = False


def _pronouns(name: str) -> tuple[str, str]:
    return ("she", "her") if name in HEROINES else ("he", "him")


def _with_article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[0] in "aeiou" else "a ") + noun_phrase


def generate_world(rng: random.Random) -> tuple[str, dict]:
    """A short story and the facts it states: (story, facts)."""
    a, b = rng.sample(HEROINES + HEROES, 2)
    place_a, place_b = rng.sample(PLACES, 2)
    obj_a, obj_b = rng.sample(OBJECT_NAMES, 2)
    things = rng.choice(THINGS)
    holder, giver = (a, b) if rng.random() < 0.5 else (b, a)
    have, more = rng.randint(1, 5), rng.randint(1, 4)
    first, second = (a, b) if rng.random() < 0.5 else (b, a)

    def found(name: str, obj: str, place: str) -> str:
        what = _with_article(f"{rng.choice(ADJECTIVES)} {obj}" if rng.random() < 0.5 else obj)
        if rng.random() < 0.5:
            return f"At {place}, {what} was found by {name}."
        return f"{what[0].upper()}{what[1:]} was found by {name} at {place}."

    went = [f"{a} went to {place_a}", f"{b} went to {place_b}"]
    rng.shuffle(went)
    finds = [found(a, obj_a, place_a), found(b, obj_b, place_b)]
    rng.shuffle(finds)
    gift = f"{holder} had {have} {things}, and {giver} gave {_pronouns(holder)[1]} {more} more."
    home = f"{first} got home before {second}." if rng.random() < 0.5 else f"{second} got home after {first}."
    story = " ".join([f"{went[0]} and {went[1]}.", *finds, gift, home])
    facts = {"found": {obj_a: a, obj_b: b}, "went": {a: place_a, b: place_b}, "things": things,
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
        return f"{story}\n{template}", f"{facts['first']} got home first."
    if task == "date":
        day = MIN_DATE + _dt.timedelta(days=rng.randint(0, (MAX_DATE - MIN_DATE).days))
        return template.format(date=format_date(day, rng.choice(DATE_FORMATS))), to_iso(day)
    raise ValueError(f"unknown task {task!r}; choose from {TASKS}")


def generate_instructions(n: int, seed: int = 0, held_out: bool = False,
                          tasks: Sequence[str] = TASKS, exclude: set[str] | frozenset = frozenset()
                          ) -> list[Instruction]:
    """`n` instructions, the tasks in turn, each on a fresh world.

    held_out: use only the held-out template of each task (default: only the
        others, the ones training may see).
    exclude: prompts not to produce (another split's), so splits never share
        a story or a date question.
    """
    for task in tasks:
        if task not in TEMPLATES:
            raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    rng = random.Random(seed)
    seen = set(exclude)
    out: list[Instruction] = []
    while len(out) < n:
        task = tasks[len(out) % len(tasks)]
        templates = [HELD_OUT_TEMPLATES[task]] if held_out else TEMPLATES[task][:-1]
        template = rng.choice(templates)
        story, facts = generate_world(rng)
        prompt, answer = _question(task, template, story, facts, rng)
        # a story asked about twice would let training see a test answer
        key = story if task != "date" else prompt
        if key in seen:
            continue
        seen.add(key)
        out.append(Instruction(task, template, prompt, answer, held_out))
    return out


def instruction_splits(n_train: int = 3000, n_val: int = 250, n_test: int = 500, n_unseen: int = 250,
                       seed: int = 0) -> dict[str, list[Instruction]]:
    """train / val / test on the training templates, and "unseen" on the held-out ones.

    No two splits share a story (or, for dates, a question): each split is
    generated with the stories of the ones before it excluded.
    """
    splits: dict[str, list[Instruction]] = {}
    used: set[str] = set()
    for offset, (name, n, held_out) in enumerate([("train", n_train, False), ("val", n_val, False),
                                                  ("test", n_test, False), ("unseen", n_unseen, True)]):
        splits[name] = generate_instructions(n, seed=seed * 10 + offset, held_out=held_out, exclude=frozenset(used))
        used |= {_story_of(x) for x in splits[name]}
    return splits


def _story_of(x: Instruction) -> str:
    return x.prompt.rsplit("\n", 1)[0] if x.task != "date" else x.prompt


assert set(DATE_FORMATS) <= set(FORMATS)
