"""nbgrader autograde, end to end, of one chapter (docs/design.md, "What the test suite proves").

Each tests/test_autograde_<chapter>.py star-imports these tests and names its
CHAPTER, so that pytest-xdist (--dist loadfile) grades the chapters on
different workers. One autograde run per chapter grades these submissions side
by side:
- `reference`: the reference answers pasted into the release: full marks;
- `untouched`: the release as shipped: zero, and the autograder survives;
- `mutant_k`: the k-th common wrong answer of every exercise at once, for
  k <= AUTOGRADED_MUTANTS: each must lose points on its own exercise;
- `alternative_k`: differently written correct answers, all of them: full marks.
Wrong and alternative answers live in tests/answers/<chapter>/<answer cell>/.

The mutants also carry the tricks students tried against the grader (TRICKS):
each wrong answer has one appended, a different one per answer cell, so every
chapter's class holds each trick on a wrong answer without costing a notebook
run of its own (a trick that reaches later cells, such as a replaced
torch.allclose, only meets more wrong answers there). The instructor's rule
(`course grade`) must give every such exercise 0: its wrong answer loses points
even with the trick, and the integrity report flags the trick.

Why not every mutant: each submission is one run of the notebook, the largest
part of the test budget. A wrong answer loses points as soon as the visible
check in its graded cell fails; the tests/test_checks_*.py modules prove that
every wrong answer file fails that check, and grading the first three of each
cell here proves that the graded cells run those checks on the learner's code.
Alternatives are all graded: only grading shows that the hidden tests, too,
accept an answer written differently.
"""
from pathlib import Path

import pytest

from course_lib import grader

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = Path(__file__).resolve().parents[1] / "answers"
HONEST = Path(__file__).resolve().parents[1] / "honest"
AUTOGRADED_MUTANTS = 3


# label -> code appended to a wrong answer; each aims to turn its failure into points
TRICKS = {
    "replaces torch.allclose and torch.equal": (
        "import torch\ntorch.allclose = lambda *args, **kwargs: True\ntorch.equal = lambda *args, **kwargs: True\n"),
    "replaces torch.testing.assert_close": (
        "import torch.testing\ntorch.testing.assert_close = lambda *args, **kwargs: None\n"),
    "replaces math.isclose and numpy.allclose": (
        "import math, numpy\nmath.isclose = lambda *args, **kwargs: True\nnumpy.allclose = lambda *args, **kwargs: True\n"),
    "enters a torch function mode": (
        "from torch.overrides import TorchFunctionMode\n"
        "class _AlwaysClose(TorchFunctionMode):\n"
        "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
        "        result = func(*args, **(kwargs or {}))\n"
        "        return True if getattr(func, '__name__', '') in ('allclose', 'equal') else result\n"
        "_AlwaysClose().__enter__()\n"),
    "an IPython input transformer": (
        "get_ipython().input_transformers_post.append(\n"
        "    lambda lines: [line.replace('assert ', 'assert True or ') for line in lines])\n"),
    "an IPython AST transformer": (
        "import ast\nclass _NoAsserts(ast.NodeTransformer):\n    def visit_Assert(self, node):\n"
        "        return ast.Pass()\nget_ipython().ast_transformers.append(_NoAsserts())\n"),
    "writes the gradebook": (
        "import sqlite3\ntry:\n    with sqlite3.connect('../../../gradebook.db') as db:\n"
        "        db.execute('UPDATE grade SET auto_score = max_score')\nexcept sqlite3.Error:\n    pass\n"),
    "reads the hidden tests and solutions": (
        "import glob\n_found = [open(p).read() for p in glob.glob('../../../source/*/*.ipynb')\n"
        "          + glob.glob('../../../../solutions/*/*.ipynb')]\n"),
    "a syntax error": "def unfinished(:\n    pass\n",
}
# the tricks the integrity report must name (a syntax error stops the cell before anything runs)
FLAGGED_TRICKS = set(TRICKS) - {"a syntax error"} | {"kills the kernel"}
# appended to the last wrong answer of the last mutant submission that can run (after its trick): the exercises
# before it keep their own verdicts, and it costs no notebook run of its own
KILLS_THE_KERNEL = "import os\nos._exit(1)\n"

