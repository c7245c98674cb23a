"""Checks for chapter 10 (training at scale: many processes, fewer bits, counted FLOPs)."""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy
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


def averaging_worker(rank: int, world_size: int, reduce_fn: Callable | None = None) -> dict:
    """One process's gradients of a small net on its shard, after `reduce_fn` (the hidden test's case).

    A frozen layer rides along: averaging must leave a parameter without a gradient as it is.
    """
    from ..distributed import shard_rows

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(7, 9), nn.GELU(), nn.Linear(9, 3))
    frozen = nn.Linear(2, 2)
    x = torch.randn(12, 7, generator=torch.Generator().manual_seed(11))
    net(shard_rows(x, rank, world_size)).pow(2).mean().backward()
    if reduce_fn is not None:
        reduce_fn(nn.ModuleList([net, frozen]))
    return {"grads": [p.grad for p in net.parameters()], "frozen_has_grad": frozen.weight.grad is not None}


def _whole(world_size: int) -> dict[str, Tensor | None]:
    model = _TwoPartModel()
    model.loss(_global_batch(world_size)).backward()
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}


def _flat(grads: dict[str, Tensor | None]) -> Tensor:
    return torch.cat([g.flatten() for g in grads.values() if g is not None]).double()


def _failure_hint(text: str) -> str:
    """A hint for the error one of the processes raised, from its message."""
    if "NoneType" not in text:
        return ""
    if "unsupported operand" in text:  # None / world_size: a missing .grad, or all_reduce's return value
        return ("\nHint: something is None: dist.all_reduce returns None (it writes the result into the tensor "
                "you pass, in place: use that tensor, not what it returns), and a parameter the loss does not "
                "use has .grad None (skip it: `if p.grad is not None`).")
    return ("\nHint: a parameter the loss does not use has .grad None: skip it "
            "(`if p.grad is not None`), in every process alike.")


def _last_lines(text: str, limit: int = 800) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    return tail[tail.find("\n") + 1:] if "\n" in tail else tail


