"""The grader's public API as `course_lib.grading` (scripts import it by this name): it lives in course_lib.grader."""
from course_lib.grader import *  # noqa: F401,F403
from course_lib.grader import __all__  # noqa: F401
