"""Checks for chapter 01 (RNN)."""
from __future__ import annotations

import inspect
import itertools
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import _call, _close, _expect_close, _generator, _inputs_unchanged, _randn, _report, expect_shape

__all__ = ["check_rnn_cell", "check_lstm_cell", "check_clip_grad_norm", "check_perplexity"]

# ---------------------------------------------------------------------------
# Chapter 01: RNN cell, LSTM cell, gradient clipping, perplexity

_LAYOUT_HINT = ("torch stores weights as (out_features, in_features): multiply by the "
                "transpose, x @ weight_ih.T and h @ weight_hh.T")


def _cell_case(num_gates: int, B: int, I: int, H: int, seed: int):
    gen = _generator(seed)
    x, h, c = _randn(B, I, gen=gen), _randn(B, H, gen=gen, scale=0.5), _randn(B, H, gen=gen)
    weights = [_randn(num_gates * H, I, gen=gen, scale=0.5), _randn(num_gates * H, H, gen=gen, scale=0.5),
               _randn(num_gates * H, gen=gen, scale=0.5), _randn(num_gates * H, gen=gen, scale=0.5)]
    return x, h, c, [w.requires_grad_(True) for w in weights]


def _torch_cell(cls: type[nn.Module], I: int, H: int, weights: list[torch.Tensor]) -> nn.Module:
    cell = cls(I, H).double()
    with torch.no_grad():
        for name, w in zip(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], weights):
            getattr(cell, name).copy_(w)
    return cell


def _expect_grads(out: torch.Tensor, expected: torch.Tensor, weights: list[torch.Tensor],
                  cell: nn.Module, what: str) -> None:
    if not out.requires_grad:
        raise AssertionError(f"{what} is not connected to the weights in the autograd graph: avoid "
                             ".detach(), .data, .item(), numpy and torch.no_grad() inside the cell")
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    expected_grads = torch.autograd.grad(expected.sum(), list(cell.parameters()))
    for name, g, e in zip(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], grads, expected_grads):
        if g is None or not torch.allclose(g, e, atol=1e-6):
            raise AssertionError(f"the gradient with respect to {name} differs from torch's: "
                                 "is every weight used, with autograd-friendly operations?")
    _report("gradients reach all four weights and match torch's (backpropagation through time will work)")


def check_rnn_cell(fn: Callable) -> None:
    """fn(x, h, weight_ih, weight_hh, bias_ih, bias_hh) -> h_new, as course_lib.rnn.rnn_cell."""
    B, I, H = 3, 4, 5
    x, h, _, weights = _cell_case(1, B, I, H, seed=0)
    W_ih, W_hh, b_ih, b_hh = weights
    saved = [t.detach().clone() for t in [x, h, *weights]]
    out = _call(fn, x, h, *weights, shape_hint=_LAYOUT_HINT)
    expect_shape(out, (B, H), "h_new", hint="it should be (batch, hidden_size)")
    _report(f"output shape {(B, H)}")
    _inputs_unchanged(saved, [x, h, *weights])

    torch_cell = _torch_cell(nn.RNNCell, I, H, weights)
    expected = torch_cell(x, h)
    with torch.no_grad():
        pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        wrong = [
            (pre, "did you apply tanh?"),
            (torch.sigmoid(pre), "the RNN cell squashes with tanh, not sigmoid"),
            (torch.relu(pre), "the RNN cell squashes with tanh, not relu"),
            (torch.tanh(x @ W_ih.T + b_ih + h @ W_hh + b_hh), "multiply h by weight_hh.T, not weight_hh: " + _LAYOUT_HINT),
            (torch.tanh(x @ W_ih.T + h @ W_hh.T), "add both biases, bias_ih and bias_hh"),
            (torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T), "add bias_hh as well as bias_ih"),
            (torch.tanh(x @ W_ih.T + h @ W_hh.T + b_hh), "add bias_ih as well as bias_hh"),
            (torch.tanh(x @ W_ih.T + b_ih + b_hh), "h_new ignores the previous hidden state: add h @ weight_hh.T"),
            (torch.tanh(h @ W_hh.T + b_ih + b_hh), "h_new ignores the input: add x @ weight_ih.T"),
            (h + torch.tanh(pre), "h_new = tanh(...) replaces h; it is not added to it"),
        ]
    _expect_close(out, expected, "h_new", "torch.nn.RNNCell", wrong_answers=wrong)
    _expect_grads(out, expected, weights, torch_cell, "h_new")

    x2, h2, _, weights2 = _cell_case(1, 2, 3, 7, seed=1)
    out2 = _call(fn, x2, h2, *weights2, shape_hint=_LAYOUT_HINT)
    _expect_close(out2, _torch_cell(nn.RNNCell, 3, 7, weights2)(x2, h2), "h_new for batch 2, input 3, hidden 7",
                  "torch.nn.RNNCell", hint="are sizes hard-coded somewhere?",
                  passed="works for other sizes (batch 2, input 3, hidden 7)")
    print("All RNN cell checks passed.")


