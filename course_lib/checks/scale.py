"""Checks for chapter 10 (training at scale: many processes, fewer bits, counted FLOPs)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from ._common import _close, _expect_close, _report

# ---------------------------------------------------------------------------
# Chapter 10: data parallelism, FLOPs, loss scaling
#
# Gradient averaging with all_reduce runs in real processes joined by gloo
# (course_lib.distributed.run_processes forks them, so a function written in
# the notebook runs in each); the reference is one process on the whole
# batch. The FLOPs count is compared with what torch's FlopCounterMode counts
# in a real forward and backward pass. Loss scaling is compared with
# torch.amp.GradScaler doing the same step.

__all__ = ["check_average_gradients", "check_flops_per_token", "check_loss_scaling_step"]


# --------------------------------------------------------------------------- exercise 1


class _TwoPartModel(nn.Module):
    """A small GPT and a layer the loss never uses (a frozen branch): its weights get no gradient."""

    def __init__(self):
        super().__init__()
        from ..gpt import GPT, GPTConfig

        torch.manual_seed(0)
        self.gpt = GPT(GPTConfig(vocab_size=48, block_size=12, n_layer=1, n_head=2, n_embd=16))
        self.unused = nn.Linear(4, 4)

    def loss(self, x: Tensor) -> Tensor:
        return self.gpt(x, torch.roll(x, -1, dims=1))[1]


def _global_batch(world_size: int) -> Tensor:
    return torch.randint(48, (2 * world_size * 3, 12), generator=torch.Generator().manual_seed(1))


def _gradients_after(rank: int, world_size: int, fn: Callable | None = None) -> dict[str, Tensor | None]:
    from ..distributed import shard_rows

    model = _TwoPartModel()
    model.loss(shard_rows(_global_batch(world_size), rank, world_size)).backward()
    if fn is not None:
        fn(model)
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}


def _whole(world_size: int) -> dict[str, Tensor | None]:
    model = _TwoPartModel()
    model.loss(_global_batch(world_size)).backward()
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}


def _flat(grads: dict[str, Tensor | None]) -> Tensor:
    return torch.cat([g.flatten() for g in grads.values() if g is not None]).double()


def check_average_gradients(fn: Callable) -> None:
    """fn(model): average every parameter's .grad over the processes in place, with dist.all_reduce."""
    from ..distributed import run_processes

    for world_size in (2, 3):
        try:
            results = run_processes(_gradients_after, world_size, fn)
        except Exception as error:  # the message of the process that failed, not a multiprocessing traceback
            text = str(error)
            hint = ""
            if "NoneType" in text:
                hint = ("\nHint: a parameter the loss does not use has .grad None: skip it "
                        "(`if p.grad is not None`), in every process alike.")
            raise AssertionError(f"average_gradients failed in one of {world_size} processes:\n"
                                 f"{text.strip()[-800:]}{hint}") from None
        want = _whole(world_size)
        if any(results[0][n] is not None for n in want if want[n] is None):
            raise AssertionError("the unused layer got a gradient: leave parameters whose .grad is None alone")
        local = [_flat(_gradients_after(r, world_size)) for r in range(world_size)]
        expected = _flat(want)
        scale = float(expected.abs().max())
        for rank, got in enumerate(results):
            got = _flat(got)
            wrong = [
                (local[rank], "each process kept its own gradient: was the result of all_reduce written back "
                              "into p.grad? (all_reduce works in place on the tensor you pass: pass p.grad "
                              "itself, not a copy)"),
                (expected * world_size, "the gradients are the SUM over the processes: divide by the world size "
                                        "(dist.get_world_size())"),
                (expected * world_size / 2, "divide by the number of processes, dist.get_world_size(), not by a "
                                            "fixed 2 (this run has 3)"),
                (expected / world_size, "divided twice: all_reduce with SUM then / world_size is the mean"),
                (local[0], "every process holds rank 0's gradient: broadcast copies one process's tensor, "
                           "all_reduce combines them all"),
                (torch.stack(local).max(0).values, "op=MAX keeps the largest entry: sum (ReduceOp.SUM) and "
                                                   "divide"),
            ]
            if not _close(got, expected, atol=1e-5 * scale):
                _expect_close(got, expected, f"process {rank}'s gradients ({world_size} processes)",
                              "one process's gradient on the whole batch", atol=1e-5 * scale, wrong_answers=wrong,
                              hint=f"process {rank} of {world_size} does not hold the mean gradient")
        _report(f"{world_size} processes: each holds the gradient of the whole batch, as one process computes it")
    _report("parameters without a gradient are left alone")