def check_average_gradients(fn: Callable) -> None:
    """fn(model): average every parameter's .grad over the processes in place, with dist.all_reduce."""
    from ..distributed import run_processes
    from ..grader.verdict import in_kernel

    for world_size in (2, 3):
        try:
            # under the grader the processes fork from the learner's kernel, where fn lives
            results = in_kernel(run_processes)(_gradients_after, world_size, fn)
        except Exception as error:  # the message of the process that failed, not a multiprocessing traceback
            text = str(error)
            if "NotImplementedError" in text:  # the answer cell as released: say so, as every other check does
                raise NotImplementedError("average_gradients raised NotImplementedError in its processes") from None
            raise AssertionError(f"average_gradients failed in one of {world_size} processes:\n"
                                 f"{_last_lines(text)}{_failure_hint(text)}") from None
        want = _whole(world_size)
        if any(results[0][n] is not None for n in want if want[n] is None):
            raise AssertionError("the unused layer got a gradient: leave parameters whose .grad is None alone")
        lost = [n for rank_result in results for n in want if want[n] is not None and rank_result[n] is None]
        if lost:
            raise AssertionError(f"{lost[0]} has no gradient after average_gradients (.grad is None): "
                                 "dist.all_reduce returns None; it writes the result into the tensor you pass, "
                                 "so do not assign what it returns to p.grad")
        local_grads = [_gradients_after(r, world_size) for r in range(world_size)]
        local = [_flat(g) for g in local_grads]
        expected = _flat(want)
        scale = float(expected.abs().max())
        atol = 1e-5 * scale
        got_all = [_flat(got) for got in results]
        wrong_ranks = [rank for rank, got in enumerate(got_all) if not _close(got, expected, atol=atol)]
        if wrong_ranks:
            what = f"the gradients of {world_size} processes"
            reference = "one process's gradient on the whole batch"
            if all(_close(got, local[0], atol=atol) for got in got_all):
                raise AssertionError(f"{what} differ from {reference}: every process holds process 0's "
                                     "gradient: broadcast copies one process's tensor, all_reduce combines "
                                     "them all (SUM, then divide by dist.get_world_size())")
            mean_or_sum = [any(_close(got, e, atol=atol) for e in (expected, expected * world_size)) for got in got_all]
            if mean_or_sum[0] and not all(mean_or_sum):
                raise AssertionError(f"{what} differ from {reference}: only process 0 holds the sum: "
                                     "dist.reduce sends the result to one process (dst); dist.all_reduce leaves "
                                     "it in every process, which each needs for its own optimizer step")
            rank = wrong_ranks[0]
            got = results[rank]
            # the parameters that averaging changes, and of those the ones that this process got right
            changed = [n for n in want if want[n] is not None and not _close(local_grads[rank][n], want[n], atol=atol)]
            right = [n for n in changed if _close(got[n], want[n], atol=atol)]
            if right:
                first = next(n for n in changed if n not in right)
                raise AssertionError(f"process {rank}'s gradients ({world_size} processes): {len(right)} of "
                                     f"{len(changed)} parameters hold the mean "
                                     f"gradient, the others not ({first}, for one): average every parameter "
                                     "(is there a return or break inside the loop?)")
            wrong = [
                (local[rank], "each process kept its own gradient: was the result of all_reduce written back "
                              "into p.grad? (all_reduce works in place on the tensor you pass: pass p.grad "
                              "itself, not a copy of it, nor p.data, which holds the weights)"),
                (expected * world_size, "the gradients are the SUM over the processes: divide by the world size "
                                        "(dist.get_world_size())"),
                (expected * world_size / 2, "divide by the number of processes, dist.get_world_size(), not by a "
                                            "fixed 2 (this run has 3)"),
                (expected / world_size, "divided twice: all_reduce with SUM then / world_size is the mean"),
                (torch.stack(local).max(0).values, "op=MAX keeps the largest entry: sum (ReduceOp.SUM) and "
                                                   "divide"),
                (torch.stack(local).max(0).values / world_size, "op=MAX keeps the largest entry: sum "
                                                                "(ReduceOp.SUM), then divide"),
            ]
            _expect_close(got_all[rank], expected, f"the gradient held by process {rank} ({world_size} processes)",
                          reference, atol=atol, wrong_answers=wrong,
                          hint=f"process {rank} of {world_size} does not hold the mean gradient")
        _report(f"{world_size} processes: each holds the gradient of the whole batch, as one process computes it")
        if not all(_close(got, got_all[0], atol=1e-7 * scale) for got in got_all):
            raise AssertionError(f"the {world_size} processes hold slightly different gradients: each must hold "
                                 "the same all-reduced tensor, or the copies of the model drift apart step by step")
    _report("every process holds the same gradient, so the same optimizer step keeps the copies identical")
    _report("parameters without a gradient are left alone")
    print("All gradient averaging checks passed.")


# --------------------------------------------------------------------------- exercise 2


def _configs():
    from ..gpt import GPTConfig

    return [
        (GPTConfig(vocab_size=1024, block_size=128, n_layer=4, n_head=4, n_embd=64), 128),
        (GPTConfig(vocab_size=300, block_size=64, n_layer=2, n_head=2, n_embd=32), 40),
        (GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=4, n_embd=48), 32),
        # the first model on shorter sequences: per token only the attention term changes
        (GPTConfig(vocab_size=1024, block_size=128, n_layer=4, n_head=4, n_embd=64), 48),
        # one token: its query meets a single key
        (GPTConfig(vocab_size=300, block_size=64, n_layer=2, n_head=2, n_embd=32), 1),
    ]