def _lstm_from_gates(gates: list[torch.Tensor], c: torch.Tensor, order: Sequence[int]):
    """The LSTM equations with the four pre-activation chunks read in another order."""
    i, f, g, o = (gates[k] for k in order)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def check_lstm_cell(fn: Callable) -> None:
    """fn(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh) -> (h_new, c_new), as course_lib.rnn.lstm_cell."""
    B, I, H = 3, 4, 5
    x, h, c, weights = _cell_case(4, B, I, H, seed=0)
    W_ih, W_hh, b_ih, b_hh = weights
    saved = [t.detach().clone() for t in [x, h, c, *weights]]
    result = _call(fn, x, (h, c), *weights,
                   shape_hint=_LAYOUT_HINT + "; split the (batch, 4 * hidden) gates with chunk(4, dim=-1)")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return a tuple (h_new, c_new); got {type(result).__name__}")
    h_new, c_new = result
    expect_shape(h_new, (B, H), "h_new")
    expect_shape(c_new, (B, H), "c_new")
    _report(f"returns (h_new, c_new), each of shape {(B, H)}")
    _inputs_unchanged(saved, [x, h, c, *weights])

    torch_cell = _torch_cell(nn.LSTMCell, I, H, weights)
    h_ref, c_ref = torch_cell(x, (h, c))
    if _close(h_new, c_ref, 1e-6) and _close(c_new, h_ref, 1e-6):
        raise AssertionError("h_new and c_new are swapped: return (h_new, c_new) in that order")

    with torch.no_grad():
        gates = list((x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1))
        i, f, g, o = gates
        wrong_c = [(_lstm_from_gates(gates, c, order)[1],
                    "c_new is wrong but the gates look right: the gate order is i, f, g, o "
                    "(input, forget, cell candidate, output), the order of chunk(4, dim=-1)")
                   for order in itertools.permutations(range(4)) if order != (0, 1, 2, 3)]
        wrong_c += [
            (torch.sigmoid(f) * c + torch.sigmoid(i) * torch.sigmoid(g), "the candidate g uses tanh, not sigmoid"),
            (torch.sigmoid(f) * c + torch.tanh(g), "c_new = f * c + i * g: multiply the candidate g by the input gate i"),
            (c + torch.sigmoid(i) * torch.tanh(g), "c_new = f * c + i * g: multiply the old c by the forget gate f"),
            (torch.sigmoid(f) * c + torch.sigmoid(i) * g, "did you apply tanh to the candidate g?"),
            (f * c + i * g, "apply the activations: sigmoid to i, f, o and tanh to g"),
        ]
    _expect_close(c_new, c_ref, "c_new", "torch.nn.LSTMCell", wrong_answers=wrong_c)
    with torch.no_grad():
        o_gate, c_good = torch.sigmoid(o), c_ref.detach()
        wrong_h = [
            (o_gate * c_good, "h_new = o * tanh(c_new): did you forget the tanh?"),
            (o_gate * torch.tanh(c), "h_new uses the NEW cell state: o * tanh(c_new)"),
            (torch.tanh(c_good), "h_new = o * tanh(c_new): multiply by the output gate o"),
            (o * torch.tanh(c_good), "apply sigmoid to the output gate o"),
        ]
    _expect_close(h_new, h_ref, "h_new", "torch.nn.LSTMCell", wrong_answers=wrong_h)
    _expect_grads(h_new + c_new, h_ref + c_ref, weights, torch_cell, "(h_new, c_new)")

    x2, h2, c2, weights2 = _cell_case(4, 2, 3, 7, seed=1)
    h2_new, c2_new = _call(fn, x2, (h2, c2), *weights2, shape_hint=_LAYOUT_HINT)
    h2_ref, c2_ref = _torch_cell(nn.LSTMCell, 3, 7, weights2)(x2, (h2, c2))
    _expect_close(torch.stack([h2_new, c2_new]), torch.stack([h2_ref, c2_ref]),
                  "(h_new, c_new) for batch 2, input 3, hidden 7", "torch.nn.LSTMCell",
                  hint="are sizes hard-coded somewhere?", passed="works for other sizes (batch 2, input 3, hidden 7)")
    print("All LSTM cell checks passed.")


