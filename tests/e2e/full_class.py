"""A simulated class of at least 30 submissions per chapter, graded by the instructor's command.

`make test-class` runs this file (hours of CPU on the 2-core machine: benchmarks/RESULTS.md); `make test`
does not: it grades the same kinds of cases packed into fewer submissions (tests/helpers/autograde.py, where the
tricks ride on the wrong answers and one kernel dies per chapter). Here each case is a submission of its
own, as a real class hands them in, and everything goes through `course grade` and its CSV:

- `reference`, every `alternative_k` (differently written correct answers), a test cell with edited
  nbgrader metadata, the reference saved as nbformat 3: full marks, nothing flagged (but an
  alternative that calls the library's own version, `alternative_library.py`: 0 and flagged);
- `untouched` (the release as shipped): 0;
- every `mutant_k` (the k-th wrong answer of each answer cell in tests/answers): each wrong exercise
  below full marks;
- every trick of tests/helpers/autograde.py, each in its own submission, appended to every wrong answer of a
  mutant set: each such exercise gets 0 (a wrong answer the trick did not rescue, or a flag);
- `ready_made_k`: the course's reference or torch's built-in called from the answer cells: 0 and flagged;
- a kernel killed by `os._exit`, a loop the interrupt stops, a loop that ignores it, each in place of
  the second exercise's answer: the exercises before keep their points, that one gets 0, after a
  dead kernel nothing more is awarded, and after the interrupted loop the later exercises keep
  theirs (except an answer that calls the missing function, as chapter 03's decoder step does).
The grader must not crash, every student must have a row, and no exercise may be graded wrongly.
"""
import csv
import json
import re
from pathlib import Path

import nbformat
import pytest
from helpers.autograde import TRICKS, variants
from helpers.ready_made import ready_made_calls

from course_lib import cli, grader

ROOT = Path(__file__).resolve().parents[2]
CELL_TIMEOUT = 90  # seconds: above every fast-mode cell on the 2-core machine; a loop costs this once
MINIMUM_CLASS = 30

KILLS_THE_KERNEL = "import os\nos._exit(1)\n"
LOOPS = "while True:\n    pass\n"
IGNORES_INTERRUPTS = "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass\n"


def _class(chapter):
    """student -> (notebook to save, {answer cell: expected verdict}); verdicts: "full", "zero", "wrong"
    (below full marks), "flagged" (0 and flagged)."""
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    full = {cell: "full" for cell in reference}
    students = {"reference": (grader.fill_answers(release, reference), full),
                "untouched": (release, {cell: "zero" for cell in reference})}
    for k, chosen in enumerate(variants(chapter, "alternative"), start=1):
        answers = dict(reference, **{cell: path.read_text() for cell, path in chosen.items()})
        # an answer that calls the library's own version is correct, and flagged: the instructor decides
        library = {cell: "flagged" for cell, path in chosen.items() if path.name.startswith("alternative_library")}
        students[f"alternative_{k}"] = (grader.fill_answers(release, answers), dict(full, **library))
    mutants = variants(chapter, "mutant")
    for k, chosen in enumerate(mutants, start=1):
        answers = dict(reference, **{cell: path.read_text() for cell, path in chosen.items()})
        students[f"mutant_{k}"] = (grader.fill_answers(release, answers), dict(full, **dict.fromkeys(chosen, "wrong")))
    # every trick in its own submission; further rounds on the next wrong answers until the class is full
    round_ = 0
    while round_ == 0 or len(students) + 7 < MINIMUM_CLASS:
        chosen = mutants[round_ % len(mutants)]
        for number, trick in enumerate(TRICKS.values(), start=1):
            answers = dict(reference, **{cell: path.read_text().rstrip() + "\n\n" + trick for cell, path in chosen.items()})
            expected = dict(full, **dict.fromkeys(chosen, "zero"))
            students[f"trick_{number}_on_mutant_{round_ % len(mutants) + 1}"] = (grader.fill_answers(release, answers),
                                                                                 expected)
        round_ += 1
    calls = {cell: ready_made_calls(cell) for cell in reference}
    for k in range(3):
        answers = dict(reference, **{cell: found[k % len(found)] for cell, found in calls.items() if found})
        students[f"ready_made_{k + 1}"] = (grader.fill_answers(release, answers),
                                           dict(full, **{cell: "flagged" for cell, found in calls.items() if found}))
    # the second exercise's answer replaced: exercises before it keep their points
    exercises = chapter.exercises()
    victim = exercises[1].solution_ids[0]
    later = [sid for ex in exercises[2:] for sid in ex.solution_ids]
    # a later answer that calls the function the victim cell should define cannot run either
    calls_victim = {sid for sid in later if re.search(rf"\b{victim}\b", reference[sid])}
    for name, code, after in (("kills_the_kernel", KILLS_THE_KERNEL, "zero"), ("loops", LOOPS, "full"),
                              ("ignores_interrupts", IGNORES_INTERRUPTS, "zero")):
        expected = dict(full, **{victim: "zero"}, **{sid: "zero" if sid in calls_victim else after for sid in later})
        students[name] = (grader.fill_answers(release, dict(reference, **{victim: code})), expected)
    solved = grader.fill_answers(release, reference)
    edited = nbformat.from_dict(json.loads(json.dumps(solved)))
    test_cell = next(cell for cell in edited.cells if grader.is_test_cell(cell))
    test_cell.metadata.nbgrader["points"] = 1000  # "Inconsistent checksums" for nbgrader alone
    students["edited_test_metadata"] = (edited, full)
    students["nbformat_3"] = (nbformat.convert(nbformat.from_dict(json.loads(json.dumps(solved))), 3), full)
    return students


