"""`course pretrain gpt` under torchrun, as instructors type it: 2 processes, gradient accumulation and
bfloat16 autocast each follow one float32 process (tolerances: tests/unit/test_distributed.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.tensors import WEIGHT_RTOL, assert_close_per_tensor
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the recipe under torchrun


def _pretrain(tmp: Path, *options: str) -> tuple[dict, dict]:
    command = [sys.executable, "-m", "course_lib.cli", "pretrain", "gpt", "--steps", "20", "--out", str(tmp),
               *options]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp / "gpt.json").read_text()), load_file(tmp / "gpt.safetensors")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    return _pretrain(tmp_path_factory.mktemp("nproc1"))


def test_course_pretrain_nproc_2_matches_nproc_1(one_process, tmp_path):
    single, single_weights = one_process
    double, double_weights = _pretrain(tmp_path, "--nproc", "2")
    assert double["processes"] == 2 and single["processes"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt.json", "gpt.safetensors", "gpt_tokenizer.json"]
    assert double["fingerprint_losses"] == pytest.approx(single["fingerprint_losses"], rel=1e-3)
    assert double["fingerprint_losses"] == pytest.approx(single["fingerprint_losses"], rel=1e-5)  # measured 1e-7
    assert double["val_loss"] == pytest.approx(single["val_loss"], rel=1e-4)
    key_biases = {n for n in single_weights if n.endswith("attn.c_attn.bias")}
    assert_close_per_tensor(double_weights, single_weights, WEIGHT_RTOL, skip=key_biases)
    for name in key_biases:  # queries' and values' biases do get gradients: only the keys' third drifts
        n = len(single_weights[name]) // 3
        q_and_v = torch.cat([single_weights[name][:n], single_weights[name][2 * n:]])
        q_and_v_2 = torch.cat([double_weights[name][:n], double_weights[name][2 * n:]])
        assert float((q_and_v - q_and_v_2).abs().max()) <= WEIGHT_RTOL * float(q_and_v.abs().max())


def test_course_pretrain_with_accumulation_matches(one_process, tmp_path):
    single, _ = one_process
    accumulated, _ = _pretrain(tmp_path, "--accumulate", "4")
    assert accumulated["accumulate"] == 4
    assert accumulated["fingerprint_losses"] == pytest.approx(single["fingerprint_losses"], rel=1e-5)


def test_bfloat16_autocast_follows_float32(one_process, tmp_path):
    single, _ = one_process
    bf16, _ = _pretrain(tmp_path, "--precision", "bfloat16")
    assert bf16["precision"] == "bfloat16"
    # bfloat16 keeps 8 bits of mantissa: the losses move apart, but stay on the same curve
    # (measured over 100 steps: at most 0.008 nats, 0.2 %)
    assert bf16["fingerprint_losses"] == pytest.approx(single["fingerprint_losses"], rel=5e-3)
    assert bf16["fingerprint_losses"] != single["fingerprint_losses"], "autocast did nothing"


