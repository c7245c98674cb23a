"""Verdicts decided outside the learner's process.

Under autograde the learner's kernel runs the notebook's ordinary and answer
cells, and nothing else. Each test cell (visible checks and hidden tests) runs
here instead, in the grader's verdict process: a plain Python process that
imports the notebook's libraries from the trusted source notebook and binds
every other name the test needs to a proxy. Calling a proxy sends the
arguments to the kernel (pickled: the grader's data, the trusted direction),
where course_lib/grader/answer_server.py calls the learner's function and sends the
result back as plain data (course_lib/grader/plain.py), which this process decodes
without importing or unpickling anything the kernel made. The test's asserts,
its expected values and the library functions it compares with all live here,
out of the graded code's reach; so does the test's source, which never enters
the kernel or its history.

What a proxy keeps of the notebook's semantics:
- arguments changed in place (an optimizer step, clipped gradients, a
  generator's state) change the grader's objects too: every tensor reachable
  from the arguments is sent back and copied into its original;
- gradients: an output that depends on a differentiable argument is joined to
  the grader's autograd graph by `_RemoteFunction`, whose backward asks the
  kernel for the gradients;
- a function the test passes in (a step function that counts its calls) runs
  here, called back from the kernel through Jupyter's input channel;
- objects the learner builds (an nn.Module of theirs) stay in the kernel as
  handles (`RemoteObject`): calls, attributes and iteration go there;
- an error raised by the learner's code comes back with its type name, its
  message and the notebook's frames, as in the Lab.

The process speaks to the executor (course_lib/grader/executor.py) through a pipe:
one JSON line per test cell in, one JSON line of outputs out.
"""
from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import importlib
import io
import json
import os
import pickle
import sys
import time
import traceback
import types

from . import answer_server, plain

REPLY_LIMIT = 300 * 2**20  # characters of one kernel reply
_LINK = None  # the graded kernel, in the verdict process only


def in_kernel(fn):
    """`fn` itself in a notebook; in the verdict process, `fn` run in the graded kernel.

    For the few checks whose calls must happen where the learner's code lives:
    processes that fork from the kernel and join the learner's collectives
    (chapter 10's gradient averaging). `fn` must be a library function (it is
    pickled by name); what it returns comes back as plain data and is judged here.
    """
    if _LINK is None:
        return fn

    def run(*args, **kwargs):
        return _LINK.call(("object", fn), args, kwargs)

    return run


class RemoteError(Exception):
    """An exception raised by the learner's code in the kernel (its type was not a builtin)."""


class KernelTimeout(Exception):
    """The learner's function did not return in time; the executor then stops the kernel's work."""


