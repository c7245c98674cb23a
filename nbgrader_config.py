# nbgrader configuration for instructors (docs/design.md, "Layout"; docs/instructor.md).
# solutions/ holds the source notebooks with answers and hidden tests;
# `nbgrader generate_assignment` (or `course release`) writes notebooks/.
c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "sequence-models-from-scratch"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Training cells train briefly under autograde (course_lib.fast_mode reads
# NBGRADER_EXECUTION); no cell should need more than this.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# A learner who deleted a test cell still gets graded on it.
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# The course is shared through git, so nbgrader's exchange (its release and
# collect buttons) is optional. It lives in the course's own untracked .course/
# folder, so the formgrader finds a working one instead of warning about a
# missing system folder; on a shared server, point it at a shared folder.
import os  # noqa: E402

c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".course", "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# `nbgrader autograde` and the formgrader's Autograde button grade as `course grade` does
# (course_lib/grader/sandbox.py): each kernel in a sandbox where the machine has one (bubblewrap),
# a kernel that ignores interrupts stopped, a dead kernel graded in the same run. Without
# course_lib (nbgrader started from another environment) nbgrader grades as it always does.
try:
    from course_lib.grader import sandbox as _sandbox
except ImportError:
    _sandbox = None
if _sandbox is not None:
    _sandbox.configure(c, os.path.dirname(os.path.abspath(__file__)))