@pytest.mark.parametrize("chapter", [c.name for c in grader.chapters(ROOT)])
def test_a_class_of_thirty_is_graded_right(chapter, tmp_path, capsys):
    chapter = grader.find_chapter(chapter, ROOT)
    students = _class(chapter)
    assert len(students) >= MINIMUM_CLASS, len(students)
    submitted = tmp_path / "submitted"
    for student, (notebook, _) in students.items():
        path = submitted / student / chapter.name / f"{chapter.name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(notebook, str(path), version=notebook.nbformat)
    saved = {p: p.read_bytes() for p in submitted.rglob("*.ipynb")}
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", chapter.name, "--submitted", str(submitted), "--out", str(out),
                     "--timeout", str(CELL_TIMEOUT)]) == 0, capsys.readouterr().out
    printed = capsys.readouterr().out
    rows = {row["student"]: row for row in csv.DictReader(out.open())}
    assert set(rows) == set(students), printed
    assert {p: p.read_bytes() for p in submitted.rglob("*.ipynb")} == saved, "a submitted file was changed"

    exercise_of = {sid: ex for ex in chapter.exercises() for sid in ex.solution_ids}
    wrong = []
    for student, (_, expected) in students.items():
        row = rows[student]
        flagged = set(row["flagged"].split())
        verdicts = {}  # an exercise with several answer cells takes the strictest expectation
        order = ["full", "wrong", "zero", "flagged"]
        for cell, verdict in expected.items():
            gid = exercise_of[cell].grade_id
            verdicts[gid] = max(verdicts.get(gid, "full"), verdict, key=order.index)
        for gid, verdict in verdicts.items():
            points, awarded = exercise_points(chapter, gid), float(row[gid])
            good = {"full": awarded == points and gid not in flagged,
                    "wrong": awarded < points,
                    "zero": awarded == 0,
                    "flagged": awarded == 0 and gid in flagged}[verdict]
            if not good:
                wrong.append(f"{student}: {gid} expected {verdict}, awarded {awarded:g}/{points:g}"
                             f"{' (flagged)' if gid in flagged else ''}; notes: {row['notes'][:300]}")
    print(printed)
    assert not wrong, f"{len(wrong)} wrong grades:\n" + "\n".join(wrong)


def exercise_points(chapter, grade_id):
    return next(ex.points for ex in chapter.exercises() if ex.grade_id == grade_id)