class KernelLink:
    """A second Jupyter client of the graded kernel, used by the verdict process only."""

    def __init__(self, connection_info: dict, call_timeout: float):
        from jupyter_client import BlockingKernelClient

        info = dict(connection_info)
        info["key"] = info.get("key", "")
        self.client = BlockingKernelClient()
        self.client.load_connection_info(info)
        self.client.start_channels()
        self.call_timeout = call_timeout
        self.callbacks: dict[int, object] = {}
        self.traced: set[str] = set()
        self.printed: list[str] = []
        self._calls = 0
        # tensors the test read from an object in the kernel: [tensor, handle, attribute, value when last synced]
        self.tracked: list[list] = []

    # -- the wire -------------------------------------------------------------

    def request(self, message: dict) -> dict:
        payload = base64.b64encode(self._pickle(message)).decode()
        code = f"__import__('course_lib.grader.answer_server').grader.answer_server.handle({payload!r})"
        msg_id = self.client.execute(code, silent=False, store_history=False, allow_stdin=True,
                                     stop_on_error=False)
        reply, deadline, idle = None, time.monotonic() + self.call_timeout, False
        import zmq

        poller = zmq.Poller()
        poller.register(self.client.iopub_channel.socket, zmq.POLLIN)
        poller.register(self.client.stdin_channel.socket, zmq.POLLIN)
        while not idle:
            if time.monotonic() > deadline:
                raise KernelTimeout(f"your code did not return within {self.call_timeout:.0f} s (an infinite loop?)")
            poller.poll(200)
            while self.client.stdin_channel.msg_ready():
                self._answer_input(self.client.get_stdin_msg(timeout=1))
            while self.client.iopub_channel.msg_ready():
                msg = self.client.get_iopub_msg(timeout=1)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "display_data" and answer_server.MIME in content.get("data", {}):
                    text = content["data"][answer_server.MIME]
                    if not isinstance(text, str) or len(text) > REPLY_LIMIT:
                        raise plain.NotPlainData("the kernel's reply is too large")
                    reply = json.loads(text)
                elif kind == "stream":
                    self.printed.append(str(content.get("text", "")))
                elif kind == "error":  # the request itself failed: the notebook broke the server
                    reply = {"error": {"type": str(content.get("ename", "Error")), "builtin": False,
                                       "message": str(content.get("evalue", "")), "frames": []}}
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
        if not isinstance(reply, dict):
            raise RemoteError("the notebook's kernel gave no answer (its course_lib.grader.answer_server was replaced?)")
        return reply

    def _answer_input(self, msg) -> None:
        prompt = str(msg.get("content", {}).get("prompt", ""))
        if not prompt.startswith(answer_server.CALLBACK_PROMPT):
            self.client.input("")  # input() in the learner's code during grading reads nothing
            return
        try:
            request = json.loads(prompt[len(answer_server.CALLBACK_PROMPT):])
            args, kwargs = plain.decode(request["args"], make_handle=self._remote)
            value = self.callbacks[int(request["callback"])](*args, **kwargs)
            outcome = {"value": self._pickle(value)}
        except Exception as error:  # noqa: BLE001 - reported to the kernel as the callback's error
            outcome = {"error": f"{type(error).__name__}: {error}"}
        self.client.input(base64.b64encode(pickle.dumps(outcome)).decode())

    def _pickle(self, value) -> bytes:
        link = self
        buffer = io.BytesIO()

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, RemoteObject):
                    return ("handle", object.__getattribute__(obj, "_ident"))
                if _is_tensor(obj) and obj.requires_grad and not obj.is_leaf:
                    return ("grad_input", obj.detach())
                if isinstance(obj, (types.FunctionType, types.MethodType)) and _defined_by_test(obj):
                    ident = len(link.callbacks) + 1
                    link.callbacks[ident] = obj
                    return ("callback", ident, getattr(obj, "__name__", "callback"))
                return None

        Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        return buffer.getvalue()

    def _remote(self, handle: plain.Handle) -> RemoteObject:
        # a class named as the kernel's, so that a message saying "got <type>" names what the learner returned
        name = handle.type_name if handle.type_name.isidentifier() else "object"
        cls = _REMOTE_CLASSES.setdefault(name, type(name, (RemoteObject,), {"__module__": "notebook"}))
        return cls(self, handle.ident, handle.type_name, handle.callable, handle.module)

    def _value(self, reply: dict):
        if "error" in reply:
            raise _rebuilt_error(reply["error"])
        return plain.decode(reply["value"], make_handle=self._remote)

    # -- tensors read from the kernel's objects stay in step with them ----------

    def _sync_out(self) -> None:
        """Send the kernel the attribute tensors the test changed here (`layer.lora_A.copy_(A)`)."""
        import torch

        for entry in self.tracked:
            tensor, ident, name, synced = entry
            if tensor.shape != synced.shape or not torch.equal(tensor.detach(), synced):
                self._value(self.request({"op": "setdata", "target": ident, "name": name,
                                          "value": tensor.detach().clone()}))
                entry[3] = tensor.detach().clone()

    def _refresh(self) -> None:
        """Read the attribute tensors again after the kernel ran code (a forward, a backward, a step)."""
        import torch

        for entry in self.tracked:
            tensor, ident, name, _ = entry
            fresh = self._value(self.request({"op": "getattr", "target": ident, "name": name}))
            if not _is_tensor(fresh):
                continue
            with torch.no_grad():
                if tensor.shape == fresh.shape and tensor.dtype == fresh.dtype:
                    tensor.copy_(fresh)
                else:
                    tensor.data = fresh.detach()
            tensor.grad = fresh.grad
            entry[3] = tensor.detach().clone()

    def getattr_of(self, ident: int, name: str):
        self._sync_out()
        value = self._value(self.request({"op": "getattr", "target": ident, "name": name}))
        if _is_tensor(value):
            self.tracked = [e for e in self.tracked if e[0] is not value][-63:] + [[value, ident, name,
                                                                                      value.detach().clone()]]
        return value

    # -- what proxies ask ------------------------------------------------------

    def lookup(self, name: str):
        reply = self.request({"op": "lookup", "name": name})
        if reply.get("missing"):
            raise NameError(f"name {name!r} is not defined in your notebook (did its cell run?)")
        return self._value(reply)

    def call(self, target: tuple, args: tuple, kwargs: dict):
        import torch

        self._calls += 1
        call_id = self._calls
        self._sync_out()
        args = tuple(_one_shot(a) for a in args)
        kwargs = {k: _one_shot(v) for k, v in kwargs.items()}
        originals = answer_server.tensors_in([list(args), kwargs])
        grads = [t.grad if _is_tensor(t) and t.is_leaf else None for t in originals]
        reply = self.request({"op": "call", "target": target, "args": list(args), "kwargs": kwargs,
                              "call_id": call_id, "write_back": True, "grads": grads,
                              "rng": torch.get_rng_state()})
        self.traced.update(reply.get("traced", []))
        if reply.get("rng") is not None and "error" not in reply:  # one global generator, as in the notebook
            state = plain.decode(reply["rng"])
            if _is_tensor(state) and state.dtype == torch.uint8:
                torch.set_rng_state(state)
        self._refresh()
        value = self._value(reply)
        if reply.get("written") is not None:
            _write_back(originals, plain.decode(reply["written"]))
        if reply.get("optimizers") is not None:  # Adam's moments, momentum buffers: the next step needs them
            for optimizer, state in zip(answer_server.optimizers_in([list(args), kwargs]),
                                        plain.decode(reply["optimizers"])):
                optimizer.load_state_dict(state)
        if reply.get("differentiable"):
            differentiable = [t for t in answer_server.plain_tensors(value) if t.requires_grad]
            inputs = [t for t in originals if _is_tensor(t) and t.requires_grad]
            anchor = torch.zeros((), requires_grad=True)  # so that backward reaches the kernel's own parameters
            joined = _RemoteFunction.apply(self, call_id, len(differentiable), anchor, *inputs,
                                           *[t.detach() for t in differentiable])
            value = _replace_tensors(value, {id(t): j for t, j in zip(differentiable, joined)})
        return value

    def backward(self, call_id: int, grad_outputs) -> list:
        reply = self.request({"op": "backward", "call_id": call_id, "grad_outputs": list(grad_outputs)})
        self._refresh()
        return self._value(reply)


