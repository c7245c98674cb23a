"""Wiring nbval into the test run (docs/design.md, "What the test suite proves").

`make test` passes solutions/ to pytest with --nbval-lax: the reference
notebooks run at full length (the chapter's quality targets are asserted in
their cells), comparing the outputs of cells marked `# NBVAL_CHECK_OUTPUT`.

Student notebooks: `pytest --nbval-lax notebooks/` runs each with the reference
answers pasted into its exercise cells and COURSE_FAST=1. `make test` does not
pass notebooks/, because the autograde tests already run exactly that notebook
(the `reference` submission, in fast mode, under nbgrader as a class is graded)
and fail on an error in any cell; running it twice cost a minute of the budget.
"""
from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

try:
    from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags
except ImportError:  # nbval is a dev dependency; without it nothing here applies
    IPyNbFile = None


@contextlib.contextmanager
def _fast_switch(fast: bool):
    """Start the kernel with or without the fast switch, whatever the caller's shell had."""
    saved = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = saved


if IPyNbFile is not None:
    class FullLengthNotebook(IPyNbFile):
        def setup(self):
            with _fast_switch(False):
                super().setup()

    class FilledReleaseNotebook(IPyNbFile):
        """The student notebook, collected with the reference answers pasted in.

        The items keep the release's path as their id (xdist needs the same ids
        in every worker); only the cell sources differ from the file on disk.
        """

        def setup(self):
            with _fast_switch(True):
                super().setup()

        def collect(self):
            from course_lib import grading

            chapter = grading.Chapter(self.path.parent.name, ROOT)
            self.nb = grading.fill_answers(grading.read_notebook(self.path), grading.reference_answers(chapter))
            code_cells = [cell for cell in self.nb.cells if cell.cell_type == "code"]
            for number, cell in enumerate(code_cells):
                options = defaultdict(bool, find_metadata_tags(cell.metadata))
                options.update(dict(find_comment_markers(cell.source)))
                options.setdefault("check", self.compare_outputs)
                yield IPyNbCell.from_parent(self, name=f"Cell {number}", cell_num=number, cell=cell, options=options)


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path, parent):
    outcome = yield
    option = parent.config.option
    if IPyNbFile is None or not getattr(option, "nbval_lax", False) or file_path.suffix != ".ipynb":
        return
    try:
        top = file_path.resolve().relative_to(ROOT).parts[0]
    except ValueError:
        return
    if top == "solutions":
        outcome.force_result([FullLengthNotebook.from_parent(parent, path=file_path)])
    elif top == "notebooks" and ".backup-" not in file_path.name:
        outcome.force_result([FilledReleaseNotebook.from_parent(parent, path=file_path)])
    elif top == "notebooks":
        outcome.force_result([])  # a learner's saved copy is not ours to test


# The longest files first. pytest-xdist (--dist loadfile) hands whole files to the two
# workers in collection order; a long file collected last runs alone at the end while
# the other worker idles. Seconds measured on the 2-core CI machine (one worker each;
# `make test` with --durations). A chapter's two long files (its autograde test and its
# full-length notebook) take their seconds from its manifest (solutions/NN_topic/chapter.toml).
LONGEST_FIRST = {
    "test_pretrain_assistant.py": 360, "test_grader_attacks.py": 270, "test_verdict_attacks.py": 200,
    "test_grade_class.py": 180, "test_grading_runs.py": 150, "test_pretrain_bert.py": 135, "test_cli.py": 100,
    "test_pretrain.py": 75, "test_distributed_recipes.py": 60, "test_release.py": 60, "test_browser.py": 55,
    "test_benchmarks.py": 50, "test_embeddings.py": 20,
}


def _chapter_seconds() -> dict[str, int]:
    from course_lib.grader import chapters, manifest

    seconds = {}
    for chapter in chapters(ROOT):
        taken = manifest.load(chapter).seconds
        seconds[f"test_autograde_{chapter.name}.py"] = taken["autograde"]
        seconds[f"solutions/{chapter.name}"] = taken["notebook"]
    return seconds


LONGEST_FIRST.update(_chapter_seconds())


def _expected_seconds(item) -> int:
    path = Path(str(item.fspath)).resolve().as_posix()
    return next((seconds for key, seconds in LONGEST_FIRST.items() if key in path), 0)


SLOW_FOLDERS = (ROOT / "tests" / "e2e", ROOT / "solutions", ROOT / "notebooks")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: -_expected_seconds(item))  # stable: the order within a file is kept
    # the tiers are folders (tests/unit, checks, grader: seconds; tests/e2e and the notebooks: minutes)
    for item in items:
        if any(folder in Path(str(item.fspath)).resolve().parents for folder in SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)
    # nbval waits 5 s for a cell's outputs after the kernel says it is done; on two busy cores
    # (CI's two workers) a training cell's last outputs arrived later once and failed chapter 08
    for item in items:
        if IPyNbFile is not None and isinstance(item, IPyNbCell):
            item.output_timeout = 60
