"""Grading notebooks: nbgrader autograde in a throw-away course, read back as one report per student.

Both audiences use this path: a learner's `course check` grades one notebook,
an instructor's `course grade` a class, in a temporary nbgrader course built
from the chapter's source, so the learner's file and the course's gradebook
are never touched. The kernels run sandboxed (sandbox.py); the test cells run
in the grader's own verdict process (executor.py, verdict.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .cells import exercises_of, grade_meta, is_solution_cell, is_test_cell, solution_sources
from .commands import run_nbgrader
from .config import DEFAULT_CELL_TIMEOUT, write_course_config
from .executor import DEATH_CAUSES, KERNEL_DIED, NOT_RUN
from .layout import Chapter
from .notebooks import NB_VERSION, CourseError, read_notebook


@dataclass
class CellGrade:
    grade_id: str
    title: str
    score: float
    max_score: float
    feedback: str  # the error the test cell raised, empty when it passed


@dataclass
class GradeReport:
    student: str
    cells: list[CellGrade]
    # errors raised by cells that are neither answers nor tests ("cell 12: NameError: ..."):
    # a solved notebook must have none, or some demonstration does not run for the learner
    other_errors: list[str] = field(default_factory=list)
    # what was repaired in the submission before grading ("test cell X: its nbgrader metadata was edited")
    repairs: list[str] = field(default_factory=list)
    # where the gradebook disagrees with the graded notebook (something wrote to it)
    tampered: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells)

    def by_id(self) -> dict[str, CellGrade]:
        return {c.grade_id: c for c in self.cells}


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error_text(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            if output.get("ename") == KERNEL_DIED:  # written by the grader, not raised by the code
                return output.get("evalue", "")
            message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
            if output.get("ename") == "CellTimeoutError" or "KeyboardInterrupt" in output.get("ename", ""):
                return "timed out: the cell ran past the time limit (an infinite loop?)"
            if output.get("ename") == "NotImplementedError":
                return f"not answered yet: {_raising_function(output)} still raises NotImplementedError"
            if output.get("ename") == "ProcessRaisedException":
                # a forked process's whole traceback would show the test's own source lines: its last line only
                lines = [line for line in output.get("evalue", "").splitlines() if line.strip()]
                return ANSI.sub("", f"an error in one of the processes: {lines[-1].strip() if lines else '?'}")
            return ANSI.sub("", message)
    return ""


def _raising_function(output) -> str:
    """Which function raised, from the traceback's last frame ("in average_gradients"), or "the answer cell".

    A test cell may call several of the learner's functions; the message names
    the one still unanswered rather than the exercise being graded.
    """
    # only frames of code written in the notebook ("Cell In[7], line 4, in flops_per_token"), not the library's
    frames = re.findall(r"Cell In\[\d+\], line \d+, in (\w+)", ANSI.sub("", "\n".join(output.get("traceback", []))))
    name = frames[-1] if frames else ""
    return f"{name}()" if name and name != "<module>" and not name.startswith("_") else "the answer cell"


def repair_submission(nb, release_nb) -> tuple[nbformat.NotebookNode, list[str]]:
    """A copy of a submitted notebook whose graded cells carry the release's nbgrader metadata again.

    nbgrader restores the source of a locked (test) cell, but when a learner
    has edited its metadata (points, the solution flag, the checksum) the
    restored cell no longer matches its checksum and nbgrader stops grading
    the whole notebook ("Inconsistent checksums"). Here each cell is matched
    with the release's cell of the same grade_id and given back its metadata
    and type, and locked cells their source; nbgrader metadata that matches no
    released cell (or repeats one) is dropped. Returns the repaired copy and one
    line per repair, so the learner can be told.
    """
    repaired = nbformat.from_dict(json.loads(json.dumps(nb)))
    released = {grade_meta(c)["grade_id"]: c for c in release_nb.cells if grade_meta(c).get("grade_id")}
    notes, seen = [], set()
    for index, cell in enumerate(repaired.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id not in released or grade_id in seen:
            cell.metadata.pop("nbgrader")
            what = "repeats" if grade_id in seen else "matches no cell of"
            notes.append(f"cell {index}: its nbgrader metadata {what} the release; it is graded as an ordinary cell")
            continue
        seen.add(grade_id)
        original = released[grade_id]
        changed = []
        if dict(meta) != dict(original.metadata.nbgrader):
            changed.append("nbgrader metadata")
        if cell.cell_type != original.cell_type:
            changed.append("cell type")
            cell.cell_type = original.cell_type
            if original.cell_type == "code":
                cell["outputs"], cell["execution_count"] = [], None
            else:
                cell.pop("outputs", None)
                cell.pop("execution_count", None)
        cell.metadata["nbgrader"] = json.loads(json.dumps(original.metadata.nbgrader))
        if original.metadata.nbgrader.get("locked") and cell.source != original.source:
            changed.append("locked source")
            cell.source = original.source
        if changed:
            kind = "test cell" if is_test_cell(original) else "answer cell" if is_solution_cell(original) else "cell"
            notes.append(f"{kind} {grade_id}: its {' and '.join(changed)} had been edited; restored from the release")
    return repaired, notes


def _as_notebook(submission) -> nbformat.NotebookNode:
    """A submission given as a path, or as a notebook of any nbformat version, as a version-4 NotebookNode."""
    if isinstance(submission, (str, os.PathLike)):
        return read_notebook(submission)
    nb = nbformat.from_dict(json.loads(json.dumps(submission)))  # a copy: converting works in place
    if nb.get("nbformat", NB_VERSION) != NB_VERSION:
        nb = nbformat.convert(nb, NB_VERSION)
    return nbformat.from_dict(nb)


def autograde(
    chapter: Chapter,
    submissions: dict[str, str | Path | nbformat.NotebookNode],
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    workdir: str | Path | None = None,
    hide: list[str | Path] = (),
) -> dict[str, GradeReport]:
    """Grade notebooks with the chapter's hidden tests; return a report per student.

    `submissions` maps a student id to a notebook path or object. The grading
    happens in a fresh nbgrader course under `workdir` (a temporary folder by
    default), built from the chapter's source, so hidden tests are restored
    into every test cell and deleted or edited test cells come back as they
    were released. Kernels run in a sandbox where the platform has one
    (course_lib.grader.sandbox); `hide` adds paths no kernel may read (the
    learner's own file).
    """
    own_tmp = workdir is None
    course = Path(tempfile.mkdtemp(prefix="course-grade-")) if own_tmp else Path(workdir)
    try:
        course.mkdir(parents=True, exist_ok=True)
        hide = [Path(p) for p in hide] + [Path(p) for p in submissions.values() if isinstance(p, (str, os.PathLike))]
        write_course_config(course, cell_timeout, hide)
        shutil.copytree(chapter.source.parent, course / "source" / chapter.name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        done = run_nbgrader(["generate_assignment", chapter.name, "--force"], course)
        if done.returncode != 0:
            raise CourseError(f"nbgrader could not build the assignment: {done.stderr.strip()[-500:]}")
        release_nb = read_notebook(course / "release" / chapter.name / f"{chapter.name}.ipynb")
        repairs, written = {}, {}
        for student, submission in submissions.items():
            target = course / "submitted" / student / chapter.name
            shutil.copytree(course / "release" / chapter.name, target)
            written[student], repairs[student] = repair_submission(_as_notebook(submission), release_nb)
            nbformat.write(written[student], str(target / f"{chapter.name}.ipynb"))
        done = run_nbgrader(["autograde", chapter.name, "--create", "--force"], course)
        reports = {}
        for student in submissions:
            reports[student] = _read_report(chapter, course, student, done)
            reports[student].repairs = repairs[student]
        for student in submissions:
            graded_path = course / "autograded" / student / chapter.name / f"{chapter.name}.ipynb"
            if not graded_path.exists() and len(submissions) > 1:
                # nbgrader stopped on this notebook (a kernel that did not start in time on a busy machine):
                # once more, on its own; a notebook that cannot be graded fails again and says why
                again = autograde(chapter, {student: written[student]}, cell_timeout, hide=hide)[student]
                again.repairs = repairs[student] + ["nbgrader could not grade it with the class; graded again "
                                                    "on its own"]
                reports[student] = again
                continue
            if graded_path.exists() and len(submissions) > 1 and _answers_changed(written[student], graded_path):
                # Code in another submission rewrote this one's file before or while it was graded
                # (the kernels share the course folder): grade it again on its own.
                alone = autograde(chapter, {student: written[student]}, cell_timeout, hide=hide)[student]
                alone.repairs = repairs[student] + ["its file was changed while the class was graded (by code in "
                                                    "another submission?); graded again on its own"]
                reports[student] = alone
        return reports
    finally:
        if own_tmp:
            shutil.rmtree(course, ignore_errors=True)


def _answers_changed(written, graded_path: Path) -> bool:
    """Whether the graded notebook's answers differ from the ones handed to nbgrader."""
    try:
        graded = nbformat.read(str(graded_path), as_version=NB_VERSION)
    except Exception:
        return True
    return {k: v.strip() for k, v in solution_sources(graded).items()} != \
        {k: v.strip() for k, v in solution_sources(written).items()}


def _failure_reason(log: list[str], student: str) -> str:
    """Why nbgrader wrote no graded notebook for this student: the last line of the traceback it logged for
    that student's notebook (its closing "Please see the above traceback" names nobody)."""
    start = next((i for i, line in enumerate(log) if "error processing assignment:" in line
                  and f"/{student}/" in line.replace(os.sep, "/")), None)
    if start is not None:
        block = []
        for line in log[start + 1:]:
            if line.startswith("[") and "AutogradeApp" in line and "Traceback" not in line and block:
                break
            block.append(line.strip())
        found = [line for line in block if line and not line.startswith(("[", "File ", "^", "~"))
                 and set(line) != {"-"}]
        # nbclient's timeouts put the cell's source after their message: the message is the news
        said = [line for line in found if "timed out" in line or "The message was" in line]
        if said:
            return " ".join(said)
        if found:
            return found[-1]
    unresponsive = next((line for line in log if "became unresponsive" in line), None)
    if unresponsive is not None:
        return "the kernel became unresponsive and could not be interrupted"
    return next((line for line in reversed(log) if "ERROR" in line or "Error" in line), log[-1] if log else "")


def _read_report(chapter: Chapter, course: Path, student: str, run: subprocess.CompletedProcess) -> GradeReport:
    from nbgrader.api import Gradebook, MissingEntry

    graded_path = course / "autograded" / student / chapter.name / f"{chapter.name}.ipynb"
    exercises = exercises_of(read_notebook(chapter.source))
    if not graded_path.exists():
        reason = _failure_reason((run.stdout + run.stderr).strip().splitlines(), student)
        return GradeReport(student, [CellGrade(e.grade_id, e.title, 0.0, e.points, f"not graded: {reason}")
                                     for e in exercises])
    graded = nbformat.read(str(graded_path), as_version=NB_VERSION)
    feedback = {grade_meta(c).get("grade_id"): _error_text(c) for c in graded.cells if is_test_cell(c)}
    answer_errors = {grade_meta(c).get("grade_id"): _error_text(c) for c in graded.cells if is_solution_cell(c)}
    # (cells that could not run after a dead kernel are not errors of their own)
    other_errors = [f"cell {i}: {_error_text(c)}" for i, c in enumerate(graded.cells)
                    if c.cell_type == "code" and not is_test_cell(c) and not is_solution_cell(c) and _error_text(c)
                    and not _error_text(c).startswith(NOT_RUN)]
    # The score is nbgrader's own rule (determine_grade) applied to the graded notebook, not
    # read from the gradebook: the gradebook is
    # a file the graded kernel could reach and write. A disagreement is reported.
    from nbgrader.utils import determine_grade

    earned = {grade_meta(c).get("grade_id"): float(determine_grade(c)[0] or 0.0)
              for c in graded.cells if is_test_cell(c)}
    cells, tampered = [], []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for exercise in exercises:
            score = min(earned.get(exercise.grade_id, 0.0), exercise.points)
            try:
                grade = gradebook.find_grade(exercise.grade_id, chapter.name, chapter.name, student)
                recorded = float(grade.score or 0.0)
            except MissingEntry:
                recorded = 0.0
            if recorded != score:
                tampered.append(f"{exercise.grade_id}: the gradebook says {recorded:g} points, the graded notebook "
                                f"{score:g} (changed by code in the notebook?)")
            message = feedback.get(exercise.grade_id, "")
            # A broken answer cell (a syntax error, say) makes the test fail with
            # a confusing NameError; the answer cell's own error is the real news.
            broken = [answer_errors[s] for s in exercise.solution_ids if answer_errors.get(s)]
            killer = [s for s in exercise.solution_ids if answer_errors.get(s, "").startswith("the kernel died")]
            if killer:
                message = (f"the kernel died while running your answer cell {killer[0]} ({DEATH_CAUSES}); "
                           "nothing after it could run")
            elif broken and message and not message.startswith(NOT_RUN):
                verb = "" if broken[0].startswith(("timed out", "not answered")) else "raised "
                message = f"your answer cell {verb}{broken[0]}; so the test failed with {message}"
            cells.append(CellGrade(exercise.grade_id, exercise.title, score, exercise.points, message))
    return GradeReport(student, cells, other_errors, tampered=tampered)