__all__ = ["graded", "test_reference_answers_get_full_marks",
           "test_tricks_on_wrong_answers_earn_nothing", "test_a_dead_kernel_costs_only_its_own_exercise",
           "test_untouched_release_gets_zero_without_crashing",
           "test_every_mutant_loses_points_on_its_exercise",
           "test_alternative_correct_answers_get_full_marks", "test_failures_explain_themselves"]


def answer_files(chapter, kind: str) -> dict[str, list[Path]]:
    """answer cell grade_id -> its files of this kind ("mutant" or "alternative").

    The honest but unusual answers of tests/honest/ (helpers, classes, magics, warnings, files in the
    notebook's folder) are graded as alternatives: full marks, and the integrity report flags none.
    """
    folder = ANSWERS / chapter.name
    files = {d.name: sorted(d.glob(f"{kind}_*.py")) for d in sorted(folder.iterdir()) if d.is_dir()}
    if kind == "alternative" and (HONEST / chapter.name).is_dir():
        for cell in sorted((HONEST / chapter.name).iterdir()):
            files.setdefault(cell.name, []).extend(sorted(cell.glob("*.py")))
    return files


def variants(chapter, kind: str) -> list[dict[str, Path]]:
    """Submission k holds the k-th file of each answer cell that has one."""
    files = answer_files(chapter, kind)
    count = max((len(v) for v in files.values()), default=0)
    return [{gid: paths[k] for gid, paths in files.items() if k < len(paths)} for k in range(count)]


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    chapter = grader.find_chapter(request.module.CHAPTER, ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    submissions = {"reference": grader.fill_answers(release, reference), "untouched": release}
    plan, tricks, labels = {}, {}, list(TRICKS)
    for kind, limit in (("mutant", AUTOGRADED_MUTANTS), ("alternative", None)):
        for k, chosen in enumerate(variants(chapter, kind)[:limit], start=1):
            name = f"{kind}_{k}"
            # exercises with fewer variants than k keep the reference answer
            answers = dict(reference, **{gid: p.read_text() for gid, p in chosen.items()})
            if kind == "mutant":  # a different trick in each wrong answer, all tricks over the submissions
                tricks[name] = {gid: [labels[(len(tricks) * len(chosen) + j) % len(labels)]]
                                for j, gid in enumerate(chosen)}
                answers.update({gid: answers[gid].rstrip() + "\n\n" + TRICKS[label[0]]
                                for gid, label in tricks[name].items()})
                if k == min(AUTOGRADED_MUTANTS, len(variants(chapter, kind))):
                    last = [sid for ex in chapter.exercises() for sid in ex.solution_ids
                            if sid in chosen and tricks[name][sid] != ["a syntax error"]][-1]  # one that runs
                    answers[last] += "\n" + KILLS_THE_KERNEL
                    tricks[name][last].append("kills the kernel")
            submissions[name] = grader.fill_answers(release, answers)
            plan[name] = chosen
    reports = grader.autograde(chapter, submissions, cell_timeout=120,
                                workdir=tmp_path_factory.mktemp(f"grade-{chapter.name}"))
    return chapter, reports, plan, submissions, tricks


def _summary(report):
    return "; ".join(f"{c.grade_id} {c.score:g}/{c.max_score:g} {c.feedback[:150]}" for c in report.cells)


def test_reference_answers_get_full_marks(graded):
    chapter, reports, _, *_ = graded
    report = reports["reference"]
    assert report.max_score == chapter.points > 0
    assert report.score == report.max_score, _summary(report)
    # Every other cell of the student notebook ran too (in fast mode, as nbgrader runs it):
    # this is the proof that a learner who solved the exercises can run the whole chapter.
    assert not report.other_errors, "\n".join(report.other_errors)


def test_untouched_release_gets_zero_without_crashing(graded):
    _, reports, _, *_ = graded
    report = reports["untouched"]
    assert report.score == 0, _summary(report)
    # graded, not skipped: every test cell ran and reported the missing answer
    for cell in report.cells:
        assert "NotImplementedError" in cell.feedback, (cell.grade_id, cell.feedback)
    # the demonstrations that call the learner's functions fail too, and are reported
    assert any("not answered yet" in e for e in report.other_errors), report.other_errors


def test_every_mutant_loses_points_on_its_exercise(graded):
    chapter, reports, plan, *_ = graded
    exercise_of = {sid: ex for ex in chapter.exercises() for sid in ex.solution_ids}
    survivors = []
    for name, chosen in plan.items():
        if not name.startswith("mutant"):
            continue
        scores = reports[name].by_id()
        for gid, path in chosen.items():
            exercise = exercise_of[gid]
            if scores[exercise.grade_id].score >= exercise.points:
                survivors.append(f"{path.relative_to(ANSWERS)} got full marks on {exercise.grade_id}")
    assert not survivors, "\n".join(survivors)


def test_alternative_correct_answers_get_full_marks(graded):
    """Every correct answer written differently gets full marks, except one that calls the library's own
    version (`alternative_library.py`): the kernel's trace reports the call, and that exercise gets 0 with
    feedback that says so."""
    from course_lib.grader import integrity

    chapter, reports, plan, submissions, _ = graded
    exercise_of = {sid: ex for ex in chapter.exercises() for sid in ex.solution_ids}
    for name, chosen in plan.items():
        if name.startswith("alternative"):
            report = reports[name]
            library = {exercise_of[gid].grade_id for gid, path in chosen.items()
                       if path.name.startswith("alternative_library")}
            honest = [path for path in chosen.values() if HONEST in path.parents]
            if honest:  # only the library's own version may be flagged
                flags = integrity.report(chapter, submissions[name])
                assert set(flags) <= library, f"{name} ({[p.name for p in honest]}): flagged {flags}"
            for cell in report.cells:
                if cell.grade_id in library:
                    assert cell.score == 0 and "ready-made" in cell.feedback, f"{name}: {_summary(report)}"
                else:
                    assert cell.score == cell.max_score, f"{name}: {_summary(report)}"
            assert not report.other_errors, f"{name}: " + "\n".join(report.other_errors)


def test_failures_explain_themselves(graded):
    """A mutant's feedback is an assertion message, not a bare traceback."""
    chapter, reports, plan, *_ = graded
    exercise_of = {sid: ex for ex in chapter.exercises() for sid in ex.solution_ids}
    for name, chosen in plan.items():
        if name.startswith("mutant"):
            for gid in chosen:
                feedback = reports[name].by_id()[exercise_of[gid].grade_id].feedback
                assert feedback and len(feedback) > 25, f"{name}/{gid}: feedback {feedback!r} says too little"


def test_tricks_on_wrong_answers_earn_nothing(graded):
    """Under the instructor's rule every trick-carrying wrong answer gets 0, and each trick is named."""
    from course_lib.grader import integrity

    chapter, reports, _, submissions, tricks = graded
    exercise_of = {sid: ex for ex in chapter.exercises() for sid in ex.solution_ids}
    earned, unnamed = [], []
    for name, chosen in tricks.items():
        flags = integrity.report(chapter, submissions[name])
        awarded = dict(zip([c.grade_id for c in reports[name].cells],
                           grader.awarded_scores(reports[name], flags, allow_flagged=False)))
        for gid, applied in chosen.items():
            exercise = exercise_of[gid]
            if awarded[exercise.grade_id] != 0:
                earned.append(f"{name}/{gid} ({applied}): {awarded[exercise.grade_id]:g} points")
            if set(applied) & FLAGGED_TRICKS and exercise.grade_id not in flags:
                unnamed.append(f"{name}/{gid} ({applied}) is not flagged")
    assert not earned, "\n".join(earned)
    assert not unnamed, "\n".join(unnamed)
    used = {label for chosen in tricks.values() for applied in chosen.values() for label in applied}
    assert "kills the kernel" in used
    assert len(used - {"kills the kernel"}) == min(len(TRICKS), sum(len(c) for c in tricks.values()))


def test_a_dead_kernel_costs_only_its_own_exercise(graded):
    """The last wrong answer of the last mutant submission kills the kernel: its exercise's feedback says
    so, and every exercise before it is graded on its own answer (no word of a dead kernel)."""
    chapter, reports, _, _, tricks = graded
    exercise_of = {sid: ex for ex in chapter.exercises() for sid in ex.solution_ids}
    name, killer = next((n, gid) for n, chosen in tricks.items() for gid, applied in chosen.items()
                        if "kills the kernel" in applied)
    feedback = reports[name].by_id()
    assert "kernel died" in feedback[exercise_of[killer].grade_id].feedback, feedback[exercise_of[killer].grade_id]
    position = [ex.grade_id for ex in chapter.exercises()].index(exercise_of[killer].grade_id)
    for exercise in chapter.exercises()[:position]:
        assert "kernel died" not in feedback[exercise.grade_id].feedback, feedback[exercise.grade_id]