def _grad_params(seed: int, scales: Sequence[float]) -> list[torch.Tensor]:
    """Parameters of varied shapes and gradient sizes (some below, some above 1)."""
    gen = _generator(seed)
    shapes = [(3, 4), (4,), (2, 3, 2)]
    params = []
    for shape, scale in zip(shapes, scales):
        p = nn.Parameter(_randn(*shape, gen=gen))
        p.grad = _randn(*shape, gen=gen, scale=scale)
        params.append(p)
    return params


def check_clip_grad_norm(fn: Callable) -> None:
    """fn(parameters, max_norm) -> total_norm (before clipping); clips p.grad in place,
    like torch.nn.utils.clip_grad_norm_."""
    scales, max_norm = (1.0, 0.1, 0.6), 1.0

    ours, ref = _grad_params(0, scales), _grad_params(0, scales)
    grads_before = [p.grad.clone() for p in ours]
    expected_norm = torch.nn.utils.clip_grad_norm_(ref, max_norm)
    total = _call(fn, ours, max_norm)
    if total is None:
        raise AssertionError("return the total norm (a number or a 0-d tensor), not None")
    norms = torch.stack([g.norm() for g in grads_before])
    wrong_norm = [
        (torch.tensor(max_norm), "return the total norm measured BEFORE clipping (torch does)"),
        (norms.sum(), "the total norm is sqrt(sum of squares of all entries of all gradients), "
                      "not the sum of the per-parameter norms"),
        (norms.pow(2).sum(), "take the square root: total_norm = sqrt(sum of squared norms)"),
        (norms.max(), "the total norm combines all parameters: sqrt(sum of squared norms), not the max"),
        (norms[0], "the norm should cover every parameter, not only the first"),
    ]
    _expect_close(total, expected_norm, "the returned total norm", "torch.nn.utils.clip_grad_norm_",
                  wrong_answers=wrong_norm)

    got = torch.cat([p.grad.flatten() for p in ours])
    expected = torch.cat([p.grad.flatten() for p in ref])
    scale = (norms.pow(2).sum().sqrt() / max_norm).item()
    wrong_grads = [
        (torch.cat([g.flatten() for g in grads_before]),
         "the gradients were not changed: scale each p.grad in place (p.grad.mul_(scale)); "
         "assigning the result to a local variable does not change p.grad"),
        (torch.cat([(g * min(1.0, max_norm / (g.norm().item() + 1e-6))).flatten() for g in grads_before]),
         "norm is computed per parameter: clip by the total norm over all parameters, "
         "so every gradient is scaled by the same factor"),
        (torch.cat([(g * scale).flatten() for g in grads_before]),
         "scale by max_norm / total_norm (you used its inverse)"),
        (torch.cat([g.clamp(-max_norm, max_norm).flatten() for g in grads_before]),
         "clamping each entry is clipping by value; clip by norm scales the whole gradient instead"),
    ]
    _expect_close(got, expected, "the clipped gradient", "torch.nn.utils.clip_grad_norm_'s",
                  wrong_answers=wrong_grads, passed="the clipped gradient matches torch.nn.utils.clip_grad_norm_'s to 1e-6")

    small = _grad_params(0, scales)
    small_before = [p.grad.clone() for p in small]
    _call(fn, small, 100.0)
    got_small = torch.cat([p.grad.flatten() for p in small])
    _expect_close(got_small, torch.cat([g.flatten() for g in small_before]),
                  "a gradient already below max_norm", "its original value",
                  hint="only scale gradients DOWN: when total_norm <= max_norm leave them unchanged",
                  passed="gradients below max_norm are left unchanged")

    gen_params = _grad_params(0, scales)
    _call(fn, (p for p in gen_params), max_norm)
    _expect_close(torch.cat([p.grad.flatten() for p in gen_params]), expected,
                  "the clipped gradient when parameters is a generator", "torch's",
                  hint="parameters may be a generator such as model.parameters(), which can be "
                       "iterated only once: make a list first (params = list(parameters))",
                  passed="works when parameters is a generator, like model.parameters()")

    with_none = _grad_params(0, scales) + [nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    try:
        fn(with_none, max_norm)
    except (AttributeError, TypeError) as err:
        raise AssertionError("skip parameters whose .grad is None (they took no part in the loss): "
                             f"your function raised {type(err).__name__}: {err}") from err
    _expect_close(torch.cat([p.grad.flatten() for p in with_none[:3]]), expected,
                  "the clipped gradient when one parameter has no gradient", "torch's",
                  hint="skip parameters whose .grad is None",
                  passed="skips parameters whose .grad is None")
    print("All gradient clipping checks passed.")


def check_perplexity(fn: Callable) -> None:
    """fn(logits: (..., V), targets: (...)) -> float, exp of the mean cross-entropy,
    as course_lib.metrics.perplexity (ignore_index is checked if fn accepts it)."""
    B, T, V = 2, 5, 7
    gen = _generator(0)
    logits = _randn(B, T, V, gen=gen, scale=1.5)
    targets = torch.randint(V, (B, T), generator=gen)
    flat_hint = ("F.cross_entropy wants logits (N, V) and targets (N,): flatten with "
                 "logits.reshape(-1, V) and targets.reshape(-1)")
    value = _call(fn, logits, targets, shape_hint=flat_hint)
    try:
        value = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"return a single number (a float), got {type(value).__name__}"
                             + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "")) from None
    _report("returns a single number")

    nll = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    expected = nll.mean().exp()
    log_probs = logits.log_softmax(-1).gather(-1, targets[..., None])[..., 0]
    probs = logits.softmax(-1).gather(-1, targets[..., None])[..., 0]
    raw = logits.gather(-1, targets[..., None])[..., 0]
    wrong = [
        (nll.sum().exp(), "perplexity equals exp of the SUM of losses: average over tokens"),
        (nll.mean(), "you returned the mean cross-entropy: perplexity is exp of it"),
        (2 ** nll.mean(), "use exp, not 2 ** ...: cross-entropy uses the natural log"),
        ((-raw).mean().exp(), "logits are not log-probabilities: apply log_softmax (or use F.cross_entropy)"),
        ((-probs).mean().exp(), "take the log of the probabilities"),
        (nll.view(B, T).mean(-1).exp().mean(),
         "average the loss over all tokens first, then take exp: the mean of per-sequence "
         "perplexities is not the perplexity"),
        ((log_probs).mean().exp(), "perplexity is exp of the NEGATIVE mean log-probability"),
    ]
    # softmax over a batch or time axis instead of the vocabulary axis
    for axis, name in [(0, "batch"), (1, "time")]:
        picked = logits.log_softmax(axis).gather(-1, targets[..., None])[..., 0]
        wrong.append(((-picked).mean().exp(),
                      f"the softmax runs over the {name} axis: normalise over the vocabulary, dim=-1"))
    _expect_close(value, expected, "perplexity", "exp(F.cross_entropy(logits, targets))", rtol=1e-6, atol=0,
                  wrong_answers=wrong, passed=f"matches exp(F.cross_entropy) on logits of shape {(B, T, V)}")

    uniform = _call(fn, torch.zeros(B, T, V, dtype=torch.float64), targets, shape_hint=flat_hint)
    _expect_close(float(uniform), torch.tensor(float(V)), "perplexity of uniform predictions",
                  "the vocabulary size", rtol=1e-6, atol=0,
                  passed=f"uniform predictions give perplexity {V}, the vocabulary size")

    flat = _call(fn, logits.reshape(-1, V), targets.reshape(-1), shape_hint=flat_hint)
    _expect_close(float(flat), expected, "perplexity for logits of shape (N, V)", "the (B, T, V) result",
                  rtol=1e-6, atol=0, hint="handle any number of leading dimensions: flatten them",
                  passed=f"also works for logits of shape {(B * T, V)}")

    if "ignore_index" in inspect.signature(fn).parameters:
        padded = targets.clone()
        padded[1, 3:] = 0
        keep = padded.reshape(-1) != 0
        masked = F.cross_entropy(logits.reshape(-1, V)[keep], padded.reshape(-1)[keep]).exp()
        got = _call(fn, logits, padded, ignore_index=0, shape_hint=flat_hint)
        ignored_counted = F.cross_entropy(logits.reshape(-1, V), padded.reshape(-1), ignore_index=0,
                                          reduction="sum").div(padded.numel()).exp()
        _expect_close(float(got), masked, "perplexity with ignore_index", "exp(F.cross_entropy(..., ignore_index))",
                      rtol=1e-6, atol=0,
                      wrong_answers=[(ignored_counted, "divide by the number of NON-ignored tokens, not all tokens")],
                      passed="targets equal to ignore_index are left out of the average")
    print("All perplexity checks passed.")


