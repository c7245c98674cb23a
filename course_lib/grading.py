"""The grader's public API under its earlier name: everything here lives in course_lib.grader."""
from course_lib.grader import *  # noqa: F401,F403
from course_lib.grader import __all__  # noqa: F401
