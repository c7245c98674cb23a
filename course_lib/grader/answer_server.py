"""The graded kernel's side of a verdict: call the learner's code, report plain data.

Under autograde no test runs in the learner's kernel. The grader's verdict
process (course_lib/grader/verdict.py) runs each test cell in its own process and,
whenever the test calls one of the learner's functions, sends the kernel an
execute request that calls `handle` here with the request (a pickle made by
the grader: the trusted direction). This module then calls the function,
and publishes the result as plain data (course_lib/grader/plain.py) in a display
message, which the grader decodes without running anything.

Nothing here is trusted by the grader: code in the notebook can replace any
of it, and all it can gain is to send other numbers, which the grader then
compares with the reference it computed itself. Two things make that
harmless: expected outputs never come here, and calls of a ready-made
version of the exercise made from notebook code while a graded call runs are
recorded (`trace`) and reported, so that computing the reference on the
inputs shows up; the static report (course_lib/grader/integrity.py) flags code that
reaches for the machinery needed to hide such calls.
"""
from __future__ import annotations

import base64
import functools
import io
import json
import operator
import os
import pickle
import sys
import traceback

from . import plain

MIME = "application/x-course-answer+json"
CALLBACK_PROMPT = "\x00course-callback:"

_objects: dict[int, object] = {}  # handle -> object kept for the grader
_calls: dict[int, tuple] = {}  # call id -> (differentiable outputs, inputs whose gradients the grader wants)
_trace = {"active": 0, "called": []}
_library_roots: tuple[str, ...] = ()


# --------------------------------------------------------------------------
# Objects the grader refers to
# --------------------------------------------------------------------------

def _keep(obj) -> int:
    for ident, kept in _objects.items():
        if kept is obj:
            return ident
    ident = len(_objects) + 1
    _objects[ident] = obj
    return ident


class _Unpickler(pickle.Unpickler):
    """The grader's pickle (trusted), with its references to objects that live here resolved."""

    def __init__(self, file):
        super().__init__(file)
        self.resolved: set[int] = set()  # ids of kernel objects the grader named: not the grader's to update

    def persistent_load(self, pid):
        kind = pid[0]
        if kind == "handle":
            self.resolved.add(id(_objects[pid[1]]))
            return _objects[pid[1]]
        if kind == "grad_input":  # a tensor the grader differentiates through: a leaf here
            return pid[1].detach().requires_grad_(True)
        if kind == "callback":
            return _callback(pid[1], pid[2])
        raise pickle.UnpicklingError(f"unknown reference {kind!r}")


def _callback(ident: int, name: str):
    """A function that runs in the grader: its arguments go there as plain data (objects as handles)."""
    from IPython import get_ipython

    def call(*args, **kwargs):
        message = json.dumps({"callback": ident, "args": plain.encode([list(args), kwargs], keep_handle=_keep)})
        reply = get_ipython().kernel.raw_input(CALLBACK_PROMPT + message)
        outcome = pickle.loads(base64.b64decode(reply))  # from the grader
        if outcome.get("error"):
            raise RuntimeError(outcome["error"])
        return _Unpickler(io.BytesIO(outcome["value"])).load()

    call.__name__ = call.__qualname__ = name
    return call


class OneShot:
    """An iterator the test passed (`model.parameters()`), sent as its items and iterable once, as there."""

    def __init__(self, items):
        self.items = list(items)
        self._rest = iter(self.items)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._rest)


# --------------------------------------------------------------------------
# Tensors an argument holds (the grader's objects get their new values back)
# --------------------------------------------------------------------------

def tensors_in(value, seen=None, depth=0, skip=frozenset()) -> list:
    """Every tensor reachable from an argument, once each, in an order both sides compute alike.

    The grader holds the originals of the arguments and the kernel unpickled
    copies; walking both the same way pairs a tensor here with its original
    there, so a function that changes its arguments in place (an optimizer
    step, clipped gradients) changes the grader's objects too.
    """
    import torch

    seen = set() if seen is None else seen
    if depth > 12 or id(value) in seen or id(value) in skip or getattr(type(value), "__course_opaque__", False):
        return []
    seen.add(id(value))
    if isinstance(value, (torch.Tensor, torch.Generator)):  # a generator's state moves on as it is used
        return [value]
    found = []
    if isinstance(value, (list, tuple, OneShot)):
        for item in (value.items if isinstance(value, OneShot) else value):
            found += tensors_in(item, seen, depth + 1, skip)
    elif isinstance(value, dict):
        for item in value.values():
            found += tensors_in(item, seen, depth + 1, skip)
    elif isinstance(value, torch.nn.Module):
        for tensor in [*value.parameters(), *value.buffers()]:
            found += tensors_in(tensor, seen, depth + 1, skip)
    elif isinstance(value, torch.optim.Optimizer):  # its state goes back whole (optimizers_in)
        for group in value.param_groups:
            for p in group["params"]:
                found += tensors_in(p, seen, depth + 1, skip)
    elif type(value).__module__.split(".")[0] in ("torch", "course_lib") and hasattr(value, "__dict__"):
        for key in sorted(vars(value)):
            found += tensors_in(vars(value)[key], seen, depth + 1, skip)
    return found


