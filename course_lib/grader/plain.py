"""Plain data: what the graded kernel may hand back to the grader.

The grader decides every verdict in its own process and never imports or
unpickles anything the learner's kernel made. What crosses from the kernel
is built only from these: None, bool, int, float, str, bytes, lists, tuples,
dicts, torch tensors (a plain `torch.Tensor` or `nn.Parameter`, dense, sent as
safetensors bytes), numpy arrays and scalars, torch dtypes, sizes and devices,
a few of torch's own layers by value (`nn.Linear`, `nn.Embedding`, `nn.LayerNorm`:
their sizes and weights), and handles (a number naming an object that stays
in the kernel). `encode`
runs in the kernel and refuses anything else with a message that names the
type (a tensor subclass with `__torch_function__` is refused, not converted:
it could answer comparisons). `decode` runs in the grader: it reads JSON and
safetensors, nothing that can run code, and caps sizes.
"""
from __future__ import annotations

import base64
import math

MAX_BYTES = 256 * 2**20  # one reply's tensors at most (a graded call returns small tensors)
MAX_ITEMS = 200_000  # nodes of one reply's structure
MAX_DEPTH = 40


class NotPlainData(TypeError):
    """The answer returned something the grader cannot take as plain data."""


class Handle:
    """An object that stays in the kernel, named by a number; see verdict.RemoteObject."""

    def __init__(self, ident: int, type_name: str, callable_: bool, module: bool):
        self.ident, self.type_name, self.callable, self.module = ident, type_name, callable_, module


# --------------------------------------------------------------------------
# In the kernel: values -> JSON-able tree + tensors
# --------------------------------------------------------------------------

# torch layers sent by value: class -> the constructor's arguments read from an instance
LAYERS = {
    "Linear": lambda m: {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None},
    "Embedding": lambda m: {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim},
    "LayerNorm": lambda m: {"normalized_shape": list(m.normalized_shape), "eps": m.eps,
                            "elementwise_affine": m.elementwise_affine, "bias": getattr(m, "bias", None) is not None},
}


def encode(value, keep_handle=None, layers_by_value=True) -> dict:
    """{"tree": JSON-able, "tensors": base64 safetensors} for `value`.

    `keep_handle(obj) -> int`, when given, stores an object that is not plain
    data in the kernel and returns its number; without it such objects raise
    NotPlainData. With `layers_by_value`, the torch layers in LAYERS are sent
    as their sizes and weights (a function that returns a new nn.Linear).
    """
    import torch
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}

    def walk(x, depth):
        if depth > MAX_DEPTH:
            raise NotPlainData("the value is nested too deeply")
        if x is None or type(x) in (bool, str):
            return x
        if type(x) is int:
            return x if abs(x) < 2**53 else {"$int": str(x)}
        if type(x) is float:
            return x if math.isfinite(x) else {"$float": repr(x)}
        if type(x) is bytes:
            return {"$bytes": base64.b64encode(x).decode()}
        if type(x) in (list, tuple):
            items = [walk(v, depth + 1) for v in x]
            return items if type(x) is list else {"$tuple": items}
        if type(x) is dict:
            return {"$dict": [[walk(k, depth + 1), walk(v, depth + 1)] for k, v in x.items()]}
        if type(x) in (torch.Tensor, torch.nn.Parameter):
            return tensor(x)
        if isinstance(x, torch.Tensor):  # its class decides what comparisons with it return
            raise NotPlainData(f"a {type(x).__qualname__} is a torch.Tensor subclass, not plain data: return a plain "
                               "torch.Tensor")
        if isinstance(x, torch.dtype):
            return {"$dtype": str(x).removeprefix("torch.")}
        if type(x) is torch.Size:
            return {"$size": list(x)}
        if type(x) is torch.device:
            return {"$device": str(x)}
        numpy_value = _numpy(x)
        if numpy_value is not None:
            return numpy_value
        if layers_by_value and type(x).__module__.startswith("torch.nn.modules") and type(x).__name__ in LAYERS:
            dtype = next(iter(x.parameters()), torch.zeros(())).dtype
            return {"$layer": type(x).__name__, "init": LAYERS[type(x).__name__](x), "training": x.training,
                    "dtype": str(dtype).removeprefix("torch."),
                    "state": [[name, tensor(t)] for name, t in x.state_dict(keep_vars=True).items()]}
        if keep_handle is not None:
            return {"$handle": keep_handle(x), "type": type(x).__name__, "callable": callable(x),
                    "module": isinstance(x, torch.nn.Module)}
        raise NotPlainData(f"a {type(x).__module__}.{type(x).__qualname__} is not plain data "
                           "(return tensors, numbers, strings, lists, tuples or dicts)")

    def tensor(t):
        if t.layout != torch.strided or t.is_quantized or t.is_nested:
            raise NotPlainData(f"a {t.layout} tensor is not plain data: return a dense tensor")
        key = str(len(tensors))
        # safetensors wants contiguous CPU storage without shared memory; the grader reads
        # the numbers, not the autograd graph (verdict.py asks the kernel for gradients)
        tensors[key] = t.detach().to("cpu").contiguous().clone()
        described = {"$tensor": key, "requires_grad": bool(t.requires_grad),
                     "parameter": type(t) is torch.nn.Parameter, "device": t.device.type}
        if t.is_leaf and t.grad is not None and type(t.grad) is torch.Tensor:
            described["grad"] = tensor(t.grad)
        return described

    def _numpy(x):
        try:
            import numpy as np
        except ImportError:
            return None
        if type(x) is np.ndarray:
            if x.dtype == object:
                raise NotPlainData("a numpy array of Python objects is not plain data")
            return {"$ndarray": tensor(torch.from_numpy(x.copy()))}
        if isinstance(x, np.generic) and type(x).__module__ == "numpy":
            if isinstance(x, np.bool_):
                return {"$npscalar": "bool", "value": bool(x)}
            if isinstance(x, np.integer):
                return {"$npscalar": str(x.dtype), "value": int(x)}
            if isinstance(x, np.floating):
                return {"$npscalar": str(x.dtype), "value": walk(float(x), 0)}
        return None

    tree = walk(value, 0)
    return {"tree": tree, "tensors": base64.b64encode(save(tensors)).decode() if tensors else ""}


