"""A chapter's manifest, `solutions/NN_topic/chapter.toml`: what the grader and the test suite know of it.

For each answer cell (by its nbgrader grade_id): the function or class the
learner writes there, its visible check in course_lib.checks, the library's
own version with the same signature (when there is one), the ready-made
names whose call is not an answer (the integrity report and the kernel's
trace flag them), and the hint each known wrong answer's failure must give.
For the chapter: the seconds its autograde test and its full-length notebook
take on one worker, which order the test suite (longest first).

The integrity report's ready-made names, the checks tests' tables and the
test suite's order are derived from these files; `problems` says what is
missing or names nothing that exists.
"""
from __future__ import annotations

import pkgutil
import re
import tomllib
from dataclasses import dataclass, field

from .cells import solution_sources
from .layout import Chapter, chapters
from .notebooks import CourseError, read_notebook

FILE_NAME = "chapter.toml"
SECONDS = ("autograde", "notebook")


@dataclass(frozen=True)
class Answer:
    grade_id: str  # the answer cell
    function: str  # what the learner defines in it
    check: str  # its visible check, a function of course_lib.checks
    ready_made: frozenset[str]  # names whose call stands in for the answer
    reference: str | None = None  # "course_lib.module.name": the library's own version, the learner's signature
    hints: dict[str, str] = field(default_factory=dict)  # wrong answer file's stem -> words its failure must say


@dataclass(frozen=True)
class Manifest:
    chapter: Chapter
    answers: dict[str, Answer]
    seconds: dict[str, int]


def path_of(chapter: Chapter):
    return chapter.source.parent / FILE_NAME


def load(chapter: Chapter) -> Manifest:
    """The chapter's manifest; a CourseError that names the file when it is missing or malformed."""
    path = path_of(chapter)
    if not path.is_file():
        raise CourseError(f"{chapter.name} has no manifest: {path} is missing (docs/design.md, \"Adding a chapter\")")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        answers = {}
        for grade_id, entry in data.get("answers", {}).items():
            unknown = set(entry) - {"function", "check", "reference", "ready_made", "hints"}
            missing = {"function", "check", "ready_made"} - set(entry)
            if unknown or missing:
                raise ValueError(f"answers.{grade_id}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
            answers[grade_id] = Answer(grade_id, entry["function"], entry["check"], frozenset(entry["ready_made"]),
                                       entry.get("reference"), dict(entry.get("hints", {})))
        seconds = {key: int(data["seconds"][key]) for key in SECONDS}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise CourseError(f"{path} is not a complete manifest ({type(error).__name__}: {error})") from None
    return Manifest(chapter, answers, seconds)


def ready_made_table(root=None) -> dict[str, frozenset[str]]:
    """answer cell grade_id -> its ready-made names, over every chapter of the course.

    Two chapters may have answer cells of one grade_id (02's and 03's `decoder_step`): the report
    tells answer cells apart by grade_id, so such a cell has the names of both.
    """
    table: dict[str, frozenset[str]] = {}
    for chapter in chapters(root):
        for grade_id, answer in load(chapter).answers.items():
            table[grade_id] = table.get(grade_id, frozenset()) | answer.ready_made
    return table


def problems(chapter: Chapter) -> list[str]:
    """What keeps the manifest from describing the chapter: one line per problem, none when it is complete."""
    try:
        manifest = load(chapter)
    except CourseError as error:
        return [str(error)]
    found = []
    reference = solution_sources(read_notebook(chapter.source))
    if set(manifest.answers) != set(reference):
        found.append(f"answer cells: the manifest names {sorted(manifest.answers)}, "
                     f"the notebook has {sorted(reference)}")
    from course_lib import checks

    for grade_id, answer in manifest.answers.items():
        source = reference.get(grade_id, "")
        if not re.search(rf"^(def|class)\s+{re.escape(answer.function)}\b", source, re.MULTILINE):
            found.append(f"{grade_id}: the reference answer defines no {answer.function!r}")
        if not callable(getattr(checks, answer.check, None)):
            found.append(f"{grade_id}: course_lib.checks has no check {answer.check!r}")
        if not answer.ready_made:
            found.append(f"{grade_id}: no ready-made names (the library's own version at least)")
        if answer.reference is not None:
            try:
                if not callable(pkgutil.resolve_name(answer.reference)):
                    found.append(f"{grade_id}: its reference {answer.reference} is not callable")
            except (ImportError, AttributeError, ValueError):
                found.append(f"{grade_id}: its reference {answer.reference} does not exist")
    return found
