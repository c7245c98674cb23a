"""Are the grader's tools still the originals?

In the learner's own Lab the visible checks run in the learner's kernel, so an
answer cell can replace what they compare with (`torch.allclose = lambda *a,
**k: True`), enter a torch function mode that rewrites every result, or
register an IPython hook. This module records the originals when
course_lib.checks is first imported (the notebook's first cell, before any
answer) and every check starts by making sure they are unchanged; a check that
finds them replaced fails and says what was replaced, so a learner is not
fooled by a stray patch of their own.

Grades do not depend on it: under the grader every test cell runs in the
grader's verdict process (course_lib/grader/verdict.py), where no answer's code runs.
"""
from __future__ import annotations

import builtins
import functools
import math
from typing import Callable

import numpy
import torch
import torch.testing

# (owner, attribute name, what a message calls it). Not torch.manual_seed: torch itself
# wraps it again when torch._dynamo is first imported (transformers does that).
WATCHED = [
    (torch, "allclose", "torch.allclose"), (torch, "isclose", "torch.isclose"), (torch, "equal", "torch.equal"),
    (torch, "all", "torch.all"), (torch, "any", "torch.any"), (torch, "abs", "torch.abs"),
    (torch, "max", "torch.max"), (torch, "randn", "torch.randn"),
    (torch.testing, "assert_close", "torch.testing.assert_close"), (torch.Tensor, "__eq__", "Tensor.__eq__"),
    (torch.Tensor, "allclose", "Tensor.allclose"), (torch.Tensor, "item", "Tensor.item"),
    (torch.Tensor, "double", "Tensor.double"), (torch.Tensor, "float", "Tensor.float"),
    (math, "isclose", "math.isclose"), (numpy, "allclose", "numpy.allclose"), (numpy, "isclose", "numpy.isclose"),
    (numpy.testing, "assert_allclose", "numpy.testing.assert_allclose"),
    (builtins, "abs", "abs"), (builtins, "all", "all"), (builtins, "any", "any"), (builtins, "float", "float"),
    (builtins, "isinstance", "isinstance"), (builtins, "len", "len"), (builtins, "max", "max"),
    (builtins, "min", "min"), (builtins, "sum", "sum"), (builtins, "round", "round"), (builtins, "print", "print"),
]
_ORIGINALS = {label: getattr(owner, name) for owner, name, label in WATCHED}


def _shell_hooks() -> tuple | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    return (tuple(shell.input_transformers_post), tuple(shell.ast_transformers))


_SHELL_AT_IMPORT = _shell_hooks()


def replaced_tools() -> list[str]:
    """What no longer is what it was when the checks were imported (empty: all original)."""
    problems = [f"{label} has been replaced" for owner, name, label in WATCHED
                if getattr(owner, name, None) is not _ORIGINALS[label]]
    if torch._C._len_torch_function_stack() > 0:
        problems.append("a torch function mode is active (it can change what every torch call returns)")
    if _SHELL_AT_IMPORT is not None and _shell_hooks() != _SHELL_AT_IMPORT:
        problems.append("IPython's input or AST transformers were changed (they can rewrite later cells)")
    return problems


def verify() -> None:
    """Raise AssertionError if a tool the checks rely on was replaced."""
    problems = replaced_tools()
    if problems:
        raise AssertionError("the check cannot trust its tools: " + "; ".join(problems) +
                             ". Restart the kernel and run the notebook without that code.")


def verified(check: Callable) -> Callable:
    """`check` that first makes sure its tools are the originals."""
    @functools.wraps(check)
    def run(*args, **kwargs):
        verify()
        return check(*args, **kwargs)

    return run  # functools.wraps keeps the check's name and docstring, and run.__wrapped__ is the check
