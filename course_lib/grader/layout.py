"""Where things are: the course folder and its chapters.

`solutions/NN_topic/NN_topic.ipynb` is a chapter's nbgrader *source* (answers
and hidden tests), `notebooks/NN_topic/NN_topic.ipynb` its generated *release*
(docs/design.md, "Layout").
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .cells import Exercise, exercises_of, solution_sources, strip_solution_markers
from .notebooks import CourseError, read_notebook


def course_root(start: str | Path | None = None) -> Path:
    """The folder holding nbgrader_config.py and solutions/.

    Searched upwards from `start` (default: the working directory), then from
    this package's own location, so `course` works from any sub-folder of the
    clone and also when run from elsewhere with an editable install.
    """
    candidates = []
    here = Path(start or os.getcwd()).resolve()
    candidates.extend([here, *here.parents])
    package_parent = Path(__file__).resolve().parents[2]
    candidates.extend([package_parent, *package_parent.parents])
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise CourseError(
        "cannot find the course folder (one with nbgrader_config.py and solutions/): "
        "run this from inside your clone of the course"
    )


@dataclass
class Chapter:
    name: str  # "01_rnn"
    root: Path

    @property
    def number(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def source(self) -> Path:
        return self.root / "solutions" / self.name / f"{self.name}.ipynb"

    @property
    def release(self) -> Path:
        return self.root / "notebooks" / self.name / f"{self.name}.ipynb"

    def exercises(self) -> list[Exercise]:
        return exercises_of(read_notebook(self.source))

    @property
    def points(self) -> float:
        return sum(ex.points for ex in self.exercises())


def chapters(root: Path | None = None) -> list[Chapter]:
    root = root or course_root()
    found = []
    for folder in sorted((root / "solutions").iterdir()):
        if re.fullmatch(r"\d\d_[a-z0-9_]+", folder.name) and (folder / f"{folder.name}.ipynb").is_file():
            found.append(Chapter(folder.name, root))
    return found


def find_chapter(key: str, root: Path | None = None) -> Chapter:
    """Accept "1", "01", "01_rnn" or "rnn"."""
    all_chapters = chapters(root)
    key = key.strip()
    for chapter in all_chapters:
        topic = chapter.name.split("_", 1)[1]
        if key in (chapter.name, chapter.number, topic) or (key.isdigit() and int(key) == int(chapter.number)):
            return chapter
    names = ", ".join(c.name for c in all_chapters) or "none"
    raise CourseError(f"no chapter {key!r}; the chapters are: {names}")


def reference_answers(chapter: Chapter) -> dict[str, str]:
    return {k: strip_solution_markers(v) for k, v in solution_sources(read_notebook(chapter.source)).items()}
