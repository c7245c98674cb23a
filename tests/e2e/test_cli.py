"""The `course` command as a learner meets it."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import grader

ROOT = Path(__file__).resolve().parents[2]
COURSE = Path(sys.executable).parent / "course"
FIRST = grader.chapters(ROOT)[0]


def course(*args, cwd=ROOT, timeout=900):
    return subprocess.run([str(COURSE), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def course_copy(tmp_path):
    """A private copy of the course, so commands that write files cannot touch the clone."""
    copy = tmp_path / "course"
    copy.mkdir()
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name, copy / name)
    shutil.copy2(ROOT / "nbgrader_config.py", copy)
    return copy


def test_console_script_is_installed():
    assert COURSE.exists(), "the `course` console script is missing: reinstall with `pip install -e .`"
    assert "check" in course("--help").stdout


def test_check_grades_and_never_modifies_the_learner_file(tmp_path):
    filled = grader.fill_answers(grader.read_notebook(FIRST.release), grader.reference_answers(FIRST))
    path = tmp_path / "mine.ipynb"
    nbformat.write(filled, str(path))
    before, mtime = digest(path), path.stat().st_mtime_ns
    done = course("check", FIRST.number, "--notebook", str(path))
    assert done.returncode == 0, done.stderr
    points = f"{FIRST.points:g}"
    assert f"Score: {points}/{points}" in done.stdout, done.stdout
    assert "FAIL" not in done.stdout
    assert digest(path) == before and path.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["mine.ipynb"], "check left files beside the notebook"


def test_an_infinite_loop_and_a_syntax_error_cost_only_their_own_exercises(tmp_path):
    exercises = FIRST.exercises()
    looping, broken = exercises[0], exercises[1]
    answers = grader.reference_answers(FIRST)
    answers[looping.solution_ids[0]] = "while True:\n    pass"
    answers[broken.solution_ids[0]] = "def oops(:\n    return"
    path = tmp_path / "mine.ipynb"
    nbformat.write(grader.fill_answers(grader.read_notebook(FIRST.release), answers), str(path))
    done = course("check", FIRST.number, "--notebook", str(path), "--timeout", "20")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "timed out" in out, out
    assert "SyntaxError" in out, out
    lost = looping.points + broken.points
    assert f"Score: {FIRST.points - lost:g}/{FIRST.points:g}" in out, out


@pytest.mark.parametrize("content", [None, "{not json", '{"cells": 3}'])
def test_missing_or_malformed_notebook_is_one_line_not_a_traceback(tmp_path, content):
    path = tmp_path / "mine.ipynb"
    if content is not None:
        path.write_text(content)
    done = course("check", FIRST.number, "--notebook", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(path) in done.stderr


def test_unknown_chapter_is_one_line():
    done = course("check", "99")
    assert done.returncode == 2 and "no chapter" in done.stderr and "Traceback" not in done.stderr


def test_reset_saves_the_learner_copy_first(course_copy):
    release = course_copy / "notebooks" / FIRST.name / f"{FIRST.name}.ipynb"
    fresh = release.read_text()
    release.write_text(fresh.replace("raise NotImplementedError()", "my precious work", 1))
    mine = release.read_text()
    done = course("reset", FIRST.number, cwd=course_copy)
    assert done.returncode == 0, done.stderr
    backups = list(release.parent.glob(f"{FIRST.name}.backup-*.ipynb"))
    assert len(backups) == 1 and backups[0].read_text() == mine
    assert release.read_text() == fresh


def test_reset_in_a_git_clone_restores_the_committed_notebook(course_copy):
    def git(*args):
        subprocess.run(["git", *args], cwd=course_copy, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    release = course_copy / "notebooks" / FIRST.name / f"{FIRST.name}.ipynb"
    fresh = release.read_text()
    release.write_text("{broken")
    assert course("reset", FIRST.number, cwd=course_copy).returncode == 0
    assert release.read_text() == fresh
    assert len(list(release.parent.glob("*.backup-*"))) == 1


def test_release_keeps_a_learner_copy_that_has_answers(course_copy):
    release = course_copy / "notebooks" / FIRST.name / f"{FIRST.name}.ipynb"
    filled = grader.fill_answers(grader.read_notebook(release), grader.reference_answers(FIRST))
    nbformat.write(filled, str(release))
    done = course("release", FIRST.number, cwd=course_copy)
    assert done.returncode == 0, done.stderr
    assert len(list(release.parent.glob("*.backup-*"))) == 1
    assert release.read_text() == FIRST.release.read_text()


def test_list_shows_chapters_exercises_points_and_progress(course_copy):
    out = course("list", cwd=course_copy).stdout
    assert FIRST.name in out and "not started" in out
    for exercise in FIRST.exercises():
        assert exercise.title in out
    release = course_copy / "notebooks" / FIRST.name / f"{FIRST.name}.ipynb"
    first_answer = FIRST.exercises()[0].solution_ids[0]
    nbformat.write(grader.fill_answers(grader.read_notebook(release), {first_answer: "x = 1"}), str(release))
    assert "in progress (1/" in course("list", cwd=course_copy).stdout


def test_doctor_reports_a_healthy_environment():
    done = course("doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    for word in ("torch", "nbgrader", "kernel", "device", "All good"):
        assert word in done.stdout