def _flops_wrong_answers(config, seq_len: int, model: nn.Module) -> list[tuple[float, str]]:
    """FLOPs per token that common mistakes give, each with what it gets wrong."""
    from ..flops import matmul_parameters

    n = matmul_parameters(config)
    L, T, d, V = config.n_layer, seq_len, config.n_embd, config.vocab_size
    attention = 12 * L * T * d
    all_parameters = sum(p.numel() for p in model.parameters())
    biases = sum(m.bias.numel() for m in model.modules() if isinstance(m, nn.Linear) and m.bias is not None)
    return [
        (2 * n + attention / 3, "that is the forward pass only: the backward costs twice the forward "
                                "(a gradient for the inputs and one for the weights), 6 N in all"),
        (2 * n, "that is the forward pass only, without attention: 6 N + 12 n_layer seq_len n_embd"),
        (6 * n, "the attention term is missing: QK^T and AV multiply seq_len x seq_len x n_embd per layer, "
                "which no weight counts (12 n_layer seq_len n_embd per token)"),
        (6 * (n - V * d) + attention, "the output layer is missing: lm_head (n_embd x vocab_size) is a "
                                      "matmul on every token, tied to the embedding or not"),
        (6 * (n - V * d), "that is Kaplan's 6 N with N = 12 n_layer n_embd^2 only: the output layer lm_head "
                          "(n_embd x vocab_size) is a matmul on every token too, and attention adds "
                          "12 n_layer seq_len n_embd"),
        (6 * all_parameters + attention, "every parameter was counted: biases, LayerNorms and the position "
                                         "table are not multiplied with anything (and the embedding lookup "
                                         "is no matmul); count the Linear weights and lm_head"),
        (6 * (all_parameters - config.block_size * d) + attention,
         "model.num_parameters() counts biases and LayerNorm weights too, which are not multiplied with "
         "anything: count the weights of the Linear layers and lm_head"),
        (6 * (n + biases) + attention, "the biases were counted: adding a bias is one addition per output, "
                                       "not a matmul; count the Linear layers' weight matrices only"),
        (6 * (n + V * d) + attention, "the vocab_size x n_embd matrix was counted twice: the embedding "
                                      "lookup only reads rows (no matmul), and lm_head is tied to it, so it "
                                      "counts once, as the output layer"),
        (6 * (n - L * d * d) + attention, "attn.c_proj is missing: after the heads, an n_embd x n_embd "
                                          "projection (per block: c_attn 3 d^2 + c_proj d^2 + MLP 8 d^2 "
                                          "= 12 d^2)"),
        (6 * (n - 4 * L * d * d) + attention, "the MLP has two matrices, n_embd x 4 n_embd and 4 n_embd x "
                                              "n_embd: 8 n_embd^2 per block, not 4"),
        (6 * (n - 2 * L * d * d) + attention, "attn.c_attn makes q, k and v at once: n_embd x 3 n_embd "
                                              "(3 d^2 per block, not d^2)"),
        (6 * n + attention / 2, "the attention term is halved: the causal mask hides half of the scores, "
                                "but the kernel still computes all seq_len x seq_len of them"),
        (6 * n + 12 * L * (T // 2) * d, "the attention term is halved: the causal mask hides half of the scores, "
                                        "but the kernel still computes all seq_len x seq_len of them"),
        (6 * n + attention * T, "the attention term grows with seq_len per token, not seq_len^2"),
        (6 * n + attention / 3, "the attention term counts the forward only: x3 with the backward"),
        (6 * n + 12 * L * config.block_size * d, "attention costs what the sequence read costs: seq_len "
                                                 "keys per query, not block_size (the longest the model "
                                                 "could read)"),
        (6 * n + attention / config.n_head, "attention counts all heads: n_head x head_dim = n_embd, so "
                                            "12 n_layer seq_len n_embd"),
        ((6 * n + attention) * T, "that is per sequence of seq_len tokens: return the FLOPs per token"),
    ]


def check_flops_per_token(fn: Callable) -> None:
    """fn(config, seq_len) -> FLOPs of forward + backward per token: 6 N + 12 n_layer seq_len n_embd."""
    from ..flops import measured_training_flops
    from ..gpt import GPT

    cases = []
    for config, seq_len in _configs():
        value = fn(config, seq_len)
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise AssertionError(f"return one number (FLOPs per token), got {type(value).__name__}")
        torch.manual_seed(0)
        model = GPT(config)
        idx = torch.randint(config.vocab_size, (2, seq_len))
        counted = measured_training_flops(model, idx, torch.roll(idx, -1, dims=1)) / idx.numel()
        cases.append((config, seq_len, float(value), counted, _flops_wrong_answers(config, seq_len, model)))
    # A mistake is named only if it explains the answers to every config: at one size two
    # mistakes can give the same number (vocab_size = 2 n_layer seq_len makes a missing
    # lm_head cost what a missing attention term does).
    explains_all = [k for k in range(len(cases[0][4]))
                    if all(_close(value, wrong[k][0], atol=0.0, rtol=1e-6) for _, _, value, _, wrong in cases)]
    for config, seq_len, value, counted, wrong in cases:
        L, T, d, V = config.n_layer, seq_len, config.n_embd, config.vocab_size
        _expect_close(value, counted, f"FLOPs per token of n_layer={L}, n_embd={d}, vocab={V}, seq_len={T}",
                      "torch's FlopCounterMode on a real forward and backward", atol=0.0, rtol=1e-6,
                      wrong_answers=[wrong[k] for k in explains_all],
                      hint="count 6 FLOPs per matmul weight per token (2 forward, 4 backward) and "
                           "12 n_layer seq_len n_embd for attention")
    print("All FLOPs per token checks passed.")


# --------------------------------------------------------------------------- exercise 3


# the cases of exercise 3: (kind, the scale it runs at, how the message names it)
_SCALING_CASES = [
    ("ordinary", 2.0 ** 12, "on ordinary gradients"),
    ("overflow", 2.0 ** 12, "with an overflow"),
    ("both signs", 3.0, "with gradients overflowing to +inf and -inf at scale 3"),
    ("large", 2.0 ** 12, "with large but finite gradients (about 1e5)"),
]


def _scaling_problem(kind: str) -> tuple[nn.Module, Tensor, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1))
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(3))
    # a gradient norm well above 1 (about 18), so that clipping inside the step would show
    loss = model(x).pow(2).mean() * 20
    weight = model[0].weight
    if kind == "overflow":
        # A finite loss (about 1e34, and 4e37 once scaled) whose gradient for one weight
        # overflows float32 once scaled (1e35 x 4096 > 3.4e38): checking the loss is not enough.
        loss = loss + weight[0, 0] * 1e35
    elif kind == "both signs":
        # at scale 3, the gradients of two weights overflow to +inf and -inf (2e38 x 3 > 3.4e38): their sum is
        # nan, which isinf misses; the loss stays finite (about -4e37, -1.3e38 scaled)
        loss = loss + (weight[0, 0] - weight[0, 1]) * 2e38
    elif kind == "large":
        # every gradient finite, one of them about 1e5: more than float16 can hold (65504)
        loss = loss + weight[0, 0] * 1e5
    # Two parameter groups, as the recipes' AdamW has (decay / no decay): every group's gradients
    # must be unscaled. SGD, because Adam barely notices a gradient scaled uniformly.
    weights = [p for p in model.parameters() if p.dim() == 2]
    biases = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": weights, "lr": 0.01}, {"params": biases, "lr": 0.005}]
    return model, loss, torch.optim.SGD(groups, lr=0.01, momentum=0.9)


