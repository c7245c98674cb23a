"""Unit tests of the grading helpers (no nbgrader run: those are in test_autograde.py)."""

import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import course_lib
from course_lib import grader
from course_lib.grader import autograding, releasing


def _graded(cell, **meta):
    meta.update(schema_version=3)
    cell.metadata["nbgrader"] = meta
    return cell


@pytest.fixture
def notebook():
    return new_notebook(cells=[
        new_markdown_cell("## Exercise 1: add"),
        _graded(new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"),
                grade_id="add", solution=True, grade=False, locked=False),
        _graded(new_code_cell("assert add(1, 2) == 3"), grade_id="test_add", solution=False, grade=True,
                locked=True, points=2),
        new_markdown_cell("### Exercise 2: twice"),
        _graded(new_code_cell("def twice(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
                grade_id="twice", solution=True, grade=False, locked=False),
        _graded(new_code_cell("assert twice(2) == 4"), grade_id="test_twice", solution=False, grade=True,
                locked=True, points=1),
    ])


def test_exercises_group_answers_with_their_tests(notebook):
    exercises = grader.exercises_of(notebook)
    assert [(e.grade_id, e.title, e.points, e.solution_ids) for e in exercises] == [
        ("test_add", "Exercise 1: add", 2.0, ["add"]),
        ("test_twice", "Exercise 2: twice", 1.0, ["twice"]),
    ]


def test_fill_answers_replaces_only_the_named_cells_and_copies(notebook):
    filled = grader.fill_answers(notebook, {"twice": "def twice(x):\n    return x + x"})
    assert filled.cells[4].source == "def twice(x):\n    return x + x"
    assert filled.cells[1].source == notebook.cells[1].source
    assert "BEGIN SOLUTION" in notebook.cells[4].source, "the original must not change"
    with pytest.raises(grader.CourseError, match="nope"):
        grader.fill_answers(notebook, {"nope": "x"})


def test_strip_solution_markers():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert grader.strip_solution_markers(source) == "def f():\n    return 1"


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"), ("{nope", "not a readable notebook"), ('{"cells": 1}', "not a readable notebook"),
])
def test_read_notebook_turns_every_problem_into_one_course_error(tmp_path, content, words):
    path = tmp_path / "x.ipynb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(grader.CourseError, match=words) as info:
        grader.read_notebook(path)
    assert "\n" not in str(info.value)


def test_normalize_drops_what_changes_between_runs(notebook):
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    notebook.metadata["widgets"] = {"state": {}}
    notebook.cells[2].metadata["execution"] = {"iopub.status.busy": "2026-11-21T05:00:00"}
    out = grader.normalize_notebook(notebook)
    assert out.metadata["language_info"] == {"name": "python"}
    assert "widgets" not in out.metadata and "execution" not in out.cells[2].metadata


def test_find_chapter_accepts_number_name_and_topic():
    first = grader.chapters()[0]
    for key in (first.number, str(int(first.number)), first.name, first.name.split("_", 1)[1]):
        assert grader.find_chapter(key).name == first.name
    with pytest.raises(grader.CourseError, match="no chapter"):
        grader.find_chapter("99")


def test_fast_mode_reads_both_switches(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not course_lib.fast_mode()
    monkeypatch.setenv("COURSE_FAST", "1")
    assert course_lib.fast_mode()
    monkeypatch.setenv("COURSE_FAST", "0")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert course_lib.fast_mode()


def test_set_seed_makes_runs_repeat():
    course_lib.set_seed(3)
    a = torch.randn(4)
    course_lib.set_seed(3)
    assert torch.equal(a, torch.randn(4))


def test_pristine_answers_outside_git_equal_the_shipped_release(tmp_path, monkeypatch):
    """A downloaded copy (no git) finds the shipped answer cells without regenerating releases."""
    import shutil
    from pathlib import Path

    ROOT = Path(__file__).resolve().parents[2]
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path)

    def no_nbgrader(*args, **kwargs):
        raise AssertionError("pristine_answers should not run nbgrader (seconds per chapter)")

    monkeypatch.setattr(releasing, "run_nbgrader", no_nbgrader)
    monkeypatch.setattr(releasing, "release", no_nbgrader)
    for chapter in grader.chapters(tmp_path):
        shipped = grader.solution_sources(grader.read_notebook(chapter.release))
        assert grader.pristine_answers(chapter) == shipped, chapter.name
    # the stub it writes is the one nbgrader_config.py gives the release
    assert repr(grader.CODE_STUB["python"])[1:-1] in (ROOT / "nbgrader_config.py").read_text()


