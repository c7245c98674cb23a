"""course_lib.flops: the FLOP count of a GPT training step against torch's counter, and the timers.

The formula must equal FlopCounterMode's count exactly: both count 2 FLOPs per
multiply-add of the same matmuls (integers, no tolerance needed), so any
difference is a matmul one of them misses.
"""
import math

import pytest
import torch
from torch import nn

from course_lib.flops import (
    matmul_parameters,
    matmul_peak,
    measured_training_flops,
    time_training_step,
    training_flops_per_token,
)
from course_lib.gpt import GPT, GPTConfig


def make_gpt(config: GPTConfig, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config)


def batch(config: GPTConfig, batch_size: int, seq_len: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randint(config.vocab_size, (batch_size, seq_len), generator=g) for _ in range(2))


def counted(config: GPTConfig, batch_size: int, seq_len: int) -> int:
    return measured_training_flops(make_gpt(config), *batch(config, batch_size, seq_len))


# (config, batch, seq_len): widths, depths, head counts, vocabularies, with and
# without biases, sequences shorter than the block, and dropout (which sends
# attention through torch's math path instead of the fused CPU kernel).
CASES = [
    (GPTConfig(vocab_size=1024, block_size=128, n_layer=4, n_head=4, n_embd=64), 2, 128),  # the chapter's
    (GPTConfig(vocab_size=1024, block_size=128, n_layer=4, n_head=4, n_embd=64), 3, 50),
    (GPTConfig(vocab_size=97, block_size=40, n_layer=2, n_head=3, n_embd=48), 2, 33),
    (GPTConfig(vocab_size=300, block_size=64, n_layer=1, n_head=8, n_embd=128, bias=False), 1, 64),
    (GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=2, n_embd=16, dropout=0.1), 4, 20),
    (GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8), 2, 1),
]


@pytest.mark.parametrize("config, batch_size, seq_len", CASES)
def test_formula_equals_flop_counter(config, batch_size, seq_len):
    per_token = training_flops_per_token(config, seq_len)
    assert per_token["total"] == per_token["dense"] + per_token["attention"]
    assert counted(config, batch_size, seq_len) == per_token["total"] * batch_size * seq_len


def test_count_does_not_depend_on_the_attention_kernel():
    # dropout > 0 runs attention as explicit matmuls, dropout 0 as one fused kernel
    fused = GPTConfig(vocab_size=64, block_size=32, n_layer=2, n_head=2, n_embd=32)
    math_path = GPTConfig(vocab_size=64, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.2)
    assert counted(fused, 2, 32) == counted(math_path, 2, 32) > 0


def test_attention_is_quadratic_and_dense_linear_in_seq_len():
    config = GPTConfig(vocab_size=64, block_size=64, n_layer=2, n_head=2, n_embd=32)
    f = {t: counted(config, 1, t) for t in (8, 16, 32, 64)}  # FLOPs of one sequence of t tokens
    # f(t) = a t^2 + b t: what doubling t adds beyond twice f(t) is the quadratic part, 2 a t^2
    excess = {t: f[2 * t] - 2 * f[t] for t in (8, 16, 32)}
    assert excess[8] > 0 and excess[16] == 4 * excess[8] and excess[32] == 4 * excess[16]
    dense = {t: f[t] - excess[t] // 2 for t in (8, 16, 32)}  # b t
    assert dense[16] == 2 * dense[8] and dense[32] == 2 * dense[16]
    for t in (8, 16, 32):
        per_token = training_flops_per_token(config, t)
        assert excess[t] // 2 == per_token["attention"] * t
        assert dense[t] == per_token["dense"] * t
    # per token: the dense part does not depend on t, attention doubles with it
    assert training_flops_per_token(config, 16)["dense"] == training_flops_per_token(config, 8)["dense"]
    assert training_flops_per_token(config, 16)["attention"] == 2 * training_flops_per_token(config, 8)["attention"]


def test_count_is_per_token():
    config = GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16)
    assert counted(config, 3, 16) == 3 * counted(config, 1, 16)


@pytest.mark.parametrize("config", [case[0] for case in CASES])
def test_matmul_parameters_are_the_linear_weights(config):
    model = make_gpt(config)
    linear_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    assert matmul_parameters(config) == linear_weights
    # i.e. every parameter but the position table, the biases and the LayerNorms; the
    # tied output matrix counts (once, as it is stored once) although it is also the embedding
    left_out = sum(p.numel() for name, p in model.named_parameters()
                   if name.startswith("pos_emb") or name.endswith("bias") or ".ln_" in name or name.startswith("ln_f"))
    assert matmul_parameters(config) == model.num_parameters(non_embedding=False) - left_out


def test_seq_len_is_checked():
    config = GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16)
    for bad in (0, 17, 2.0, True):
        with pytest.raises(ValueError, match="seq_len"):
            training_flops_per_token(config, bad)


def test_measuring_leaves_the_model_as_it_was():
    config = GPTConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_embd=16)
    model = make_gpt(config).eval()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    measured_training_flops(model, *batch(config, 2, 16))
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())


def test_matmul_peak_is_a_rate():
    rate = matmul_peak(n=32, repeats=2, warmup=1)
    assert math.isfinite(rate) and rate > 0


def test_time_training_step_is_positive_and_trains_a_copy():
    config = GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = make_gpt(config)
    before = [p.detach().clone() for p in model.parameters()]
    seconds = time_training_step(model, batch_size=2, seq_len=8, repeats=2, warmup=1)
    assert math.isfinite(seconds) and seconds > 0
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert all(p.grad is None for p in model.parameters())
