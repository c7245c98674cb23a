"""The grading pipeline: release, fill, autograde, and read back the scores.

Both audiences use the same code path. An instructor releases with nbgrader
(`course release` = `nbgrader generate_assignment`); a learner's `course check`
and the test suite grade notebooks by building a throw-away nbgrader course in
a temporary folder, so the learner's file and the repository's gradebook are
never touched.

Layout (docs/design.md, "Layout"): `solutions/NN_topic/NN_topic.ipynb` is the
nbgrader *source*, `notebooks/NN_topic/NN_topic.ipynb` the generated *release*.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .executor import DEATH_CAUSES, KERNEL_DIED, NOT_RUN

NB_VERSION = 4
DEFAULT_CELL_TIMEOUT = 120  # seconds per cell under autograde
# What the release puts in place of a solution (nbgrader_config.py says the same).
CODE_STUB = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


class CourseError(Exception):
    """A problem the user can fix; the CLI prints its message on one line."""


# --------------------------------------------------------------------------
# Where things are
# --------------------------------------------------------------------------

def course_root(start: str | Path | None = None) -> Path:
    """The folder holding nbgrader_config.py and solutions/.

    Searched upwards from `start` (default: the working directory), then from
    this package's own location, so `course` works from any sub-folder of the
    clone and also when run from elsewhere with an editable install.
    """
    candidates = []
    here = Path(start or os.getcwd()).resolve()
    candidates.extend([here, *here.parents])
    package_parent = Path(__file__).resolve().parent.parent
    candidates.extend([package_parent, *package_parent.parents])
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise CourseError(
        "cannot find the course folder (one with nbgrader_config.py and solutions/): "
        "run this from inside your clone of the course"
    )


@dataclass
class Exercise:
    """One graded test cell and the solution cells it grades."""

    grade_id: str  # the test cell's nbgrader grade_id
    title: str  # the closest "Exercise ..." heading above it
    points: float
    solution_ids: list[str] = field(default_factory=list)


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


# --------------------------------------------------------------------------
# Notebooks and their nbgrader cells
# --------------------------------------------------------------------------

def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read and validate a notebook, turning every way it can be broken into a CourseError."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path} does not exist")
    try:
        nb = nbformat.read(path, as_version=NB_VERSION)
        nbformat.validate(nb)
        nb = nbformat.from_dict(nb)  # converted from an older version: the same node type as any other
    except Exception as error:  # JSON errors, schema errors, encoding errors
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CourseError(f"{path} is not a readable notebook ({first_line[:200]})") from None
    return nb


def grade_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution_cell(cell) -> bool:
    return bool(grade_meta(cell).get("solution"))


def is_test_cell(cell) -> bool:
    meta = grade_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def exercises_of(nb) -> list[Exercise]:
    """Group solution cells with the test cell that follows them."""
    result: list[Exercise] = []
    title = None
    pending_solutions: list[str] = []
    for cell in nb.cells:
        meta = grade_meta(cell)
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = re.match(r"#+\s*(Exercise\b.*?)\s*(\(\d+ points?\))?$", line.strip())
                if match:
                    title = match.group(1).strip()
        if is_solution_cell(cell):
            pending_solutions.append(meta["grade_id"])
        elif is_test_cell(cell):
            result.append(
                Exercise(meta["grade_id"], title or meta["grade_id"], float(meta.get("points", 0)), pending_solutions)
            )
            pending_solutions = []
    return result


def solution_sources(nb) -> dict[str, str]:
    """grade_id -> source of every solution cell (the reference answers)."""
    return {grade_meta(c)["grade_id"]: c.source for c in nb.cells if is_solution_cell(c)}


def strip_solution_markers(source: str) -> str:
    """The reference answer as a learner would type it: no nbgrader marker lines."""
    keep = [line for line in source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
    return "\n".join(keep)


def fill_answers(nb, answers: dict[str, str]):
    """A copy of `nb` with the given solution cells' sources replaced.

    This is how tests paste reference answers, mutants and alternative answers
    into a released notebook, exactly where a learner would type them.
    """
    filled = nbformat.from_dict(json.loads(json.dumps(nb)))
    seen = set()
    for cell in filled.cells:
        grade_id = grade_meta(cell).get("grade_id")
        if is_solution_cell(cell) and grade_id in answers:
            cell.source = answers[grade_id]
            seen.add(grade_id)
    missing = set(answers) - seen
    if missing:
        raise CourseError(f"no solution cell with grade_id {sorted(missing)} in the notebook")
    return filled


def reference_answers(chapter: Chapter) -> dict[str, str]:
    return {k: strip_solution_markers(v) for k, v in solution_sources(read_notebook(chapter.source)).items()}


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


# --------------------------------------------------------------------------
# Normalising stored notebooks so regeneration is byte-for-byte repeatable
# --------------------------------------------------------------------------

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _progress_bar_text(model_id: str, widgets: dict) -> str | None:
    """The text of a finished tqdm bar, rebuilt from the stored widget state.

    tqdm draws a notebook bar as an HBox of (HTML left text, FloatProgress,
    HTML right text); the output itself only keeps the text of its first
    frame ("0/500"), which would show a stale bar under a finished run.
    """
    import html

    box = widgets.get(model_id, {})
    children = box.get("state", {}).get("children", [])
    if box.get("model_name") != "HBoxModel" or len(children) != 3:
        return None
    left, bar, right = (widgets.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in children)
    if bar.get("model_name") != "FloatProgressModel":
        return None
    value, top = bar["state"].get("value", 0), bar["state"].get("max", 0) or 1
    filled = max(0, min(10, int(10 * value / top)))
    text = (html.unescape(left.get("state", {}).get("value", "")) + "|" + "█" * filled + " " * (10 - filled) + "|"
            + html.unescape(right.get("state", {}).get("value", "")))
    return text.replace("\u2007", " ")  # tqdm pads its HTML with figure spaces


def _store_progress_bars(nb) -> None:
    """Replace progress-bar widgets by their final text (or drop them when the state is gone)."""
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                kept.append(output)
                continue
            text = _progress_bar_text(view.get("model_id", ""), widgets)
            if text is not None:
                kept.append(nbformat.v4.new_output("display_data", data={"text/plain": text}))
        cell.outputs = kept


def normalize_notebook(nb):
    """Drop what changes from run to run or machine to machine.

    Executed notebooks carry timestamps, the Python patch version and widget
    state; none of it is content, and all of it would make the committed files
    differ from a fresh regeneration. Progress bars are widgets: they are
    stored as the text of the finished bar (a reader of a stored notebook
    sees "100%| 500/500", not the first frame's "0/500").
    """
    _store_progress_bars(nb)
    nb.metadata.pop("widgets", None)
    language_info = nb.metadata.get("language_info")
    if language_info is not None:
        nb.metadata["language_info"] = {"name": language_info.get("name", "python")}
    # ipykernel's own name for its kernel, so a Lab outside `course lab` does not rename it on open
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
    return nb


def write_notebook(nb, path: str | Path) -> None:
    nbformat.write(normalize_notebook(nb), str(path))


# --------------------------------------------------------------------------
# nbgrader in a throw-away course
# --------------------------------------------------------------------------

def environment_bin_dirs() -> list[str]:
    """The folders holding this environment's commands (`course`, `alembic`, `jupyter`).

    `make lab` runs .venv/bin/course without activating the venv, so these
    folders are not on the user's PATH. The server needs them there: nbgrader's
    formgrader runs `alembic` by bare name to create its gradebook, and the
    Lab's terminals inherit the server's PATH, where a learner types `course check`.
    """
    folders = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    return list(dict.fromkeys(folders))  # once each, in order (they are the same folder in a venv)


def environment_with_commands(base: dict | None = None) -> dict:
    """The environment for nbgrader and the Lab's server: `base` (default os.environ) with this environment's commands first on PATH."""
    env = dict(os.environ if base is None else base)
    first = environment_bin_dirs()
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in first]
    env["PATH"] = os.pathsep.join(first + rest)
    return env


def _nbgrader(args: list[str], cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = environment_with_commands()
    # The kernel must find this course_lib even from nbgrader's autograded/ folder.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")]))
    env.pop("COURSE_FAST", None)  # nbgrader sets NBGRADER_EXECUTION itself
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _write_config(course: Path, cell_timeout: int, hide: list[Path] | None = None) -> None:
    """nbgrader's settings for a throw-away course.

    With `hide` given (grading, not releasing), kernels are started through
    course_lib.sandbox: under bubblewrap where it works, and in any case with
    a kernel that ignores interrupts killed instead of waited for. `hide`
    lists paths outside the clone that no kernel may read.
    """
    grading_lines = ""
    if hide is not None:
        grading_lines = ("from course_lib import sandbox\n"
                         f"sandbox.configure(c, {str(course)!r}, {[str(p) for p in hide]!r})\n")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.source_directory = 'source'\n"
        "c.CourseDirectory.release_directory = 'release'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        f"c.Execute.timeout = {int(cell_timeout)}\n"
        "c.Execute.interrupt_on_timeout = True\n"
        "c.OverwriteCells.add_missing_cells = True\n"
        f"c.ClearSolutions.code_stub = {CODE_STUB!r}\n"
        + grading_lines
    )


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
    (course_lib.sandbox); `hide` adds paths no kernel may read (the
    learner's own file).
    """
    own_tmp = workdir is None
    course = Path(tempfile.mkdtemp(prefix="course-grade-")) if own_tmp else Path(workdir)
    try:
        course.mkdir(parents=True, exist_ok=True)
        hide = [Path(p) for p in hide] + [Path(p) for p in submissions.values() if isinstance(p, (str, os.PathLike))]
        _write_config(course, cell_timeout, hide)
        shutil.copytree(chapter.source.parent, course / "source" / chapter.name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        done = _nbgrader(["generate_assignment", chapter.name, "--force"], course)
        if done.returncode != 0:
            raise CourseError(f"nbgrader could not build the assignment: {done.stderr.strip()[-500:]}")
        release_nb = read_notebook(course / "release" / chapter.name / f"{chapter.name}.ipynb")
        repairs, written = {}, {}
        for student, submission in submissions.items():
            target = course / "submitted" / student / chapter.name
            shutil.copytree(course / "release" / chapter.name, target)
            written[student], repairs[student] = repair_submission(_as_notebook(submission), release_nb)
            nbformat.write(written[student], str(target / f"{chapter.name}.ipynb"))
        done = _nbgrader(["autograde", chapter.name, "--create", "--force"], course)
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
        found = [line for line in block if line and not line.startswith(("[", "File ", "^", "~"))]
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


# --------------------------------------------------------------------------
# Release
# --------------------------------------------------------------------------

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
        _write_config(course, DEFAULT_CELL_TIMEOUT)
        for chapter in selected:
            shutil.copytree(chapter.source.parent, course / "source" / chapter.name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            done = _nbgrader(["generate_assignment", chapter.name, "--force", "--no-db"], course)
            if done.returncode != 0:
                raise CourseError(f"nbgrader generate_assignment {chapter.name} failed: {done.stderr.strip()[-800:]}")
            produced = course / "release" / chapter.name
            target = output / chapter.name
            # Keep a learner's work: only the generated notebook and the chapter's
            # own files are replaced; anything else in the folder stays.
            target.mkdir(parents=True, exist_ok=True)
            for item in produced.iterdir():
                destination = target / item.name
                if item.is_dir():
                    shutil.copytree(item, destination, dirs_exist_ok=True)
                elif item.suffix == ".ipynb":
                    write_notebook(nbformat.read(str(item), as_version=NB_VERSION), destination)
                else:
                    shutil.copy2(item, destination)
                written.append(destination)
    return written


# --------------------------------------------------------------------------
# Running a notebook top to bottom (instructors store solution outputs this way)
# --------------------------------------------------------------------------

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
