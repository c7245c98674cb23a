"""The grader: releasing chapters and grading notebooks, apart from the library a learner studies.

One idea per module, bottom up (each imports only modules above it in this list):

    notebooks      reading and writing notebook files; CourseError
    cells          nbgrader's answer and test cells; exercises
    layout         the course folder and its chapters
    commands       nbgrader and the Lab's server run with this environment's commands
    config         nbgrader's settings for a throw-away course
    plain          the plain data a verdict may carry out of a kernel
    answer_server  (kernel side) answers the verdict process's calls; traces ready-made calls
    verdict        (grader side) runs the test cells, calling into the kernel for the learner's names
    executor       nbgrader's Execute, with test cells sent to the verdict process
    sandbox        each kernel under bubblewrap, without privileges
    autograding    nbgrader autograde in a throw-away course, read back as reports
    releasing      student notebooks generated from the solutions
    integrity_rules, integrity   the report of code that reaches past an exercise
    scoring        the instructor's rule: flagged exercises earn nothing

docs/design.md, "The grading path", follows a notebook through these modules.
The names below are the grader's public API (`course_lib.grading` re-exports them).
"""
from .autograding import DEFAULT_CELL_TIMEOUT, CellGrade, GradeReport, autograde, repair_submission
from .cells import (
                    CODE_STUB,
                    Exercise,
                    exercises_of,
                    fill_answers,
                    grade_meta,
                    is_solution_cell,
                    is_test_cell,
                    solution_sources,
                    strip_solution_markers,
)
from .commands import environment_bin_dirs, environment_with_commands
from .layout import Chapter, chapters, course_root, find_chapter, reference_answers
from .notebooks import NB_VERSION, WIDGET_VIEW, CourseError, normalize_notebook, read_notebook, write_notebook
from .releasing import edited_exercises, execute_notebook, pristine_answers, pristine_release_text, release
from .scoring import awarded_scores

__all__ = [
    "DEFAULT_CELL_TIMEOUT", "CellGrade", "GradeReport", "autograde", "repair_submission",
    "CODE_STUB", "Exercise", "exercises_of", "fill_answers", "grade_meta", "is_solution_cell", "is_test_cell",
    "solution_sources", "strip_solution_markers", "environment_bin_dirs", "environment_with_commands",
    "Chapter", "chapters", "course_root", "find_chapter", "reference_answers",
    "NB_VERSION", "WIDGET_VIEW", "CourseError", "normalize_notebook", "read_notebook", "write_notebook",
    "edited_exercises", "execute_notebook", "pristine_answers", "pristine_release_text", "release",
    "awarded_scores",
]
