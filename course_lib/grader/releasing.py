"""Releasing: student notebooks generated from the solutions by nbgrader, and what a release ships.

Instructors release with `course release` (= nbgrader generate_assignment in a
throw-away course); `course reset` and `course list` compare a learner's
answer cells with the shipped ones.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat

from .cells import CODE_STUB, solution_sources
from .commands import run_nbgrader
from .config import DEFAULT_CELL_TIMEOUT, write_course_config
from .layout import Chapter, chapters, course_root, find_chapter
from .manifest import FILE_NAME as MANIFEST_NAME
from .notebooks import NB_VERSION, CourseError, read_notebook, write_notebook


def pristine_release_text(chapter: Chapter) -> str:
    """The student notebook as shipped: from git HEAD in a clone, else regenerated."""
    relative = chapter.release.relative_to(chapter.root).as_posix()
    shown = subprocess.run(["git", "show", f"HEAD:{relative}"], cwd=chapter.root, capture_output=True, text=True)
    if shown.returncode == 0:
        return shown.stdout
    with tempfile.TemporaryDirectory(prefix="course-pristine-") as tmp:
        release(chapter.root, [chapter.name], output=Path(tmp))
        return (Path(tmp) / chapter.name / chapter.release.name).read_text()


def pristine_answers(chapter: Chapter) -> dict[str, str]:
    """grade_id -> the answer cell as shipped (the code stub and whatever the cell gives).

    From git HEAD in a clone; elsewhere (a downloaded copy) by nbgrader's own
    ClearSolutions step on the solution notebook, which is what writes these
    cells into the release (regenerating whole releases, as `course reset`
    must, takes seconds per chapter; this takes milliseconds).
    """
    relative = chapter.release.relative_to(chapter.root).as_posix()
    shown = subprocess.run(["git", "show", f"HEAD:{relative}"], cwd=chapter.root, capture_output=True, text=True)
    if shown.returncode == 0:
        return solution_sources(nbformat.reads(shown.stdout, as_version=NB_VERSION))
    from nbgrader.preprocessors import ClearSolutions

    released, _ = ClearSolutions(code_stub=CODE_STUB).preprocess(read_notebook(chapter.source), {"language": "python"})
    return solution_sources(released)


def edited_exercises(chapter: Chapter, learner_nb) -> list[str]:
    """grade_ids of answer cells the learner has changed from the shipped release."""
    shipped = pristine_answers(chapter)
    mine = solution_sources(learner_nb)
    return [gid for gid, src in mine.items() if src.strip() != shipped.get(gid, "").strip()]


def release(root: Path | None = None, names: list[str] | None = None, output: Path | None = None) -> list[Path]:
    """Regenerate student notebooks from solutions/ with nbgrader.

    `output` defaults to the course's notebooks/; tests pass a temporary folder
    to compare a fresh regeneration with what is committed.
    """
    root = root or course_root()
    selected = [find_chapter(n, root) for n in names] if names else chapters(root)
    output = Path(output) if output else root / "notebooks"
    written = []
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        course = Path(tmp)
        write_course_config(course, DEFAULT_CELL_TIMEOUT)
        for chapter in selected:
            shutil.copytree(chapter.source.parent, course / "source" / chapter.name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            done = run_nbgrader(["generate_assignment", chapter.name, "--force", "--no-db"], course)
            if done.returncode != 0:
                raise CourseError(f"nbgrader generate_assignment {chapter.name} failed: {done.stderr.strip()[-800:]}")
            produced = course / "release" / chapter.name
            target = output / chapter.name
            # Keep a learner's work: only the generated notebook and the chapter's
            # own files are replaced; anything else in the folder stays.
            target.mkdir(parents=True, exist_ok=True)
            for item in produced.iterdir():
                if item.name == MANIFEST_NAME:  # the grader's and the suite's, not the learner's
                    continue
                destination = target / item.name
                if item.is_dir():
                    shutil.copytree(item, destination, dirs_exist_ok=True)
                elif item.suffix == ".ipynb":
                    write_notebook(nbformat.read(str(item), as_version=NB_VERSION), destination)
                else:
                    shutil.copy2(item, destination)
                written.append(destination)
    return written


def execute_notebook(path: str | Path, fast: bool = False, cell_timeout: int = 600) -> float:
    """Run a notebook in place with its own folder as working directory.

    Returns the wall-clock seconds it took. Outputs are stored, normalised, so
    a reader of solutions/ sees the numbers and plots of a full-length run.
    """
    import time

    from nbclient import NotebookClient

    path = Path(path)
    nb = read_notebook(path)
    saved = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        if saved is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = saved
    write_notebook(nb, path)
    return seconds