def optimizers_in(value, skip=frozenset()) -> list:
    """The optimizers among the arguments (in lists, tuples and dicts): their state goes back to the grader."""
    import torch

    if id(value) in skip:
        return []
    if type(value) in (list, tuple):
        return [o for item in value for o in optimizers_in(item, skip)]
    if type(value) is dict:
        return [o for item in value.values() for o in optimizers_in(item, skip)]
    return [value] if isinstance(value, torch.optim.Optimizer) else []


def plain_tensors(value) -> list:
    """The tensors of a returned value, in the order both sides walk it (lists, tuples and dicts only)."""
    if type(value) in (list, tuple):
        return [t for item in value for t in plain_tensors(item)]
    if type(value) is dict:
        return [t for item in value.values() for t in plain_tensors(item)]
    return [value] if type(value).__name__ in ("Tensor", "Parameter") else []


# --------------------------------------------------------------------------
# Ready-made versions called while a graded call runs
# --------------------------------------------------------------------------

def install_trace(names: list[str]) -> int:
    """Wrap the ready-made functions and classes called `names` where they are defined.

    Called before any notebook cell runs, so that every later import or alias
    of them, however it is looked up, reaches the wrapper. A call counts when
    a graded call is running and notebook code is on the stack.
    """
    global _library_roots
    import importlib
    import pkgutil

    import torch

    import course_lib

    roots = {os.path.dirname(course_lib.__file__), os.path.dirname(torch.__file__)}
    for path in sys.path:
        if path.endswith("site-packages"):
            roots.add(path)
    roots.add(os.path.dirname(os.__file__))
    _library_roots = tuple(sorted(roots))
    modules = ["torch.nn.functional", "torch.nn", "torch.nn.utils", "torch.nn.parallel", "torch.amp",
               "torch.utils.flop_counter", "torch.nn.utils.clip_grad"]
    # the grader's own modules and the checks are not the learner's library: they are never an answer
    grader = ("checks", "cli", "grader", "grading", "labserver")
    modules += [m.name for m in pkgutil.walk_packages(course_lib.__path__, prefix="course_lib.")
                if not m.name.removeprefix("course_lib.").startswith(grader)]
    wrapped = 0
    wanted = set(names)
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except Exception:
            continue
        for name in wanted & set(vars(module)):
            target = vars(module)[name]
            if getattr(target, "__course_traced__", False):
                continue
            if isinstance(target, type):
                for method in ("__init__", "forward", "__call__", "step", "scale", "update"):
                    if method in vars(target) and callable(vars(target)[method]):
                        setattr(target, method, _traced(vars(target)[method], f"{module_name}.{name}"))
                        wrapped += 1
                target.__course_traced__ = True
            elif callable(target):
                setattr(module, name, _traced(target, f"{module_name}.{name}"))
                wrapped += 1
    return wrapped


def _traced(fn, label: str):
    @functools.wraps(fn)
    def traced(*args, **kwargs):
        if _trace["active"] and _called_from_notebook():
            _trace["called"].append(label)
        return fn(*args, **kwargs)

    traced.__course_traced__ = True
    return traced


def _called_from_notebook() -> bool:
    """Whether the graded call reached this ready-made function through the notebook's doing.

    Notebook code on the stack counts; so does the graded call itself when nothing but C lies between
    (the learner's name bound straight to it: `from course_lib.attention import f`, or a functools.partial).
    Library code in between that the test handed over (a module's forward) does not.
    """
    frame, through_library = sys._getframe(2), False
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == __file__:  # the graded call's own frame
            return not through_library
        if not filename.startswith(_library_roots):
            return True  # a notebook cell, or code the notebook built at run time
        through_library = True
        frame = frame.f_back
    return False


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------

def handle(payload: str) -> None:
    """Answer one request of the grader's verdict process (see verdict.py)."""
    from IPython import get_ipython
    from IPython.display import publish_display_data

    shell = get_ipython()
    try:
        unpickler = _Unpickler(io.BytesIO(base64.b64decode(payload)))
        request = unpickler.load()
        request["resolved"] = unpickler.resolved
        reply = _answer(shell, request)
    except BaseException as error:  # the learner's exception, reported, not raised here
        reply = {"error": describe_error(error)}
    try:
        message = json.dumps(reply)
    except Exception as error:
        message = json.dumps({"error": describe_error(error)})
    publish_display_data({MIME: message})