def scaling_observations(fn: Callable, kind: str, scale: float) -> dict:
    """What fn(loss, optimizer, scale) does to _scaling_problem(kind), as plain data.

    Runs where fn lives (in the learner's kernel under the grader): the
    gradient seen flowing back, the gradient optimizer.step() found, the
    weights and gradients after, and what fn returned.
    """
    model, loss, optimizer = _scaling_problem(kind)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    seen = []  # the gradient as it flows through the backward pass: scaled, in mixed precision
    model[0].weight.register_hook(lambda g: seen.append(float(g.abs().max())))
    stepped_on = []  # the gradient that optimizer.step() finds in .grad
    optimizer.register_step_pre_hook(lambda *_: stepped_on.append(
        None if model[0].weight.grad is None else model[0].weight.grad.detach().clone()))
    out = fn(loss, optimizer, scale)
    first = {id(p) for p in optimizer.param_groups[0]["params"]}
    return {"out": out, "seen": seen, "stepped_on": stepped_on, "before": before,
            "grads": {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()},
            "params": {n: p.detach().clone() for n, p in model.named_parameters()},
            "first_group": [n for n, p in model.named_parameters() if id(p) in first]}


def scaling_run(step_fn: Callable, with_nan: bool) -> tuple[list, Tensor]:
    """Three steps of fn on a small net (a nan loss at the second, if asked): the scales and steps, the weights."""
    torch.manual_seed(21)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(22))
    scale, log = 2.0 ** 10, []
    for i in range(3):
        optimizer.zero_grad()
        loss = net(x).pow(2).mean()
        if with_nan and i == 1:
            loss = loss + net[2].bias.sum() * float("nan")
        scale, stepped = step_fn(loss, optimizer, scale)
        log.append((float(scale), bool(stepped)))
    return log, torch.cat([p.detach().flatten() for p in net.parameters()])