def test_not_answered_names_the_function_that_raised():
    """A test cell may call another exercise's function: the message names the one still unanswered."""
    from course_lib.grader.autograding import _error_text

    header = "Cell \x1b[0;32mIn[7], line 4\x1b[0m, in \x1b[0;36mflops_per_token\x1b[0;34m(config, seq_len)\x1b[0m"
    library = "File \x1b[0;32m/x/course_lib/checks/tools.py:82\x1b[0m, in \x1b[0;36mrun\x1b[0;34m(*args)\x1b[0m"
    test_cell = "Cell \x1b[0;32mIn[8], line 2\x1b[0m\n----> 2 for p in model.parameters(): check(p)"

    def cell(*frames):
        return {"outputs": [{"output_type": "error", "ename": "NotImplementedError", "evalue": "",
                             "traceback": list(frames)}]}

    assert _error_text(cell(test_cell, library, header)) == \
        "not answered yet: flops_per_token() still raises NotImplementedError"
    assert _error_text(cell(test_cell, library)) == \
        "not answered yet: the answer cell still raises NotImplementedError"


def test_a_notebook_nbgrader_could_not_grade_says_why():
    """nbgrader logs a traceback per failed notebook and closes with a line that names nobody: the
    report quotes the failed student's own exception."""
    log = [
        "[AutogradeApp | INFO] SubmittedAssignment<08_finetuning for alice> submitted at None",
        "[AutogradeApp | ERROR] There was an error processing assignment: /tmp/c/submitted/bob/08_finetuning",
        "[AutogradeApp | ERROR] Traceback (most recent call last):",
        '  File "/x/nbgrader/converters/base.py", line 380, in convert_notebooks',
        "    self.convert_single_notebook(notebook_filename)",
        "RuntimeError: Kernel didn't respond in 60 seconds",
        "",
        "[AutogradeApp | ERROR] There was an error processing assignment: /tmp/c/submitted/carol/08_finetuning",
        "[AutogradeApp | ERROR] Traceback (most recent call last):",
        "OSError: disk full",
        "[AutogradeApp | ERROR] There was an error processing assignment '08_finetuning' for student 'bob'",
        "[AutogradeApp | ERROR] Please see the the above traceback for details on the specific errors on the "
        "above failures.",
    ]
    assert autograding._failure_reason(log, "bob") == "RuntimeError: Kernel didn't respond in 60 seconds"
    assert autograding._failure_reason(log, "carol") == "OSError: disk full"
    assert "Please see" in autograding._failure_reason(log, "dave")
    timed_out = [
        "[AutogradeApp | ERROR] There was an error processing assignment: /tmp/c/submitted/erin/08_finetuning",
        "[AutogradeApp | ERROR] Traceback (most recent call last):",
        "nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 60 seconds.",
        "The message was: Timeout waiting for IOPub output.",
        "Here is a preview of the cell contents:",
        "-------------------",
        "print('hello')",
        "-------------------",
    ]
    assert autograding._failure_reason(timed_out, "erin").startswith("nbclient.exceptions.CellTimeoutError: A cell "
                                                                      "timed out")
    assert "Timeout waiting for IOPub output" in autograding._failure_reason(timed_out, "erin")
