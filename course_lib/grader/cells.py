"""nbgrader's cells: answer cells, test cells, and the exercises they make up.

An exercise is a test cell (its grade_id, its points) and the answer cells
above it; the title is the closest "Exercise ..." heading.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import nbformat

from .notebooks import CourseError

# What the release puts in place of a solution (nbgrader_config.py says the same).
CODE_STUB = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


@dataclass
class Exercise:
    """One graded test cell and the solution cells it grades."""

    grade_id: str  # the test cell's nbgrader grade_id
    title: str  # the closest "Exercise ..." heading above it
    points: float
    solution_ids: list[str] = field(default_factory=list)


def grade_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution_cell(cell) -> bool:
    return bool(grade_meta(cell).get("solution"))


def is_test_cell(cell) -> bool:
    meta = grade_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def exercises_of(nb) -> list[Exercise]:
    """Group solution cells with the test cell that follows them."""
    result: list[Exercise] = []
    title = None
    pending_solutions: list[str] = []
    for cell in nb.cells:
        meta = grade_meta(cell)
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = re.match(r"#+\s*(Exercise\b.*?)\s*(\(\d+ points?\))?$", line.strip())
                if match:
                    title = match.group(1).strip()
        if is_solution_cell(cell):
            pending_solutions.append(meta["grade_id"])
        elif is_test_cell(cell):
            result.append(
                Exercise(meta["grade_id"], title or meta["grade_id"], float(meta.get("points", 0)), pending_solutions)
            )
            pending_solutions = []
    return result


def solution_sources(nb) -> dict[str, str]:
    """grade_id -> source of every solution cell (the reference answers)."""
    return {grade_meta(c)["grade_id"]: c.source for c in nb.cells if is_solution_cell(c)}


def strip_solution_markers(source: str) -> str:
    """The reference answer as a learner would type it: no nbgrader marker lines."""
    keep = [line for line in source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "\n".join(keep)


def fill_answers(nb, answers: dict[str, str]):
    """A copy of `nb` with the given solution cells' sources replaced.

    This is how tests paste reference answers, mutants and alternative answers
    into a released notebook, exactly where a learner would type them.
    """
    filled = nbformat.from_dict(json.loads(json.dumps(nb)))
    seen = set()
    for cell in filled.cells:
        grade_id = grade_meta(cell).get("grade_id")
        if is_solution_cell(cell) and grade_id in answers:
            cell.source = answers[grade_id]
            seen.add(grade_id)
    missing = set(answers) - seen
    if missing:
        raise CourseError(f"no solution cell with grade_id {sorted(missing)} in the notebook")
    return filled