# --------------------------------------------------------------------------- exercise 2


def _configs():
    from ..gpt import GPTConfig

    return [
        (GPTConfig(vocab_size=1024, block_size=128, n_layer=4, n_head=4, n_embd=64), 128),
        (GPTConfig(vocab_size=300, block_size=64, n_layer=2, n_head=2, n_embd=32), 40),
        (GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=4, n_embd=48), 32),
    ]


def check_flops_per_token(fn: Callable) -> None:
    """fn(config, seq_len) -> FLOPs of forward + backward per token: 6 N + 12 n_layer seq_len n_embd."""
    from ..flops import matmul_parameters, measured_training_flops
    from ..gpt import GPT

    for config, seq_len in _configs():
        value = fn(config, seq_len)
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AssertionError(f"return one number (FLOPs per token), got {type(value).__name__}")
        torch.manual_seed(0)
        model = GPT(config)
        idx = torch.randint(config.vocab_size, (2, seq_len))
        counted = measured_training_flops(model, idx, torch.roll(idx, -1, dims=1)) / idx.numel()
        n = matmul_parameters(config)
        L, T, d, V = config.n_layer, seq_len, config.n_embd, config.vocab_size
        attention = 12 * L * T * d
        all_parameters = sum(p.numel() for p in model.parameters())
        wrong = [
            (2 * n + attention / 3, "that is the forward pass only: the backward costs twice the forward "
                                    "(a gradient for the inputs and one for the weights), 6 N in all"),
            (2 * n, "that is the forward pass only, without attention: 6 N + 12 n_layer seq_len n_embd"),
            (6 * n, "the attention term is missing: QK^T and AV multiply seq_len x seq_len x n_embd per layer, "
                    "which no weight counts (12 n_layer seq_len n_embd per token)"),
            (6 * (n - V * d) + attention, "the output layer is missing: lm_head (n_embd x vocab_size) is a "
                                          "matmul on every token, tied to the embedding or not"),
            (6 * all_parameters + attention, "every parameter was counted: biases, LayerNorms and the position "
                                             "table are not multiplied with anything (and the embedding lookup "
                                             "is no matmul); count the Linear weights and lm_head"),
            (6 * n + attention / 2, "the attention term is halved: the causal mask hides half of the scores, "
                                    "but the kernel still computes all seq_len x seq_len of them"),
            (6 * n + attention * T, "the attention term grows with seq_len per token, not seq_len^2"),
            (6 * n + 4 * L * T * d, "the attention term counts the forward only: x3 with the backward"),
        ]
        _expect_close(value, counted, f"FLOPs per token of n_layer={L}, n_embd={d}, vocab={V}, seq_len={T}",
                      "torch's FlopCounterMode on a real forward and backward", rtol=1e-6, wrong_answers=wrong,
                      hint="count 6 FLOPs per matmul weight per token (2 forward, 4 backward) and "
                           "12 n_layer seq_len n_embd for attention")


# --------------------------------------------------------------------------- exercise 3


def _scaling_problem(bad: bool) -> tuple[nn.Module, Tensor, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(3))
    loss = model(x).pow(2).mean()
    if bad:
        # A finite loss (about 1e34, and 4e37 once scaled) whose gradient for one weight
        # overflows float32 once scaled (1e35 x 4096 > 3.4e38): checking the loss is not enough.
        loss = loss + model[0].weight[0, 0] * 1e35
    return model, loss, torch.optim.AdamW(model.parameters(), lr=0.1)


