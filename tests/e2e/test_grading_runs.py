"""The grader's notebook runs: a stored notebook keeps its finished progress bars, and broken
submissions (edited test cells, a copied test cell, an nbformat-3 file, a kernel that dies) are
repaired and graded rather than zeroed."""
import json

import nbformat

from course_lib import grader
from course_lib.grader import autograding


def test_stored_progress_bars_show_the_finished_bar(tmp_path):
    """A notebook run by `course run` stores each tqdm bar as its last frame, never the first one."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(7), desc='training'):\n    pass"),
        nbformat.v4.new_code_cell("print('after')"),
    ])
    path = tmp_path / "bar.ipynb"
    nbformat.write(nb, str(path))
    grader.execute_notebook(path)
    stored = nbformat.read(str(path), as_version=4)
    texts = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in stored.cells[0].outputs]
    assert not any(grader.WIDGET_VIEW in o.get("data", {}) for o in stored.cells[0].outputs)
    assert any(t.startswith("training: 100%|██████████| 7/7") for t in texts), texts
    assert not any("0/7" in t for t in texts), texts
    assert "widgets" not in stored.metadata
    # with the widget state gone (an old file), the stale first frame is dropped rather than kept
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "display_data", data={grader.WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
                              "text/plain": "training:   0%|          | 0/500"})])])
    assert grader.normalize_notebook(nb).cells[0].outputs == []


def test_broken_submissions_are_repaired_not_zeroed(tmp_path):
    """A test cell whose nbgrader metadata was edited, a copied test cell, and an nbformat-3 file:
    each is graded on its answers (nbgrader alone would stop at "Inconsistent checksums" and give 0).
    A kernel that dies (os._exit, or a loop that ignores the interrupt at the time limit) costs only
    the exercises from that cell on, and the feedback names the cell."""
    chapter = grader.find_chapter("01")
    release = grader.read_notebook(chapter.release)
    solved = grader.fill_answers(release, grader.reference_answers(chapter))

    edited = nbformat.from_dict(json.loads(json.dumps(solved)))
    tests = [c for c in edited.cells if grader.is_test_cell(c)]
    tests[0].metadata.nbgrader.update(points=100, solution=True)    # made an answer cell worth 100 points
    tests[1].metadata.nbgrader["locked"] = False
    tests[1].source = "pass  # my own test"
    edited.cells.append(nbformat.from_dict(json.loads(json.dumps(tests[2]))))  # a copy of a test cell
    v3 = nbformat.convert(nbformat.from_dict(json.loads(json.dumps(solved))), 3)  # converting works in place
    path_v3 = tmp_path / "v3.ipynb"
    nbformat.write(v3, str(path_v3), version=3)
    assert json.loads(path_v3.read_text())["nbformat"] == 3

    # a version-3 notebook object (not a file) is converted the same way as a file
    assert autograding._as_notebook(v3).nbformat == 4 and grader.solution_sources(autograding._as_notebook(v3)) \
        == grader.solution_sources(solved)
    # a kernel killed in the third answer cell: the two exercises before it keep their points
    answers = grader.reference_answers(chapter)
    third = chapter.exercises()[2]
    dead = grader.fill_answers(release, dict(answers, **{third.solution_ids[0]: "import os\nos._exit(1)"}))
    # a loop that swallows the interrupt sent at the time limit, in the second answer cell: the
    # kernel is killed a few seconds later, and it counts as a kernel that died there
    second = chapter.exercises()[1]
    deaf_loop = "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass\n"
    deaf = grader.fill_answers(release, dict(answers, **{second.solution_ids[0]: deaf_loop}))
    reports = grader.autograde(chapter, {"edited": edited, "v3": path_v3, "dead": dead, "deaf": deaf},
                                cell_timeout=30, workdir=tmp_path / "course")
    for name, killer, kept in (("dead", third, 2), ("deaf", second, 1)):
        killed = reports.pop(name)
        before = sum(e.points for e in chapter.exercises()[:kept])
        assert killed.score == before, (name, [(c.grade_id, c.score, c.feedback) for c in killed.cells])
        for graded in killed.cells[kept:]:
            assert graded.score == 0 and "kernel died" in graded.feedback, (name, graded)
            assert killer.solution_ids[0] in graded.feedback, (name, graded)
    for name, report in reports.items():
        assert report.score == report.max_score == chapter.points, (name, [(c.grade_id, c.feedback) for c in report.cells])
    repairs = reports["edited"].repairs
    assert any(tests[0].metadata.nbgrader.grade_id in r and "nbgrader metadata" in r for r in repairs), repairs
    assert any(tests[1].metadata.nbgrader.grade_id in r and "locked source" in r for r in repairs), repairs
    assert any("repeats the release" in r for r in repairs), repairs
    assert reports["v3"].repairs == []
