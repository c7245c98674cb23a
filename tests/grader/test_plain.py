"""What may cross from the learner's kernel to the verdict process (course_lib/grader/plain.py): plain data
only; a tensor subclass, a malformed reply or an oversized one is refused."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_lib.grader import plain

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# Plain data
# --------------------------------------------------------------------------

def _round_trip(value):
    return plain.decode(json.loads(json.dumps(plain.encode(value))))


def test_plain_values_round_trip():
    value = {"loss": 1.5, "ids": [1, 2, 3], "pair": (torch.arange(6).view(2, 3), None), "name": "x",
             "big": 2**70, "inf": float("-inf"), "dtype": torch.float64, "shape": torch.Size([2, 3])}
    back = _round_trip(value)
    assert back["loss"] == 1.5 and back["ids"] == [1, 2, 3] and back["name"] == "x" and back["big"] == 2**70
    assert back["inf"] == float("-inf") and back["dtype"] is torch.float64 and back["shape"] == torch.Size([2, 3])
    assert isinstance(back["pair"], tuple) and torch.equal(back["pair"][0], torch.arange(6).view(2, 3))
    grad = torch.ones(3, requires_grad=True)
    assert _round_trip(grad).requires_grad


def test_a_tensor_subclass_is_refused():
    class AlwaysClose(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return True

    with pytest.raises(plain.NotPlainData, match="not plain data"):
        plain.encode(torch.zeros(2).as_subclass(AlwaysClose))
    with pytest.raises(plain.NotPlainData, match="not plain data"):
        plain.encode([object()])


def test_malformed_replies_are_refused():
    for bad in ({"tree": {"$eval": "1"}, "tensors": ""}, {"tree": {}, "tensors": ""}, ["not", "a", "dict"],
                {"tree": {"$dtype": "nn"}, "tensors": ""}, {"tree": {"$tensor": "0"}, "tensors": "!!"}):
        with pytest.raises(Exception):  # noqa: B017  (refused, whichever layer refuses it)
            plain.decode(bad)
    deep = "x"
    for _ in range(100):
        deep = [deep]
    with pytest.raises(plain.NotPlainData):
        plain.decode({"tree": deep, "tensors": ""})


def test_handles_need_a_maker():
    message = {"tree": {"$handle": 3, "type": "LoRALinear", "callable": True, "module": True}, "tensors": ""}
    with pytest.raises(plain.NotPlainData):
        plain.decode(message)
    assert plain.decode(message, make_handle=lambda h: (h.ident, h.type_name)) == (3, "LoRALinear")


def test_safetensors_blob_is_size_capped(monkeypatch):
    monkeypatch.setattr(plain, "MAX_BYTES", 16)
    encoded = plain.encode(torch.zeros(100))
    with pytest.raises(plain.NotPlainData, match="larger"):
        plain.decode(encoded)
    monkeypatch.setattr(plain, "MAX_BYTES", 2**20)
    assert torch.equal(plain.decode(encoded), torch.zeros(100))  # under the cap the same reply is read
