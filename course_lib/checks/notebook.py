"""What a learner sees when a check runs before its exercise is answered.

The release puts `raise NotImplementedError()` in every answer cell. Running a
check cell (or any demonstration that calls the function) before filling it in
would show a traceback through course_lib's checks, which reads like a bug in
the course. In a Jupyter kernel we turn exactly that case, and only that
case, into one line that says which function is still to be written.

The cell still fails (the kernel reports an error, so the autograder gives no
points and `Run All` stops there); only the traceback text changes. Any other
NotImplementedError, such as one raised by torch for an operation a device
does not support, keeps its full traceback.
"""
from __future__ import annotations

import types

NOT_ANSWERED = "not answered yet"


def _innermost_frame(tb: types.TracebackType | None):
    frame = None
    while tb is not None:
        frame = tb.tb_frame
        tb = tb.tb_next
    return frame


def _is_notebook_file(filename: str) -> bool:
    # ipykernel compiles each cell to /tmp/ipykernel_<pid>/<hash>.py; plain IPython uses <ipython-input-...>
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def unanswered_stub(value: BaseException, tb: types.TracebackType | None) -> str | None:
    """The name of the learner's function whose answer is still the release's stub, or None.

    The stub is a bare `raise NotImplementedError()` written in a notebook
    cell: no message, raised from code the notebook itself defined.
    """
    if type(value) is not NotImplementedError or value.args:
        return None
    frame = _innermost_frame(tb)
    if frame is None or not _is_notebook_file(frame.f_code.co_filename):
        return None
    return frame.f_code.co_name


def not_answered_message(name: str) -> str:
    if name in ("<module>", ""):
        return (f"✗ {NOT_ANSWERED}: an answer cell above still raises NotImplementedError. "
                "Replace `raise NotImplementedError()` with your code and run that cell, then this one.")
    return (f"✗ {NOT_ANSWERED}: `{name}` still raises NotImplementedError. Write your answer in its cell "
            f"in place of `raise NotImplementedError()`, run that cell, then run this one again.")


def _handler(shell, etype, value, tb, tb_offset=None):
    # IPython discards what a custom handler returns: the handler itself must
    # show the error. _showtraceback is what ipykernel overrides to send an
    # "error" output, which is what marks the cell failed for nbgrader.
    name = unanswered_stub(value, tb)
    if name is None:  # not the stub: the usual traceback, untouched
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    else:
        stb = [not_answered_message(name)]
    shell._showtraceback(etype, value, stb)


def install(shell=None) -> bool:
    """Register the handler in the running IPython kernel; False outside one."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    handled = tuple(getattr(shell, "custom_exceptions", ()) or ())
    if NotImplementedError in handled:  # already ours, or the learner's own: leave it
        return True
    if handled:  # someone else's handler: do not replace it
        return False
    shell.set_custom_exc((NotImplementedError,), _handler)
    return True