# --------------------------------------------------------------------------
# In the grader: JSON-able tree + tensors -> values
# --------------------------------------------------------------------------

def decode(message: dict, make_handle=None):
    """The value `encode` described; `make_handle(Handle)` turns handles into proxies."""
    import torch
    from safetensors.torch import load

    if not isinstance(message, dict) or not isinstance(message.get("tensors", ""), str):
        raise NotPlainData("a malformed reply")
    blob = message.get("tensors") or ""
    if len(blob) > MAX_BYTES * 4 // 3 + 16:
        raise NotPlainData(f"the reply is larger than {MAX_BYTES // 2**20} MiB")
    tensors = load(base64.b64decode(blob)) if blob else {}
    count = [0]

    def walk(x, depth):
        count[0] += 1
        if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
            raise NotPlainData("the reply is too large or too deep")
        if x is None or type(x) in (bool, int, float, str):
            return x
        if type(x) is list:
            return [walk(v, depth + 1) for v in x]
        if type(x) is not dict or len(x) == 0:
            raise NotPlainData("a malformed reply")
        tag = next(iter(x))
        if tag == "$int":
            return int(str(x[tag]))
        if tag == "$float":
            return float(str(x[tag]))
        if tag == "$bytes":
            return base64.b64decode(str(x[tag]))
        if tag == "$tuple":
            return tuple(walk(v, depth + 1) for v in _list(x[tag]))
        if tag == "$dict":
            result = {}
            for pair in _list(x[tag]):
                key, value = _list(pair)
                key = walk(key, depth + 1)
                if not isinstance(key, (str, int, float, bool, tuple, type(None))):
                    raise NotPlainData("a dict key that is not a string, number or tuple")
                result[key] = walk(value, depth + 1)
            return result
        if tag == "$tensor":
            t = tensors[str(x[tag])]
            differentiable = bool(x.get("requires_grad")) and (t.is_floating_point() or t.is_complex())
            t = torch.nn.Parameter(t, requires_grad=differentiable) if x.get("parameter") else \
                t.requires_grad_(differentiable)
            if "grad" in x:
                grad = walk(x["grad"], depth + 1)
                if isinstance(grad, torch.Tensor) and grad.shape == t.shape:
                    t.grad = grad.detach()
            return t
        if tag == "$layer":
            kind = str(x[tag])
            if kind not in LAYERS:
                raise NotPlainData("an unknown layer")
            init = {str(k): v for k, v in walk({"$dict": [[k, v] for k, v in dict(x["init"]).items()]},
                                                depth + 1).items()}
            dtype = getattr(torch, str(x.get("dtype", "float32")), None)
            if not isinstance(dtype, torch.dtype):
                raise NotPlainData("an unknown dtype")
            try:
                layer = getattr(torch.nn, kind)(**init, dtype=dtype)
                state = {str(name): walk(t, depth + 1) for name, t in _list(x["state"])}
                with torch.no_grad():
                    for name, value in layer.state_dict(keep_vars=True).items():
                        value.copy_(state[name])
                        value.requires_grad_(bool(state[name].requires_grad))
            except (TypeError, KeyError, RuntimeError, ValueError) as error:
                raise NotPlainData(f"a malformed {kind}: {error}") from None
            return layer.train(bool(x.get("training")))
        if tag == "$dtype":
            dtype = getattr(torch, str(x[tag]), None)
            if not isinstance(dtype, torch.dtype):
                raise NotPlainData("an unknown dtype")
            return dtype
        if tag == "$size":
            return torch.Size(int(v) for v in _list(x[tag]))
        if tag == "$device":
            return torch.device(str(x[tag]))
        if tag == "$ndarray":
            return walk(x[tag], depth + 1).detach().numpy()
        if tag == "$npscalar":
            import numpy as np

            kind = str(x[tag])
            if kind == "bool":
                return np.bool_(bool(x["value"]))
            if kind not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                            "float16", "float32", "float64"):
                raise NotPlainData("an unknown numpy scalar type")
            return np.dtype(kind).type(walk(x["value"], depth + 1))
        if tag == "$handle":
            handle = Handle(int(x[tag]), str(x.get("type", "object"))[:100], bool(x.get("callable")),
                            bool(x.get("module")))
            if make_handle is None:
                raise NotPlainData(f"a {handle.type_name} is not plain data")
            return make_handle(handle)
        raise NotPlainData("a malformed reply")

    return walk(message.get("tree"), 0)


def _list(x) -> list:
    if type(x) is not list:
        raise NotPlainData("a malformed reply")
    return x