def edge_step(step_fn: Callable, kind: str, scale: float) -> dict:
    """One step_fn(loss, optimizer, scale) at the edges the hidden test checks, as plain data.

    "both signs": two gradients that overflow to +inf and -inf once scaled (their sum is nan);
    "large": finite gradients above float16's 65504. Two parameter groups.
    """
    torch.manual_seed(23)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    optimizer = torch.optim.SGD([{"params": [p for p in net.parameters() if p.dim() == 2]},
                                 {"params": [p for p in net.parameters() if p.dim() < 2], "lr": 0.005}], lr=0.01)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(24))
    loss = net(x).pow(2).mean()
    weight = net[0].weight
    if kind == "both signs":
        loss = loss + (weight[0, 0] - weight[1, 1]) * 2.5e38   # x 1.5 or x 3 > 3.4e38: +inf and -inf
    else:
        loss = loss + weight[0, 0] * 3e5
    out = step_fn(loss, optimizer, scale)
    return {"out": out, "params": [p.detach().clone() for p in net.parameters()],
            "grads": [None if p.grad is None else p.grad.detach().clone() for p in net.parameters()]}


def _reference_step(kind: str, scale: float) -> tuple[dict[str, Tensor], dict[str, Tensor], float, bool]:
    model, loss, optimizer = _scaling_problem(kind)
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


_NOT_STEPPED_HINTS = {
    "overflow": "a step with inf or nan gradients must be skipped: check every .grad with torch.isfinite (here the "
                "loss itself is finite; one weight's gradient overflowed)",
    "both signs": "a step with inf or nan gradients must be skipped: here one weight's gradient is +inf and "
                  "another's -inf, and added together they make nan, which torch.isinf (or a comparison with inf) "
                  "does not catch. Check every .grad with torch.isfinite(g).all(), one gradient at a time",
    "large": "every gradient here is finite (the largest about 1e5), so the step must be taken: a test that converts "
             "the gradients to float16 (whose largest number is 65504) or adds them up can overflow by itself. "
             "Check each .grad with torch.isfinite(g).all(), in its own dtype",
}