def _reference_step(bad: bool, scale: float) -> tuple[dict[str, Tensor], dict[str, Tensor], float, bool]:
    model, loss, optimizer = _scaling_problem(bad)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale, growth_interval=10 ** 9, backoff_factor=0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    scaler.step(optimizer)
    scaler.update()
    after = {n: p.detach().clone() for n, p in model.named_parameters()}
    stepped = any(not torch.equal(before[n], after[n]) for n in before)
    return after, grads, scaler.get_scale(), stepped


def check_loss_scaling_step(fn: Callable) -> None:
    """fn(loss, optimizer, scale) -> (new_scale, stepped), as torch.amp.GradScaler with no growth."""
    scale = 2.0 ** 12
    for bad in (False, True):
        model, loss, optimizer = _scaling_problem(bad)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        seen = []  # the gradient as it flows through the backward pass: scaled, in mixed precision
        model[0].weight.register_hook(lambda g: seen.append(float(g.abs().max())))
        out = fn(loss, optimizer, scale)
        if not isinstance(out, tuple) or len(out) != 2:
            raise AssertionError(f"return a tuple (new_scale, stepped), got {type(out).__name__}")
        new_scale, stepped = out
        if isinstance(new_scale, Tensor):
            new_scale = new_scale.item()
        if isinstance(stepped, Tensor):
            stepped = bool(stepped)
        after, grads, want_scale, want_stepped = _reference_step(bad, scale)
        case = "with an overflow" if bad else "on ordinary gradients"
        if not seen:
            raise AssertionError("no backward pass ran: call .backward() on the scaled loss")
        true_grad = grads["0.weight"].abs().max()
        if not bad and not math.isclose(seen[0], float(true_grad) * scale, rel_tol=1e-4):
            hint = ("the loss was not multiplied by scale before .backward(): in float16, gradients below "
                    "6e-8 would round to 0 on their way back" if math.isclose(seen[0], float(true_grad), rel_tol=1e-4)
                    else "the gradient flowing back should be scale times the true one: backward on loss * scale")
            raise AssertionError(f"{case}: {hint}")
        if not bad:
            got = torch.cat([model.get_parameter(n).grad.flatten() for n in grads]).double()
            want = torch.cat([g.flatten() for g in grads.values()]).double()
            _expect_close(got, want, f"{case}: the unscaled gradient", "torch.amp.GradScaler's",
                          rtol=1e-5, wrong_answers=[(want * scale, "the gradients are still scaled: divide each "
                                                                   ".grad by scale before the step"),
                                                    (want * scale * scale, "multiplied by scale again: divide")],
                          hint="unscale: p.grad /= scale (before the step, so that clipping and the optimizer "
                               "see the true gradient)")
        if bool(stepped) != want_stepped:
            raise AssertionError(f"{case}: stepped is {stepped}, expected {want_stepped}: "
                                 + ("a step with inf or nan gradients must be skipped (check every .grad with "
                                    "torch.isfinite)" if bad else "ordinary gradients must be stepped"))
        params_now = {n: p.detach() for n, p in model.named_parameters()}
        if bad:
            if any(not torch.equal(params_now[n], before[n]) for n in before):
                raise AssertionError(f"{case}: the weights changed: an overflowed step must leave them (and the "
                                     "optimizer) untouched; do not call optimizer.step()")
        else:
            got = torch.cat([params_now[n].flatten() for n in after]).double()
            want = torch.cat([t.flatten() for t in after.values()]).double()
            _expect_close(got, want, f"{case}: every weight after the step", "GradScaler's step", rtol=1e-5,
                          hint="step the optimizer once, on the unscaled gradients")
        if not math.isclose(float(new_scale), want_scale):
            hints = {scale: "after an overflow, halve the scale (the next step tries a smaller one)",
                     scale * 2: "the scale grows only after many good steps (here: never): return it unchanged",
                     scale / 2: "halve the scale only after an overflow; after a good step keep it"}
            raise AssertionError(f"{case}: new_scale is {new_scale:g}, expected {want_scale:g}: "
                                 f"{hints.get(float(new_scale), 'halve it after an overflow, keep it otherwise')}")
        _report(f"{case}: the step, the gradients and the new scale match torch.amp.GradScaler")
