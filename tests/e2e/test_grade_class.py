"""`course grade`: an instructor grades a class, and one student's code cannot change the others' grades.

A class of three for chapter 04, graded in one nbgrader run: an honest
student, one who calls the library's own attention, and one whose answer cell
carries a payload: it replaces torch.allclose (so a wrong answer would pass its
checks), reads the hidden tests, overwrites the other students' submitted files
with the blank release, and writes 99 points into the gradebook. The other two
keep their grades and their files, the payload earns nothing for the faked
exercise, and every trick is named in the CSV.

Graded twice: in the sandbox (bubblewrap), where the payload cannot reach the
other files at all, and without it (macOS, Windows), where the grader finds
the rewritten submissions and the edited gradebook afterwards and grades from
what it handed to nbgrader.
"""
import csv
import os
import shutil

import pytest

from course_lib import cli, grader
from course_lib.grader import sandbox

PAYLOAD = '''import glob, shutil, sqlite3
import torch
torch.allclose = lambda *args, **kwargs: True
for victim in glob.glob("../../../submitted/*/04_self_attention/04_self_attention.ipynb"):
    if "/aaron/" not in victim:
        shutil.copy("../../../release/04_self_attention/04_self_attention.ipynb", victim)
hidden_tests = glob.glob("../../../source/*/*.ipynb")
try:
    with sqlite3.connect("../../../gradebook.db") as db:
        db.execute("UPDATE grade SET manual_score = 99")
except sqlite3.Error:
    pass

def scaled_dot_product_attention(q, k, v, mask=None):
    weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)     # not scaled by sqrt(d_k): wrong
    return weights @ v, weights
'''

LIBRARY = '''from course_lib.attention import scaled_dot_product_attention
'''


@pytest.mark.parametrize("isolation", ["sandbox", "no sandbox"])
def test_a_class_with_a_payload(isolation, tmp_path, capsys, monkeypatch):
    if isolation == "no sandbox":
        monkeypatch.setenv("COURSE_NO_SANDBOX", "1")
    elif not sandbox.available() and not os.environ.get("COURSE_REQUIRE_SANDBOX"):
        pytest.skip(f"no sandbox on this machine: {sandbox.unavailable_reason()}")
    sandbox.unavailable_reason.cache_clear()
    try:
        _grade_the_class(isolation, tmp_path, capsys)
    finally:
        sandbox.unavailable_reason.cache_clear()


def _grade_the_class(isolation, tmp_path, capsys):
    chapter = grader.find_chapter("04")
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    first = chapter.exercises()[0]
    answers = {"aaron": dict(reference, **{first.solution_ids[0]: PAYLOAD}),
               "bob": reference,
               "carol": dict(reference, **{first.solution_ids[0]: LIBRARY})}
    submitted = tmp_path / "submitted"
    for student, chosen in answers.items():
        folder = submitted / student / chapter.name
        folder.mkdir(parents=True)
        grader.write_notebook(grader.fill_answers(release, chosen), folder / f"{chapter.name}.ipynb")
    before = {p: p.read_bytes() for p in submitted.rglob("*.ipynb")}
    out = tmp_path / "grades.csv"

    assert cli.main(["grade", "04", "--submitted", str(submitted), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    full = f"{chapter.points:g}"
    assert rows["bob"]["total"] == full and rows["bob"]["flagged"] == "", rows["bob"]
    if isolation == "sandbox":
        assert "Sandbox: the graded code ran under bubblewrap" in printed
        for student in ("bob", "carol"):   # nothing reached their files
            assert "graded again" not in rows[student]["notes"], rows[student]
        assert "gradebook says" not in rows["aaron"]["notes"]
    else:
        assert "no sandbox here" in printed
        for victim in ("bob", "carol"):
            assert "graded again on its own" in rows[victim]["notes"], rows[victim]
        assert "gradebook says" in rows["aaron"]["notes"]
    # the payload: no points for the faked exercise, each trick named
    assert rows["aaron"][first.grade_id] == "0" and first.grade_id in rows["aaron"]["flagged"]
    # and nothing for it even before the flags, while the exercises after it keep their points: the
    # tests compare in the grader's verdict process, where the replaced torch.allclose never arrives
    rest = f"{chapter.points - first.points:g}"
    assert rows["aaron"]["raw_total"] == rest, rows["aaron"]
    for trick in ("assigns to torch.allclose", "uses shutil", "uses sqlite3", "uses glob"):
        assert trick in rows["aaron"]["notes"], (trick, rows["aaron"]["notes"])
    # the library's own version: flagged, 0 unless the instructor allows it
    assert rows["carol"][first.grade_id] == "0" and "ready-made version" in rows["carol"]["notes"]
    assert rows["carol"]["raw_total"] == rest  # the kernel's trace saw the call: 0 on nbgrader's rule too
    assert "flagged" in printed
    # no submitted file was changed by grading
    assert {p: p.read_bytes() for p in submitted.rglob("*.ipynb")} == before


READS_THE_SOLUTIONS = '''import glob
print("solutions seen:", len(glob.glob("../../../solutions/*/*.ipynb")))
'''


def test_nbgrader_autograde_with_the_course_config_runs_in_the_sandbox(tmp_path):
    """The formgrader's Autograde button runs `nbgrader autograde` with the course's own
    nbgrader_config.py: its kernels run in the same sandbox as `course grade`'s."""
    import subprocess
    import sys

    if not sandbox.available():
        if os.environ.get("COURSE_REQUIRE_SANDBOX"):
            pytest.fail(f"COURSE_REQUIRE_SANDBOX is set but {sandbox.unavailable_reason()}")
        pytest.skip(f"no sandbox on this machine: {sandbox.unavailable_reason()}")
    root = grader.course_root()
    course = tmp_path / "course"
    for name in ("course_lib", "solutions", "checkpoints"):
        shutil.copytree(root / name, course / name, ignore=shutil.ignore_patterns("__pycache__", "*.backup-*"))
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
    chapter = grader.find_chapter("04", course)
    reference = grader.reference_answers(chapter)
    first = chapter.exercises()[0].solution_ids[0]
    answers = dict(reference, **{first: READS_THE_SOLUTIONS + reference[first]})
    env = grader.environment_with_commands()
    env["PYTHONPATH"] = str(course)  # this copy's course_lib, so the sandbox hides this copy
    nbgrader = [sys.executable, "-m", "nbgrader"]
    made = subprocess.run([*nbgrader, "generate_assignment", chapter.name, "--force"], cwd=course, env=env,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-2000:]
    submitted = course / "submitted" / "alice" / chapter.name
    submitted.mkdir(parents=True)
    release = grader.read_notebook(course / "notebooks" / chapter.name / f"{chapter.name}.ipynb")
    grader.write_notebook(grader.fill_answers(release, answers), submitted / f"{chapter.name}.ipynb")

    done = subprocess.run([*nbgrader, "autograde", chapter.name, "--create", "--force"], cwd=course, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (course / ".course" / "jupyter" / "kernels" / sandbox.KERNEL_NAME / "kernel.json").is_file()
    graded = grader.read_notebook(course / "autograded" / "alice" / chapter.name / f"{chapter.name}.ipynb")
    printed = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs)
    assert "solutions seen: 0" in printed, printed[-500:]
    from nbgrader.utils import determine_grade
    earned = sum(float(determine_grade(c)[0] or 0) for c in graded.cells if grader.is_test_cell(c))
    assert earned == chapter.points