def check_loss_scaling_step(fn: Callable) -> None:
    """fn(loss, optimizer, scale) -> (new_scale, stepped), as torch.amp.GradScaler with no growth."""
    from ..grader.verdict import in_kernel

    for kind, scale, case in _SCALING_CASES:
        bad = kind in ("overflow", "both signs")  # the cases where a gradient overflows
        # under the grader the step runs in the learner's kernel and only what it did comes back
        seen_step = in_kernel(scaling_observations)(fn, kind, scale)
        out, seen, stepped_on = seen_step["out"], seen_step["seen"], seen_step["stepped_on"]
        before, grads_now, params_now = seen_step["before"], seen_step["grads"], seen_step["params"]
        first_group_names = set(seen_step["first_group"])
        if not isinstance(out, tuple) or len(out) != 2:
            raise AssertionError(f"return a tuple (new_scale, stepped), got {type(out).__name__}")
        new_scale, stepped = out
        if isinstance(new_scale, (bool, numpy.bool_)) and not isinstance(stepped, (bool, numpy.bool_)):
            raise AssertionError(f"returned ({new_scale}, {stepped}): the order is (new_scale, stepped), "
                                 "the scale first")
        if isinstance(new_scale, Tensor):
            new_scale = new_scale.item()
        if isinstance(stepped, Tensor):
            stepped = bool(stepped)
        after, grads, want_scale, want_stepped = _reference_step(kind, scale)
        if not seen:
            raise AssertionError("no backward pass ran: call .backward() on the scaled loss")
        true_grad = grads["0.weight"].abs().max()
        if not bad and not math.isclose(seen[0], float(true_grad) * scale, rel_tol=1e-4):
            hint = ("the loss was not multiplied by scale before .backward(): in float16, gradients below "
                    "6e-8 would round to 0 on their way back" if math.isclose(seen[0], float(true_grad), rel_tol=1e-4)
                    else "the gradient flowing back should be scale times the true one: backward on loss * scale")
            raise AssertionError(f"{case}: {hint}")
        if not bad:
            missing = [n for n in grads if grads_now[n] is None]
            if missing:
                raise AssertionError(f"{case}: parameter {missing[0]} has no gradient after your function "
                                     "(.grad is None): optimizer.zero_grad() between the backward pass and the "
                                     "step throws the gradients away; the caller zeroes them before the "
                                     "backward pass")
            got = torch.cat([grads_now[n].flatten() for n in grads]).double()
            want = torch.cat([g.flatten() for g in grads.values()]).double()
            first_group_only = torch.cat([g.flatten() * (1 if n in first_group_names else scale)
                                          for n, g in grads.items()]).double()
            clipped = want / max(1.0, float(want.norm()))
            _expect_close(got, want, f"{case}: the unscaled gradient", "torch.amp.GradScaler's",
                          atol=0.0, rtol=1e-5, wrong_answers=[(want * scale, "the gradients are still scaled: divide each "
                                                                   ".grad by scale before the step"),
                                                    (first_group_only, "only the first parameter group was unscaled: "
                                                     "go through every group of optimizer.param_groups"),
                                                    (clipped, "the gradient was clipped: this step unscales and "
                                                     "checks for overflow; clipping is the training loop's own "
                                                     "choice, after the unscaling"),
                                                    (want * scale * scale, "multiplied by scale again: divide"),
                                                    (torch.zeros_like(want), "the gradients are all zero: was "
                                                     "optimizer.zero_grad() called after the backward pass? "
                                                     "Zero them before it (the caller does)")],
                          hint="unscale: p.grad /= scale (before the step, so that clipping and the optimizer "
                               "see the true gradient)")
            if stepped_on and stepped_on[0] is not None and not _close(stepped_on[0], grads["0.weight"], atol=0.0,
                                                                      rtol=1e-5):
                on_scaled = _close(stepped_on[0], grads["0.weight"] * scale, atol=0.0, rtol=1e-5)
                raise AssertionError(f"{case}: optimizer.step() ran on "
                                     + ("the scaled gradients: divide every .grad by scale BEFORE the step "
                                        "(AdamW nearly hides it, but SGD would step scale times too far, and "
                                        "gradient clipping would clip the wrong norm)" if on_scaled
                                        else "gradients that are not the true ones: unscale, then step"))
        if bool(stepped) != want_stepped:
            raise AssertionError(f"{case}: stepped is {stepped}, expected {want_stepped}: "
                                 + _NOT_STEPPED_HINTS.get(kind, "ordinary gradients must be stepped"))
        if bad:
            if any(not torch.equal(params_now[n], before[n]) for n in before):
                raise AssertionError(f"{case}: the weights changed: an overflowed step must leave them (and the "
                                     "optimizer) untouched; do not call optimizer.step()")
            # the unscaled gradients stay in .grad, inf or nan included
            for n, want_grad in grads.items():
                got_grad = grads_now[n]
                if got_grad is None or (bool(want_grad.any()) and not bool(got_grad.any())):
                    raise AssertionError(f"{case}: the gradients were cleared ({n}.grad is "
                                         f"{'None' if got_grad is None else 'all zeros'}): after an overflow the "
                                         "unscaled gradients stay in .grad, inf or nan included (they show which "
                                         "parameters overflowed); do not call zero_grad() or set .grad to None "
                                         "here, the caller zeroes them before the next backward pass")
                if not torch.allclose(got_grad.double(), want_grad.double(), rtol=1e-5, atol=0.0, equal_nan=True):
                    scaled = torch.allclose(got_grad.double(), want_grad.double() * scale, rtol=1e-5, atol=0.0,
                                            equal_nan=True)
                    raise AssertionError(f"{case}: {n}.grad " + (
                        "is still scaled: divide every gradient by scale, also when the step is skipped (the "
                        "unscaled gradients stay in .grad)" if scaled else
                        "differs from GradScaler's unscaled gradient: after an overflow every .grad holds its "
                        "gradient divided by scale, inf or nan where it overflowed"))
        else:
            got = torch.cat([params_now[n].flatten() for n in after]).double()
            want = torch.cat([t.flatten() for t in after.values()]).double()
            _expect_close(got, want, f"{case}: every weight after the step", "GradScaler's step", atol=0.0, rtol=1e-5,
                          hint="step the optimizer once, on the unscaled gradients")
        if not math.isclose(float(new_scale), want_scale):
            hints = {scale: "after an overflow, halve the scale (the next step tries a smaller one)",
                     scale * 2: "the scale grows only after many good steps (here: never): return it unchanged",
                     scale / 2: "halve the scale only after an overflow; after a good step keep it"}
            if scale // 2 != scale / 2:
                hints[scale // 2] = (f"scale // 2 rounds down ({scale:g} // 2 = {scale // 2:g}): halve it with "
                                     "scale / 2; a scale need not be a whole number (GradScaler's backoff "
                                     "multiplies it by 0.5)")
            raise AssertionError(f"{case}: new_scale is {new_scale:g}, expected {want_scale:g}: "
                                 f"{hints.get(float(new_scale), 'halve it after an overflow, keep it otherwise')}")
        _report(f"{case}: the step, the gradients and the new scale match torch.amp.GradScaler")
    print("All loss scaling checks passed.")