def _one_shot(value):
    """A generator or iterator argument, as a OneShot (a generator cannot be pickled)."""
    if hasattr(value, "__next__") and not _is_tensor(value) and not isinstance(value, RemoteObject):
        return answer_server.OneShot(value)
    return value


def _is_tensor(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _defined_by_test(fn) -> bool:
    """A function written in a test cell (it runs here, called back from the kernel)."""
    fn = getattr(fn, "__func__", fn)
    return getattr(fn, "__module__", None) in (None, "__verdict__") or "<locals>" in getattr(fn, "__qualname__", "")


def _write_back(originals: list, written: list) -> None:
    """Copy the kernel's values of in-place-changed arguments into the grader's originals."""
    import torch

    for original, (value, grad) in zip(originals, written):
        if isinstance(original, torch.Generator) and grad == "generator" and _is_tensor(value):
            original.set_state(value)
            continue
        if not _is_tensor(original) or not _is_tensor(value):
            continue
        with torch.no_grad():
            if original.shape == value.shape and original.dtype == value.dtype:
                if not torch.equal(original, value) and not (original.requires_grad and not original.is_leaf):
                    original.copy_(value)
            elif original.is_leaf:
                original.data = value
        if original.is_leaf and original.requires_grad != value.requires_grad and (
                original.is_floating_point() or original.is_complex()):
            original.requires_grad_(value.requires_grad)  # a layer frozen by the learner's code
        if grad is None:
            if original.is_leaf and original.grad is not None:
                original.grad = None
        elif original.is_leaf and (original.grad is None or original.grad.shape != grad.shape
                                   or not torch.equal(original.grad, grad)):
            original.grad = grad.detach().to(original.dtype if original.is_floating_point() else grad.dtype)


def _replace_tensors(value, mapping: dict):
    if id(value) in mapping:
        return mapping[id(value)]
    if type(value) is list:
        return [_replace_tensors(v, mapping) for v in value]
    if type(value) is tuple:
        return tuple(_replace_tensors(v, mapping) for v in value)
    if type(value) is dict:
        return {k: _replace_tensors(v, mapping) for k, v in value.items()}
    return value


def _autograd_function():
    import torch

    class RemoteFunction(torch.autograd.Function):
        """Outputs computed in the kernel, joined to this process's graph; backward asks the kernel."""

        @staticmethod
        def forward(ctx, link, call_id, count, anchor, *rest):
            ctx.link, ctx.call_id, ctx.inputs = link, call_id, len(rest) - count
            return tuple(t.clone() for t in rest[len(rest) - count:])

        @staticmethod
        def backward(ctx, *grad_outputs):
            grads = ctx.link.backward(ctx.call_id, grad_outputs)
            return (None, None, None, None, *grads, *[None] * len(grad_outputs))

    return RemoteFunction


class _LazyFunction:
    def __init__(self):
        self.fn = None

    def apply(self, *args):
        if self.fn is None:
            self.fn = _autograd_function()
        return self.fn.apply(*args)


_RemoteFunction = _LazyFunction()


def _rebuilt_error(error: dict) -> BaseException:
    """The learner's exception as this process can raise it: a builtin type by name, else RemoteError."""
    name = str(error.get("type", "Error"))
    cls = getattr(builtins, name, None) if error.get("builtin") else None
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        safe = name if name.isidentifier() else "Error"
        cls = type(safe, (RemoteError,), {})
    try:
        raised = cls(str(error.get("message", "")))
    except Exception:  # a builtin whose constructor wants other arguments
        raised = RemoteError(f"{name}: {error.get('message', '')}")
    raised.__course_frames__ = [f for f in error.get("frames", []) if isinstance(f, dict)]
    return raised


_REMOTE_CLASSES: dict[str, type] = {}


class RemoteObject:
    """An object that lives in the graded kernel: a learner's function, class or instance."""

    __course_opaque__ = True

    def __init__(self, link, ident, type_name, is_callable, is_module):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_ident", ident)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_module", is_module)
        object.__setattr__(self, "__name__", type_name)

    def __call__(self, *args, **kwargs):
        return object.__getattribute__(self, "_link").call(("handle", object.__getattribute__(self, "_ident")),
                                                           args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__", "__doc__"):
            raise AttributeError(name)
        return object.__getattribute__(self, "_link").getattr_of(object.__getattribute__(self, "_ident"), name)

    def __setattr__(self, name, value):
        link = object.__getattribute__(self, "_link")
        link._sync_out()
        link._value(link.request({"op": "setattr", "target": object.__getattribute__(self, "_ident"),
                                  "name": name, "value": value}))
        link._refresh()

    @property
    def __class__(self):
        """An nn.Module of the learner's passes isinstance(x, nn.Module), as it does in the notebook."""
        if object.__getattribute__(self, "_module"):
            import torch

            return torch.nn.Module
        return type(self)

    def __iter__(self):
        return iter(_remote_builtin(self, "list"))

    def __len__(self):
        return _remote_builtin(self, "len")

    def __getitem__(self, key):
        return _remote_builtin(self, "getitem", key)

    def __contains__(self, key):
        return _remote_builtin(self, "contains", key)

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_type_name')} in the notebook's kernel>"

    @property
    def __globals__(self):
        return RemoteGlobals(object.__getattribute__(self, "_link"))


def _remote_builtin(obj: RemoteObject, name: str, *args):
    link = object.__getattribute__(obj, "_link")
    return link.call(("builtin", name), (obj, *args), {})


class RemoteGlobals:
    """The kernel's namespace, for checks that swap one name while they call the learner's function."""

    def __init__(self, link):
        self.link = link

    def __contains__(self, name):
        return self.link.request({"op": "lookup", "name": name}).get("missing") is None

    def __getitem__(self, name):
        return self.link.lookup(name)

    def __setitem__(self, name, value):
        self.link._value(self.link.request({"op": "setglobal", "name": name, "value": value}))


# --------------------------------------------------------------------------
# The test cells' namespace
# --------------------------------------------------------------------------

class TestNamespace(dict):
    """Names a test cell reads: the source notebook's imports first, else the kernel's value."""

    def __init__(self, link: KernelLink):
        super().__init__(__name__="__verdict__", __builtins__=builtins)
        self.link = link

    def __missing__(self, name):
        if hasattr(builtins, name):
            return getattr(builtins, name)
        value = self.link.lookup(name)
        self[name] = value
        return value


def imports_of(source: str) -> str:
    """The import statements of a cell (what a test cell may use from the notebook's setup)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(ast.unparse(node) for node in kept)


def run_cell(namespace: TestNamespace, source: str, label: str) -> dict:
    """Run one test cell here; its outputs as nbformat dicts and the ready-made calls seen."""
    link = namespace.link
    link.traced, link.printed = set(), []
    printed = io.StringIO()
    outputs, error = [], None
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            exec(compile(source, label, "exec"), namespace)
        except BaseException as raised:  # noqa: BLE001 - the test's failure is the verdict
            error = raised
    text = "".join(link.printed) + printed.getvalue()
    if text:
        outputs.append({"output_type": "stream", "name": "stdout", "text": text})
    timed_out = isinstance(error, KernelTimeout)
    if timed_out:  # as nbgrader names a cell that ran past its limit
        outputs.append({"output_type": "error", "ename": "CellTimeoutError", "evalue": str(error),
                        "traceback": [f"CellTimeoutError: {error}"]})
    elif error is not None:
        outputs.append(_error_output(error))
    return {"outputs": outputs, "traced": sorted(link.traced), "timed_out": timed_out}


def _error_output(error: BaseException) -> dict:
    name = type(error).__name__
    lines = []
    for frame in getattr(error, "__course_frames__", []):
        lines.append(f"Cell In[0], line {frame.get('line')}, in {frame.get('name')}")
        if frame.get("text"):
            lines.append(f"    {frame['text']}")
    message = str(error)
    lines.append(f"{name}: {message}")
    return {"output_type": "error", "ename": name, "evalue": message, "traceback": lines}


def main() -> None:
    """The verdict process: read the kernel's connection and the notebook's setup, then test cells."""
    channel = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    setup = json.loads(sys.stdin.readline())
    global _LINK
    link = _LINK = KernelLink(setup["connection"], setup["call_timeout"])
    namespace = TestNamespace(link)
    with contextlib.redirect_stdout(io.StringIO()):
        for source in setup["imports"]:
            try:
                exec(compile(source, "<setup>", "exec"), namespace)
            except Exception:  # an import the grader lacks: the test cell will say which name
                traceback.print_exc(file=sys.stderr)
        # objects the chapter's checks build for the tests, rather than reading them from the kernel
        try:
            checks = importlib.import_module(f"course_lib.checks.{setup['topic']}") if setup.get("topic") else None
        except ImportError:
            checks = None
        if checks is not None and hasattr(checks, "verdict_context"):
            namespace.update(checks.verdict_context())
    channel.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        cell = json.loads(line)
        result = run_cell(namespace, cell["source"], cell["label"])
        channel.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    # run as course_lib.grader.verdict, not as __main__: in_kernel and RemoteObject must be the module's own
    from course_lib.grader import verdict

    verdict.main()
