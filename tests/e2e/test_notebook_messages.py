"""What a learner sees in the notebook when a check runs before its exercise is answered.

Run in a real kernel (nbclient), as JupyterLab runs the cells: the check cell
still fails (the autograder must give no points), but its output is one line
naming the function still to write, not a traceback through course_lib.
"""
import nbformat
from nbclient import NotebookClient


def _run(*sources: str) -> list:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    return [cell.outputs for cell in nb.cells]


def _error(outputs) -> dict:
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1, outputs
    return errors[0]


def test_unanswered_exercise_says_so_without_a_traceback():
    outputs = _run(
        "from course_lib import checks",
        "def perplexity(logits, targets):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
        "checks.check_perplexity(perplexity)",
        "raise NotImplementedError()",
        "raise NotImplementedError('torch: not supported on this device')",
        "def helper():\n    raise NotImplementedError\nhelper()",
    )
    error = _error(outputs[2])
    assert error.ename == "NotImplementedError"  # the cell still fails: no points, Run All stops
    shown = "\n".join(error.traceback)
    assert "not answered yet" in shown and "`perplexity`" in shown, shown
    assert "Traceback" not in shown and "_common.py" not in shown and "checks" not in shown, shown
    top_level = "\n".join(_error(outputs[3]).traceback)
    assert "not answered yet" in top_level and "answer cell above" in top_level
    # any other NotImplementedError keeps its whole traceback
    other = "\n".join(_error(outputs[4]).traceback)
    assert "not answered yet" not in other and "not supported on this device" in other
    bare_class = "\n".join(_error(outputs[5]).traceback)  # `raise NotImplementedError` (the class) is a stub too
    assert "`helper`" in bare_class


def test_other_errors_keep_their_traceback():
    outputs = _run("from course_lib import checks", "def f():\n    return 1 / 0", "f()")
    shown = "\n".join(_error(outputs[2]).traceback)
    assert "ZeroDivisionError" in shown and "not answered" not in shown