def _answer(shell, request: dict) -> dict:
    op = request["op"]
    if op == "lookup":
        name = request["name"]
        if name not in shell.user_ns:
            return {"missing": True}
        return {"value": plain.encode(shell.user_ns[name], keep_handle=_keep, layers_by_value=False)}
    if op == "setglobal":
        shell.user_ns[request["name"]] = request["value"]
        return {"value": plain.encode(None)}
    if op == "getattr":
        value = getattr(_objects[request["target"]], request["name"])
        return {"value": plain.encode(value, keep_handle=_keep, layers_by_value=False)}
    if op == "setdata":  # the grader changed a tensor it had read from an attribute (a test setting weights)
        import torch

        current = getattr(_objects[request["target"]], request["name"])
        with torch.no_grad():
            if current.shape == request["value"].shape:
                current.copy_(request["value"])
            else:
                current.data = request["value"]
        return {"value": plain.encode(None)}
    if op == "setattr":
        setattr(_objects[request["target"]], request["name"], request["value"])
        return {"value": plain.encode(None)}
    if op == "call":
        return _call(shell, request)
    if op == "backward":
        return _backward(request)
    if op == "release":
        for ident in request["calls"]:
            _calls.pop(ident, None)
        return {"value": plain.encode(None)}
    raise ValueError(f"unknown request {op!r}")


def _call(shell, request: dict) -> dict:
    import torch

    target = request["target"]
    if target[0] == "builtin":  # iterating or measuring an object that lives here
        fn = {"list": list, "len": len, "getitem": operator.getitem, "contains": operator.contains}[target[1]]
    elif target[0] == "object":  # a library function the grader wants run here (verdict.in_kernel)
        fn = target[1]
    else:
        fn = _objects[target[1]]
    args, kwargs, skip = request["args"], request["kwargs"], frozenset(request["resolved"])
    before = tensors_in([args, kwargs], skip=skip)
    for t, grad in zip(before, request.get("grads", [])):  # pickling drops .grad: the grader sends them apart
        if grad is not None and isinstance(t, torch.Tensor) and t.is_leaf:
            t.grad = grad
    grad_inputs = [t for t in before if isinstance(t, torch.Tensor) and t.requires_grad and t.is_leaf]
    if request.get("rng") is not None:  # the test's global random state, as if it ran here
        torch.set_rng_state(request["rng"])
    _trace["active"], _trace["called"] = 1, []
    try:
        result = fn(*args, **kwargs)
    finally:
        _trace["active"] = 0
    value = plain.encode(result, keep_handle=_keep)
    outputs = [t for t in plain_tensors(result) if isinstance(t, torch.Tensor) and t.requires_grad]
    if outputs:
        _calls[request["call_id"]] = (outputs, grad_inputs)
    # the same tensors as before the call, as they are now (a tensor the call added is not the grader's)
    changed = plain.encode([[t, t.grad] if isinstance(t, torch.Tensor) else [t.get_state(), "generator"]
                            for t in before]) if request.get("write_back") else None
    optimizers = plain.encode([o.state_dict() for o in optimizers_in([args, kwargs], skip)])
    return {"value": value, "written": changed, "optimizers": optimizers, "rng": plain.encode(torch.get_rng_state()),
            "traced": sorted(set(_trace["called"])),
            "differentiable": len(outputs)}


def _backward(request: dict) -> dict:
    import torch

    outputs, inputs = _calls[request["call_id"]]
    grads = [g if g is not None else torch.zeros_like(o) for g, o in zip(request["grad_outputs"], outputs)]
    saved = [t.grad for t in inputs]
    for t in inputs:
        t.grad = None
    # backward, not autograd.grad: parameters that live here (a module the learner built) get
    # their gradients as they would in the notebook; the grader's inputs get theirs back
    torch.autograd.backward(outputs, grads, retain_graph=True)
    result = [t.grad for t in inputs]
    for t, g in zip(inputs, saved):
        t.grad = g
    return {"value": plain.encode(result)}


def describe_error(error: BaseException) -> dict:
    """The error's type name and message, and the notebook's frames of its traceback."""
    frames = []
    for frame in traceback.extract_tb(error.__traceback__):
        if not frame.filename.startswith(_library_roots or (os.path.dirname(os.path.dirname(__file__)),)):
            frames.append({"cell": frame.filename, "line": frame.lineno, "name": frame.name,
                           "text": (frame.line or "")[:200]})
    return {"type": type(error).__name__[:100], "message": str(error)[:4000],
            "builtin": type(error).__module__ == "builtins", "frames": frames[-8:]}
