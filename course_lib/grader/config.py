"""nbgrader's settings for a throw-away course (a release, or a grading run)."""
from __future__ import annotations

from pathlib import Path

from . import sandbox
from .cells import CODE_STUB

DEFAULT_CELL_TIMEOUT = 120  # seconds per cell under autograde


def write_course_config(course: Path, cell_timeout: int, hide: list[Path] | None = None) -> None:
    """nbgrader's settings for a throw-away course.

    With `hide` given (grading, not releasing), kernels are started through
    course_lib.grader.sandbox: under bubblewrap where it works, and in any case with
    a kernel that ignores interrupts killed instead of waited for. `hide`
    lists paths outside the clone that no kernel may read.
    """
    grading_lines = ""
    if hide is not None:
        sandbox.write_policy(course, hide)
        grading_lines = f"from course_lib.grader import sandbox\nsandbox.configure(c, {str(course)!r})\n"
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
