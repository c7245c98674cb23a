"""Visible checks for the notebooks' exercises.

Each check_<exercise>(fn) calls the learner's function on fixed random inputs
with injected weights, compares with a torch built-in, and prints one line per
property that holds. On the first property that fails it raises an
AssertionError that says what is wrong and, when the wrong value matches a
common mistake (computed here, not guessed), what the mistake probably is.

To add a check for a later chapter: build inputs with _generator(seed), call
the function through _call (so shape errors get a hint), then use
expect_shape and _expect_close with a list of (wrong answer, hint) pairs.
Printed lines contain no floats that vary by machine, so notebooks that store
these outputs compare cleanly.
"""
from __future__ import annotations

import inspect
import itertools
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["expect_shape", "check_rnn_cell", "check_lstm_cell", "check_clip_grad_norm", "check_perplexity"]

WrongAnswers = Sequence[tuple[Any, str]]


# ---------------------------------------------------------------------------
# Helpers shared by all chapters' checks


def _report(message: str) -> None:
    print(f"✓ {message}")


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    # float64: the comparisons test the learner's maths, not float32 rounding
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def _call(fn: Callable, *args, shape_hint: str = "", **kwargs):
    """Call the learner's function; turn a shape error inside it into a hint."""
    try:
        return fn(*args, **kwargs)
    except RuntimeError as err:
        text = str(err)
        if shape_hint and any(w in text for w in ("shape", "size", "dimension")):
            raise AssertionError(f"{getattr(fn, '__name__', 'your function')} raised: {text}\n"
                                 f"Hint: {shape_hint}") from err
        raise


def expect_tensor(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{name} should be a torch.Tensor, got {type(value).__name__}")
    return value


def expect_shape(value: Any, expected: Sequence[int], name: str = "output", hint: str = "") -> None:
    """Raise AssertionError naming the expected and actual shape when they differ."""
    expect_tensor(value, name)
    if tuple(value.shape) != tuple(expected):
        raise AssertionError(f"{name} has shape {tuple(value.shape)}, expected {tuple(expected)}"
                             + (f": {hint}" if hint else ""))


def _as_float64(value: Any) -> torch.Tensor:
    return torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value).double()


def _fmt(tolerance: float) -> str:
    return f"{tolerance:g}".replace("e-0", "e-")  # 1e-6, not 1e-06


def _close(actual: Any, expected: Any, atol: float, rtol: float = 0.0) -> bool:
    if expected is None:
        return False
    a, e = _as_float64(actual), _as_float64(expected)
    return a.shape == e.shape and bool(torch.allclose(a, e, atol=atol, rtol=rtol))


def _expect_close(actual: Any, expected: Any, what: str, reference: str, *, atol: float = 1e-6,
                  rtol: float = 0.0, wrong_answers: WrongAnswers = (), hint: str = "",
                  passed: str | None = None) -> None:
    """Pass (print `passed`) if actual is close to expected; otherwise raise
    with the hint of the first known wrong answer that `actual` matches."""
    if _close(actual, expected, atol, rtol):
        tolerance = _fmt(atol) if atol else f"a relative {_fmt(rtol)}"
        _report(passed or f"{what} matches {reference} to {tolerance}")
        return
    for wrong, diagnosis in wrong_answers:
        if _close(actual, wrong, atol, rtol):
            raise AssertionError(f"{what} differs from {reference}: {diagnosis}")
    a, e = _as_float64(actual), _as_float64(expected)
    detail = (f"largest difference {(a - e).abs().max().item():.3g}" if a.shape == e.shape
              else f"shape {tuple(a.shape)} instead of {tuple(e.shape)}")
    raise AssertionError(f"{what} differs from {reference} ({detail})" + (f": {hint}" if hint else ""))


def _inputs_unchanged(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> None:
    if any(not torch.equal(b, a) for b, a in zip(before, after)):
        raise AssertionError("your function changed its inputs in place (for example h += ...): "
                             "compute new tensors instead; autograd needs the old values")


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
                             + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else ""))
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


# ===========================================================================
# Chapter 02: seq2seq
# ===========================================================================
# encode, decoder_step, masked_cross_entropy, greedy_decode. The modules whose
# weights the learner's functions use are built from a fixed seed inside
# torch.random.fork_rng, so a check never moves the learner's global RNG.

__all__ += ["check_encoder", "check_decoder_step", "check_masked_cross_entropy", "check_greedy_decode"]

_PAD, _SOS, _EOS = 0, 1, 2


def _seeded_modules(seed: int, build: Callable[[], Any]) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _padded_source(lengths: Sequence[int], vocab_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _generator(seed)
    lengths_t = torch.tensor(list(lengths))
    src = torch.randint(4, vocab_size, (len(lengths), max(lengths)), generator=gen)
    src[torch.arange(src.shape[1])[None, :] >= lengths_t[:, None]] = _PAD
    return src, lengths_t


def _expect_pair(result: Any, names: str) -> tuple[Any, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return a tuple {names}; got {type(result).__name__}")
    return result[0], result[1]


_ENCODER_HINT = ("embedding(src) is (batch, src_len, emb); the GRU is batch_first, so it takes that directly; "
                 "pack_padded_sequence wants lengths on the CPU and, for an unsorted batch, enforce_sorted=False")


def check_encoder(fn: Callable) -> None:
    """fn(src, src_lengths, embedding, gru) -> (outputs, hidden), as course_lib.seq2seq.encode."""
    from .seq2seq import Encoder

    V, E, H = 11, 4, 6
    lengths = [7, 3, 5, 1]          # not sorted: real batches are not
    enc = _seeded_modules(0, lambda: Encoder(V, E, H).double())
    src, src_lengths = _padded_source(lengths, V, seed=0)
    B, S = src.shape
    saved = [src.clone(), src_lengths.clone()]
    outputs, hidden = _expect_pair(_call(fn, src, src_lengths, enc.embedding, enc.rnn, shape_hint=_ENCODER_HINT),
                                   "(outputs, hidden)")
    _inputs_unchanged(saved, [src, src_lengths])
    expect_shape(outputs, (B, S, H), "outputs", hint="one GRU state per source position, (batch, src_len, hidden)")
    expect_shape(hidden, (1, B, H), "hidden",
                 hint="keep the GRU's own layout (num_layers, batch, hidden), as nn.GRU returns it")
    _report(f"outputs shape {(B, S, H)}, hidden shape {(1, B, H)}")

    ref_out, ref_hidden = enc(src, src_lengths)
    real = torch.arange(S)[None, :] < src_lengths[:, None]
    with torch.no_grad():
        emb = enc.embedding(src)
        plain_out, plain_hidden = enc.rnn(emb)
    _expect_close(outputs[real], ref_out[real], "outputs at real positions", "the GRU run over each source",
                  hint="embed the tokens with `embedding`, then run `gru` over them (batch first)")
    rows = torch.arange(B)
    wrong_hidden = [
        (plain_hidden, "hidden is the state after the PADDING of the shorter sequences: it must be the state "
                       "after each sequence's last REAL token (pack the batch with pack_padded_sequence, "
                       "or pick outputs at position length - 1)"),
        (plain_out[:, -1].unsqueeze(0), "outputs[:, -1] is a padded position for the shorter sequences: "
                                        "take each sequence's state at position length - 1"),
        (ref_out[:, -1].unsqueeze(0), "outputs[:, -1] is a padded position (zeros) for the shorter sequences: "
                                      "take each sequence's state at position length - 1"),
        (plain_out[rows, (src_lengths - 2).clamp(min=0)].unsqueeze(0),
         "off by one: the last real token of a sequence of length n is at position n - 1, not n - 2"),
        (plain_out[rows, src_lengths.clamp(max=S - 1)].unsqueeze(0),
         "off by one: the last real token of a sequence of length n is at position n - 1, not n"),
    ]
    _expect_close(hidden, ref_hidden, "hidden", "the state after each sequence's last real token",
                  wrong_answers=wrong_hidden, passed="hidden is the state after each sequence's last real token "
                                                     "(sequences of lengths 7, 3, 5, 1)")

    scrambled = src.clone()
    scrambled[~real] = 5
    out2, hidden2 = _expect_pair(_call(fn, scrambled, src_lengths, enc.embedding, enc.rnn), "(outputs, hidden)")
    _expect_close(hidden2, ref_hidden, "hidden with different tokens in the padding", "hidden with <pad> there",
                  hint="the padding leaks into the final state: only real tokens may be read",
                  passed="tokens in the padded positions change nothing")

    if not outputs.requires_grad or not hidden.requires_grad:
        raise AssertionError("outputs and hidden are not connected to the weights: avoid torch.no_grad(), "
                             ".detach() and .data inside encode, or training cannot update the encoder")
    grads = torch.autograd.grad(hidden.sum(), [enc.embedding.weight, enc.rnn.weight_hh_l0], allow_unused=True)
    if any(g is None or g.abs().sum() == 0 for g in grads):
        raise AssertionError("no gradient reaches the embedding or the GRU weights from hidden")
    _report("gradients flow from hidden to the embedding and the GRU")

    enc2 = _seeded_modules(1, lambda: Encoder(V, E, 5, num_layers=2).double())
    src2, lengths2 = _padded_source([4, 6, 2], V, seed=1)
    ref_out2, ref_hidden2 = enc2(src2, lengths2)
    out2, hidden2 = _expect_pair(_call(fn, src2, lengths2, enc2.embedding, enc2.rnn, shape_hint=_ENCODER_HINT),
                                 "(outputs, hidden)")
    _expect_close(hidden2, ref_hidden2, "hidden of a 2-layer GRU", "the state of both layers after the last "
                  "real token", hint="return the hidden state of every layer, (num_layers, batch, hidden)",
                  passed="works with a 2-layer GRU (hidden is (2, batch, hidden))")
    print("All encoder checks passed.")


def check_decoder_step(fn: Callable) -> None:
    """fn(token, hidden, embedding, gru, out) -> (logits, hidden), as course_lib.seq2seq.decoder_step."""
    from .seq2seq import Decoder

    V, E, H, B = 9, 4, 6, 3
    dec = _seeded_modules(2, lambda: Decoder(V, E, H).double())
    gen = _generator(2)
    token = torch.tensor([_SOS, 5, 7])
    hidden = _randn(1, B, H, gen=gen, scale=0.5)
    saved = [token.clone(), hidden.clone()]
    hint = ("embed the (batch,) tokens to (batch, emb), then add a time axis of length 1, (batch, 1, emb), "
            "for the batch-first GRU; the output layer maps the GRU output (batch, hidden) to (batch, vocab)")
    logits, h_new = _expect_pair(_call(fn, token, hidden, dec.embedding, dec.rnn, dec.out, shape_hint=hint),
                                 "(logits, hidden)")
    _inputs_unchanged(saved, [token, hidden])
    expect_shape(logits, (B, V), "logits", hint="one score per vocabulary entry for each sequence: "
                 "squeeze the time axis of length 1")
    expect_shape(h_new, (1, B, H), "the new hidden", hint="return the GRU's new state, (num_layers, batch, hidden)")
    _report(f"logits shape {(B, V)}, hidden shape {(1, B, H)}")

    ref_logits, ref_hidden = dec.step(token, hidden)
    with torch.no_grad():
        zero_logits, zero_hidden = dec.step(token, torch.zeros_like(hidden))
    _expect_close(h_new, ref_hidden, "the new hidden", "the GRU's state after reading the token",
                  wrong_answers=[(hidden, "you returned the OLD hidden state: return the one the GRU gives back"),
                                 (zero_hidden, "the GRU started from zeros: pass `hidden` to it as its initial "
                                               "state, gru(x, hidden)")])
    # Logits are compared up to a constant per row: log_softmax(logits) is as good as the logits.
    normalise = lambda z: _as_float64(z).log_softmax(-1)
    _expect_close(normalise(logits), normalise(ref_logits), "logits", "the output layer applied to the new state",
                  wrong_answers=[(normalise(zero_logits), "the GRU started from zeros: pass `hidden` to it")],
                  hint=("return the raw scores of `out` (logits), not probabilities"
                        if bool(torch.allclose(_as_float64(logits), ref_logits.softmax(-1).double(), atol=1e-6))
                        else "logits = out(GRU output at this step)"))

    # Teacher forcing: the step, repeated over the known target, is the whole-sequence decoder.
    tgt_in = torch.tensor([[_SOS, 4, 6, 5, 8], [_SOS, 7, 7, 4, 0], [_SOS, 5, 0, 0, 0]])
    ref_all, _ = dec(tgt_in, hidden)
    h, steps = hidden, []
    for t in range(tgt_in.shape[1]):
        logits_t, h = _expect_pair(_call(fn, tgt_in[:, t], h, dec.embedding, dec.rnn, dec.out), "(logits, hidden)")
        steps.append(normalise(logits_t))
    _expect_close(torch.stack(steps, 1), normalise(ref_all), "5 steps fed with the target tokens",
                  "the decoder run over the whole target at once",
                  passed="5 steps with teacher forcing equal one run of the decoder over the whole sequence")

    if not logits.requires_grad:
        raise AssertionError("logits are not connected to the weights: avoid torch.no_grad() and .detach()")
    grads = torch.autograd.grad(logits.sum(), [dec.embedding.weight, dec.rnn.weight_hh_l0, dec.out.weight],
                                allow_unused=True)
    if any(g is None or g.abs().sum() == 0 for g in grads):
        raise AssertionError("no gradient reaches the embedding, the GRU or the output layer from the logits")
    _report("gradients flow to the embedding, the GRU and the output layer")

    dec2 = _seeded_modules(3, lambda: Decoder(V, E, 5, num_layers=2).double())
    hidden2 = _randn(2, B, 5, gen=gen, scale=0.5)
    ref2_logits, ref2_hidden = dec2.step(token, hidden2)
    logits2, h2 = _expect_pair(_call(fn, token, hidden2, dec2.embedding, dec2.rnn, dec2.out, shape_hint=hint),
                               "(logits, hidden)")
    _expect_close(h2, ref2_hidden, "the new hidden of a 2-layer GRU", "the GRU's new state",
                  hint="return the hidden state of every layer, (num_layers, batch, hidden)")
    with torch.no_grad():
        bottom = dec2.out(ref2_hidden[0])
    _expect_close(normalise(logits2), normalise(ref2_logits), "logits of a 2-layer decoder",
                  "the output layer on the TOP layer's state",
                  wrong_answers=[(normalise(bottom), "the output layer read the BOTTOM layer's state hidden[0]: "
                                                     "use the GRU's output (the top layer), or hidden[-1]")],
                  passed="works with a 2-layer GRU (the output layer reads the top layer)")
    print("All decoder step checks passed.")


def check_masked_cross_entropy(fn: Callable) -> None:
    """fn(logits, targets, pad_id=0) -> scalar mean cross-entropy over non-pad targets,
    as course_lib.seq2seq.masked_cross_entropy."""
    B, T, V = 3, 5, 7
    gen = _generator(4)
    logits = _randn(B, T, V, gen=gen, scale=2.0).requires_grad_(True)
    targets = torch.randint(1, V - 1, (B, T), generator=gen)   # never V - 1, the other pad_id tried below
    lengths = torch.tensor([5, 2, 4])
    real = torch.arange(T)[None, :] < lengths[:, None]
    targets[~real] = _PAD
    saved = [logits.detach().clone(), targets.clone()]
    loss = _call(fn, logits, targets,
                 shape_hint="F.cross_entropy wants (N, V) scores and (N,) targets: flatten batch and time first")
    _inputs_unchanged(saved, [logits.detach(), targets])
    loss = expect_tensor(loss, "the loss")
    if loss.dim() != 0:
        raise AssertionError(f"the loss should be a scalar (0-d tensor), got shape {tuple(loss.shape)}: "
                             "average over the real tokens")
    _report("returns a scalar tensor")

    flat_logits, flat_targets = logits.detach().reshape(-1, V), targets.reshape(-1)
    per_token = F.cross_entropy(flat_logits, flat_targets, reduction="none").view(B, T)
    mask = real.double()
    expected = (per_token * mask).sum() / mask.sum()
    picked = flat_logits.gather(-1, flat_targets[:, None]).view(B, T)
    wrong = [
        (per_token.mean(), "the padded positions are averaged in too: leave out every target equal to pad_id "
                           "(mask them, or F.cross_entropy(..., ignore_index=pad_id))"),
        ((per_token * mask).sum() / (B * T), "you divided by all B * T positions: divide by the number of "
                                             "REAL (non-pad) tokens"),
        ((per_token * mask).sum(), "that is the sum over real tokens: divide by their number to get the mean"),
        ((per_token * mask).sum() / B, "divide by the number of real tokens, not by the batch size"),
        (((per_token * mask).sum(1) / mask.sum(1)).mean(),
         "that is the mean of per-sequence means: every real token should count once, so a long target "
         "weighs more than a short one; sum over all real tokens, then divide by their number"),
        ((per_token * (1 - mask)).sum() / (1 - mask).sum(), "the mask is inverted: you averaged over the padding "
                                                            "only; real tokens are targets != pad_id"),
        (-(picked * mask).sum() / mask.sum(), "logits are not log-probabilities: apply log_softmax "
                                             "(or use F.cross_entropy)"),
    ]
    _expect_close(loss, expected, "the loss", "the mean cross-entropy over real tokens", wrong_answers=wrong,
                  passed="equals the mean cross-entropy over the 11 real tokens of 3 padded targets")

    changed = logits.detach().clone()
    changed[~real] = _randn(int((~real).sum()), V, gen=gen, scale=5.0)
    _expect_close(_call(fn, changed, targets), expected, "the loss after changing the logits at padded positions",
                  "the loss before", hint="scores at padded positions must not count",
                  passed="scores at padded positions do not count")

    # The same sentences in a batch padded to a longer length: nothing changes.
    wider_logits = torch.cat([logits.detach(), _randn(B, 3, V, gen=gen)], dim=1)
    wider_targets = torch.cat([targets, torch.full((B, 3), _PAD)], dim=1)
    _expect_close(_call(fn, wider_logits, wider_targets), expected, "the loss with 3 more padding columns",
                  "the loss before", hint="the loss of a batch must not depend on how much padding it has",
                  passed="extra padding columns change nothing")

    other_pad = targets.clone()
    other_pad[~real] = 6
    _expect_close(_call(fn, logits.detach(), other_pad, pad_id=6), expected, "the loss with pad_id=6",
                  "the loss with pad_id=0", hint="use the pad_id argument rather than a hard-coded 0",
                  passed="uses the pad_id argument")

    if not loss.requires_grad:
        raise AssertionError("the loss is not connected to the logits: avoid .item(), .detach() and numpy, "
                             "or training cannot backpropagate through it")
    (grad,) = torch.autograd.grad(loss, logits)
    if grad[~real].abs().max() > 0:
        raise AssertionError("the gradient reaches padded positions: they must not count in the loss")
    _report("the gradient reaches real positions only")
    print("All masked cross-entropy checks passed.")


class _ScriptedDecoder:
    """A fake model for greedy decoding: row b spells `sequences[b]` (ending in <eos>)
    as long as it is fed its own previous output and its state is passed on; it
    says "3" when fed a wrong token and "7" once it has finished. It records what
    went wrong, so the check can name the mistake."""

    V, WRONG_TOKEN, AFTER_EOS = 8, 3, 7

    def __init__(self, sequences: Sequence[Sequence[int]]):
        width = max(len(s) for s in sequences) + 30
        self.table = torch.full((len(sequences), width), self.AFTER_EOS)
        for b, s in enumerate(sequences):
            self.table[b, :len(s)] = torch.tensor(s)
        self.calls = 0
        self.stale_state = False
        self.fed_sos_again = False
        self.wrong_feed = False

    def start_state(self) -> torch.Tensor:
        return torch.zeros(self.table.shape[0], dtype=torch.long)   # the step count of each row

    def __call__(self, prev: torch.Tensor, state: torch.Tensor):
        if not isinstance(state, torch.Tensor) or state.shape != (self.table.shape[0],):
            raise AssertionError("pass step_fn the state it returned last time (the start state at first)")
        if bool((state != self.calls).any()):
            self.stale_state = True
        prev = torch.as_tensor(prev).long()
        rows = torch.arange(self.table.shape[0])
        t = state.clamp(max=self.table.shape[1] - 1)
        expected_prev = torch.where(state == 0, torch.full_like(prev, _SOS), self.table[rows, (t - 1).clamp(min=0)])
        unfinished = (self.table[rows, :self.calls] == _EOS).sum(1) == 0 if self.calls else torch.ones_like(prev).bool()
        bad = (prev != expected_prev) & unfinished
        if bool(bad.any()) and self.calls > 0:
            self.wrong_feed = True
            if bool((prev[bad] == _SOS).all()):
                self.fed_sos_again = True
        token = torch.where(prev == expected_prev, self.table[rows, t], torch.full_like(prev, self.WRONG_TOKEN))
        self.calls += 1
        logits = F.one_hot(token, self.V).double() * 4.0 - 2.0
        return logits, state + 1


def check_greedy_decode(fn: Callable) -> None:
    """fn(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=0, device=None) -> (B, T) tokens,
    as course_lib.decoding.greedy_decode."""
    from .decoding import greedy_decode as reference
    from .seq2seq import Seq2Seq

    sequences = [[5, 6, _EOS], [6, _EOS], [4, 4, 5, 6, _EOS]]
    expected = torch.tensor([[5, 6, 2, 0, 0], [6, 2, 0, 0, 0], [4, 4, 5, 6, 2]])
    model = _ScriptedDecoder(sequences)
    out = _call(fn, model, model.start_state(), _SOS, _EOS, 10, 3)
    out = expect_tensor(out, "the output")
    if model.stale_state:
        raise AssertionError("step_fn was given an old state: pass the state it returned at the previous step "
                             "into the next call (state is the decoder's memory)")
    if model.fed_sos_again:
        raise AssertionError("after the first step you fed <sos> again: feed back the token chosen at the "
                             "previous step (the argmax of its logits)")
    if model.wrong_feed:
        raise AssertionError("step_fn was fed a token that is not the one chosen at the previous step: feed back "
                             "prev = logits.argmax(dim=-1) (greedy decoding reads its own predictions)")
    if out.dim() != 2 or out.shape[0] != 3:
        raise AssertionError(f"the output should be (batch, steps) = (3, 5), got shape {tuple(out.shape)}")
    if out.shape[1] >= 1 and bool((out[:, 0] == _SOS).all()):
        raise AssertionError("the output starts with <sos>: return only the generated tokens")
    if out.dtype != torch.long:
        raise AssertionError(f"return token ids as a long tensor, got {out.dtype}")
    if out.shape[1] == 10:
        raise AssertionError("you decoded all max_len = 10 steps although every row had produced <eos> "
                             "after 5: stop once every row has finished")
    if out.shape[1] < 5 and bool((out == _EOS).any()):
        raise AssertionError(f"you stopped after {out.shape[1]} steps, when the first row finished: go on "
                             "until EVERY row has produced <eos> (or max_len steps)")
    expect_shape(out, (3, 5), "the output", hint="one column per step, up to the step where the last row finished")
    _report("feeds back its own predictions, passes the state on, and stops when every row has produced <eos>")
    if not torch.equal(out, expected):
        after = out.clone()
        after[expected != _PAD] = _PAD
        hint = ("after a row's <eos> fill it with pad_id: a finished sequence's later outputs are not part of "
                "its answer" if bool((after != _PAD).any()) else "the tokens differ from the argmax at some step")
        raise AssertionError(f"got {out.tolist()}, expected {expected.tolist()}: {hint}")
    _report("rows end with <eos> and are padded after it")

    model = _ScriptedDecoder(sequences)
    cut = _call(fn, model, model.start_state(), _SOS, _EOS, 3, 3)
    if not torch.equal(expect_tensor(cut, "the output"), expected[:, :3]):
        raise AssertionError(f"with max_len=3, got {cut.tolist()}, expected {expected[:, :3].tolist()}: "
                             "stop after max_len steps even if some rows have not finished")
    _report("stops after max_len steps when a row never finishes")

    # A real (random) GRU encoder-decoder, with <eos> made likely so rows end at different steps.
    def build():
        m = Seq2Seq.create(12, 9, emb_dim=4, hidden_dim=8).double().eval()
        with torch.no_grad():
            m.decoder.out.bias[_EOS] += 1.5
        return m
    m = _seeded_modules(5, build)
    src, lengths = _padded_source([6, 4, 5, 3, 6, 2], 12, seed=5)
    state = m.start_state(src, lengths)
    ref = reference(m.step, state, _SOS, _EOS, 12, batch_size=6)
    got = expect_tensor(_call(fn, m.step, state, _SOS, _EOS, 12, 6), "the output")
    if not torch.equal(got.cpu(), ref.cpu()):
        raise AssertionError(f"on a random GRU decoder you return {got.tolist()}, "
                             f"course_lib.decoding.greedy_decode gives {ref.tolist()}")
    _report("equals course_lib.decoding.greedy_decode on a random GRU decoder whose rows finish at different steps")
    print("All greedy decoding checks passed.")


# ---------------------------------------------------------------------------
# Chapter 03: attention
#
# Additive score, attention-weighted context with a padding mask, one step of
# the attention decoder, corpus BLEU. References: course_lib.seq2seq and
# course_lib.metrics.corpus_bleu (equal to sacrebleu), with injected weights.

__all__ += ["check_additive_score", "check_attention_context", "check_attention_decoder_step",
            "check_corpus_bleu"]


def _additive_reference(query, keys, W_q, W_k, v):
    from .seq2seq import AdditiveAttention

    module = AdditiveAttention(W_q.shape[1], W_k.shape[1], W_q.shape[0]).double()
    with torch.no_grad():
        module.W_q.weight.copy_(W_q)
        module.W_k.weight.copy_(W_k)
        module.v.weight.copy_(v.reshape(1, -1))
    return module(query, keys)


def _additive_case(B: int, S: int, Dq: int, Dk: int, A: int, seed: int):
    gen = _generator(seed)
    return (_randn(B, Dq, gen=gen), _randn(B, S, Dk, gen=gen), _randn(A, Dq, gen=gen, scale=0.5),
            _randn(A, Dk, gen=gen, scale=0.5), _randn(A, gen=gen))


def check_additive_score(fn: Callable) -> None:
    """fn(query (B, Dq), keys (B, S, Dk), W_q (A, Dq), W_k (A, Dk), v (A,)) -> scores (B, S),
    score[b, s] = v . tanh(W_q query[b] + W_k keys[b, s]), as course_lib.seq2seq.AdditiveAttention."""
    B, S, Dq, Dk, A = 2, 5, 3, 4, 6
    query, keys, W_q, W_k, v = _additive_case(B, S, Dq, Dk, A, seed=0)
    saved = [t.clone() for t in (query, keys, W_q, W_k, v)]
    layout = ("the weights are stored like nn.Linear's, (out, in): project with query @ W_q.T "
              "(B, A) and keys @ W_k.T (B, S, A), then add them with query's projection "
              "unsqueezed to (B, 1, A) so it broadcasts over the S source positions")
    scores = _call(fn, query, keys, W_q, W_k, v, shape_hint=layout)
    expect_shape(scores, (B, S), "scores", hint="one score per (batch, source position): "
                 "the v product sums over the attention dimension A")
    _report(f"scores have shape {(B, S)}, one per source position")
    _inputs_unchanged(saved, [query, keys, W_q, W_k, v])

    expected = _additive_reference(query, keys, W_q, W_k, v)
    with torch.no_grad():
        q_proj, k_proj = query @ W_q.T, keys @ W_k.T
        pre = q_proj.unsqueeze(1) + k_proj                       # (B, S, A)
        wrong = [
            (pre @ v, "did you apply tanh? score = v . tanh(W_q q + W_k k)"),
            (torch.tanh(pre @ v), "apply tanh BEFORE the product with v: v . tanh(W_q q + W_k k), "
                                  "not tanh(v . (W_q q + W_k k))"),
            (torch.tanh(k_proj) @ v, "the score ignores the query: add W_q q to W_k k inside the tanh"),
            (torch.tanh(q_proj.unsqueeze(1).expand(B, S, A)) @ v,
             "the score ignores the keys: add W_k k to W_q q inside the tanh"),
            (torch.softmax(torch.tanh(pre) @ v, dim=-1),
             "return the raw scores; the softmax comes in the next exercise"),
            (torch.tanh(q_proj.unsqueeze(1) * k_proj) @ v,
             "additive attention ADDS the two projections (that is its name): W_q q + W_k k"),
        ]
    _expect_close(scores, expected, "the score matrix", "course_lib.seq2seq.AdditiveAttention with the same weights",
                  wrong_answers=wrong, passed="scores match course_lib.seq2seq.AdditiveAttention with the same weights")
    W_q2 = W_q.clone().requires_grad_(True)
    scores2 = _call(fn, query, keys, W_q2, W_k, v)
    if not scores2.requires_grad:
        raise AssertionError("the scores are not connected to the weights in the autograd graph: "
                             "avoid .detach(), .item(), numpy and torch.no_grad()")
    grad = torch.autograd.grad(scores2.sum(), W_q2, allow_unused=True)[0]
    if grad is None:
        raise AssertionError("W_q gets no gradient from the scores: use W_q itself in differentiable torch "
                             "operations (no copies into new tensors or parameters)")
    W_q3 = W_q.clone().requires_grad_(True)
    formula = torch.tanh((query @ W_q3.T).unsqueeze(1) + keys @ W_k.T) @ v   # equals the reference (checked above)
    expected_grad = torch.autograd.grad(formula.sum(), W_q3)[0]
    _expect_close(grad, expected_grad, "the gradient with respect to W_q", "the reference's",
                  hint="use differentiable torch operations only",
                  passed="gradients reach W_q and match the reference's")

    case = _additive_case(3, 7, 5, 2, 4, seed=1)
    _expect_close(_call(fn, *case, shape_hint=layout), _additive_reference(*case),
                  "the score matrix for batch 3, 7 positions, Dq 5, Dk 2, A 4", "the reference",
                  hint="are sizes hard-coded somewhere? query and keys may have different sizes",
                  passed="works for other sizes (query and keys of different sizes)")
    print("All additive score checks passed.")


def _context_case(B: int, S: int, Dv: int, lengths: Sequence[int], seed: int):
    from .seq2seq import length_mask

    gen = _generator(seed)
    return (_randn(B, S, gen=gen, scale=2.0), _randn(B, S, Dv, gen=gen),
            length_mask(torch.tensor(list(lengths)), S))


def check_attention_context(fn: Callable) -> None:
    """fn(scores (B, S), values (B, S, Dv), src_mask (B, S) bool, True = real) ->
    (context (B, Dv), weights (B, S)), as course_lib.seq2seq.attention_context."""
    from .seq2seq import attention_context as reference

    B, S, Dv = 3, 6, 4
    scores, values, mask = _context_case(B, S, Dv, [6, 4, 1], seed=0)
    saved = [scores.clone(), values.clone(), mask.clone()]
    result = _call(fn, scores, values, mask, shape_hint="weights (B, S) times values (B, S, Dv): "
                   "torch.bmm(weights.unsqueeze(1), values).squeeze(1), or (weights.unsqueeze(-1) * values).sum(1)")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return a tuple (context, weights); got {type(result).__name__}")
    context, weights = result
    expect_shape(weights, (B, S), "weights", hint="one weight per (batch, source position)")
    expect_shape(context, (B, Dv), "context", hint="one Dv-vector per batch row: sum over the S positions")
    _report(f"returns (context {(B, Dv)}, weights {(B, S)})")
    _inputs_unchanged(saved, [scores, values, mask])
    if _close(context, weights, 1e-9) or (weights.shape == (B, Dv) and context.shape == (B, S)):
        raise AssertionError("return (context, weights) in that order")

    expected_context, expected_weights = reference(scores, values, mask)
    m = mask.double()
    plain = torch.softmax(scores, dim=-1)
    wrong = [
        (plain, "padded positions get weight: set their scores to -inf (masked_fill(~src_mask, float('-inf'))) "
                "BEFORE the softmax"),
        (plain * m, "the weights are zeroed on padding after the softmax, so the real ones no longer sum to 1: "
                    "mask the scores before the softmax instead"),
        (torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1),
         "the mask is inverted: True marks REAL positions, which must keep their scores; fill ~src_mask"),
        (torch.softmax(scores.masked_fill(mask, -1e9), dim=-1),
         "the mask is inverted: True marks REAL positions, which must keep their scores; fill ~src_mask"),
        (torch.softmax(scores.masked_fill(~mask, 0.0), dim=-1),
         "filling padded scores with 0 still gives them weight (exp(0) = 1): fill with -inf"),
        (torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=0),
         "the softmax runs over the batch axis: normalise over the source positions, dim=-1"),
        (torch.sigmoid(scores.masked_fill(~mask, float("-inf"))),
         "use a softmax, so that the weights over the source positions sum to 1"),
    ]
    _expect_close(weights, expected_weights, "the weight matrix", "course_lib.seq2seq.attention_context",
                  wrong_answers=wrong, passed="weights match course_lib.seq2seq.attention_context")
    if bool((weights.detach()[~mask] != 0).any()):
        raise AssertionError("padded positions get a tiny but non-zero weight: fill their scores with "
                             "float('-inf') (or zero the weights and renormalise)")
    _report("weights sum to 1 over the source positions and are exactly 0 on padding")
    wrong_context = [
        ((expected_weights.unsqueeze(-1) * values).mean(1),
         "average the values WITH the weights: sum over positions, do not take the mean (the weights already sum to 1)"),
        (values.mean(1), "the context must use the attention weights: sum_s weights[:, s] * values[:, s]"),
    ]
    _expect_close(context, expected_context, "the context", "the weighted sum of the values",
                  wrong_answers=wrong_context, passed="context matches the weighted sum of the values")

    # changing a padded value (and its score) must not change anything
    values2, scores2 = values.clone(), scores.clone()
    values2[~mask] = 100.0
    scores2[~mask] = 20.0
    context2, _ = _call(fn, scores2, values2, mask)
    _expect_close(context2, expected_context, "the context after changing padded values and scores",
                  "the context before", hint="padded positions must not influence the context at all",
                  passed="changing padded positions leaves the context unchanged")

    scores3, values3, mask3 = _context_case(2, 9, 3, [9, 9], seed=1)
    got3 = _call(fn, scores3, values3, mask3)
    _expect_close(got3[1], torch.softmax(scores3, dim=-1), "the weight matrix when nothing is padded",
                  "a plain softmax over the source", hint="are sizes hard-coded somewhere?",
                  passed="with no padding (batch 2, 9 positions) the weights are a plain softmax")
    print("All attention context checks passed.")


class _patched_global:
    """Run a learner's function with one name in its globals temporarily replaced.

    The decoder step is checked with the reference attention_context, so that a
    mistake in exercise 2 costs only exercise 2.
    """

    def __init__(self, fn: Callable, name: str, value: Any):
        self.namespace = getattr(fn, "__globals__", None)
        self.name, self.value = name, value

    def __enter__(self):
        if self.namespace is not None and self.name in self.namespace:
            self.saved = self.namespace[self.name]
            self.namespace[self.name] = self.value
        return self

    def __exit__(self, *exc):
        if hasattr(self, "saved"):
            self.namespace[self.name] = self.saved
        return False


def reference_decoder_step(fn: Callable, *args):
    """Call fn with the notebook's `attention_context` replaced by the reference one."""
    from .seq2seq import attention_context

    with _patched_global(fn, "attention_context", attention_context):
        return fn(*args)


def _decoder_case(num_layers: int, B: int, S: int, E: int, H: int, V: int, lengths, seed: int):
    from .seq2seq import AttentionDecoder, length_mask

    torch.manual_seed(seed)  # the decoder's own weights; all inputs come from a generator
    decoder = AttentionDecoder(V, E, H, attention="additive", num_layers=num_layers).double()
    gen = _generator(seed)
    token = torch.randint(4, V, (B,), generator=gen)
    hidden = _randn(num_layers, B, H, gen=gen, scale=0.5)
    enc_outputs = _randn(B, S, H, gen=gen, scale=0.5)
    mask = length_mask(torch.tensor(list(lengths)), S)
    enc_outputs[~mask] = 0.0  # as the encoder returns them
    return decoder, token, hidden, enc_outputs, mask


def check_attention_decoder_step(fn: Callable) -> None:
    """fn(decoder, token (B,), hidden (L, B, H), enc_outputs (B, S, H), src_mask (B, S)) ->
    (logits (B, V), new hidden (L, B, H), weights (B, S)), as AttentionDecoder.step."""
    from .seq2seq import attention_context

    B, S, E, H, V, L = 3, 6, 5, 8, 11, 2
    decoder, token, hidden, enc_outputs, mask = _decoder_case(L, B, S, E, H, V, [6, 4, 2], seed=0)
    saved = [hidden.clone(), enc_outputs.clone()]
    concat_hint = ("the GRU reads torch.cat([embedding, context], dim=-1) of size E + H, as a sequence "
                   "of length 1: unsqueeze(1); the output layer reads torch.cat([gru_output, context], dim=-1)")
    result = _call(reference_decoder_step, fn, decoder, token, hidden, enc_outputs, mask, shape_hint=concat_hint)
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise AssertionError(f"return a tuple (logits, hidden, weights); got {type(result).__name__}")
    logits, new_hidden, weights = result
    expect_shape(logits, (B, V), "logits", hint="one score per vocabulary entry: squeeze the time axis")
    expect_shape(new_hidden, (L, B, H), "the new hidden state", hint="return the GRU's hidden, (layers, batch, hidden)")
    expect_shape(weights, (B, S), "weights")
    _report(f"returns logits {(B, V)}, hidden {(L, B, H)}, weights {(B, S)}")
    _inputs_unchanged(saved, [hidden, enc_outputs])

    with torch.no_grad():
        ref_logits, ref_hidden, ref_weights = decoder.step(token, hidden, enc_outputs, mask)

        def weights_for(query, use_mask=True):
            return attention_context(decoder.attention(query, enc_outputs), enc_outputs,
                                     mask if use_mask else None)[1]

        emb = decoder.embedding(token)
        wrong_weights = [
            (weights_for(hidden[-1], use_mask=False),
             "padded source positions get attention: pass src_mask on to attention_context"),
            (weights_for(hidden[0]), "the query is the TOP layer's previous state, hidden[-1], not hidden[0]"),
            (weights_for(enc_outputs[:, -1]), "the query is the decoder's previous hidden state, hidden[-1], "
                                              "not an encoder state"),
            (weights_for(hidden.mean(0)), "the query is the top layer's previous state, hidden[-1]"),
        ]
        new_query = decoder.rnn(torch.cat([emb, attention_context(decoder.attention(hidden[-1], enc_outputs),
                                                                   enc_outputs, mask)[0]], -1).unsqueeze(1),
                                hidden)[1][-1]
        wrong_weights.append((weights_for(new_query), "the weights must be computed from the PREVIOUS state, before "
                                                      "the GRU runs: that is what the decoder knows when it asks"))
    _expect_close(weights, ref_weights, "the weight matrix", "AttentionDecoder.step", wrong_answers=wrong_weights,
                  passed="attention weights match AttentionDecoder.step (query = previous top-layer state, padding masked)")

    with torch.no_grad():
        context = attention_context(decoder.attention(hidden[-1], enc_outputs), enc_outputs, mask)[0]
        gru_in_zero = torch.cat([emb, torch.zeros_like(context)], -1).unsqueeze(1)
        out_zero, hidden_zero = decoder.rnn(gru_in_zero, hidden)
        wrong_hidden = [
            (hidden_zero, "the context is missing from the GRU input: feed torch.cat([embedding, context], dim=-1)"),
            (hidden, "the hidden state was not updated: return the GRU's new hidden state"),
        ]
    _expect_close(new_hidden, ref_hidden, "the new hidden state", "AttentionDecoder.step",
                  wrong_answers=wrong_hidden, hint=concat_hint,
                  passed="the new hidden state matches AttentionDecoder.step (context fed into the GRU)")

    with torch.no_grad():
        wrong_logits = [
            (decoder.out(torch.cat([hidden[-1], context], -1)),
             "the output layer reads the NEW GRU output, not the previous hidden state"),
            (decoder.out(torch.cat([ref_hidden[0], context], -1)),
             "the output layer reads the top layer's new state (the GRU output), not the bottom layer's"),
            (torch.log_softmax(ref_logits, -1), "return raw logits; the loss applies the softmax"),
        ]
    _expect_close(logits, ref_logits, "the logits tensor", "AttentionDecoder.step", wrong_answers=wrong_logits,
                  hint="logits = decoder.out(torch.cat([gru_output, context], dim=-1))",
                  passed="logits match AttentionDecoder.step")

    decoder2, *inputs2 = _decoder_case(1, 4, 7, 6, 6, 9, [7, 1, 3, 5], seed=1)
    got2 = _call(reference_decoder_step, fn, decoder2, *inputs2, shape_hint=concat_hint)
    with torch.no_grad():
        ref2 = decoder2.step(*inputs2)
    _expect_close(torch.cat([got2[0].flatten(), got2[1].flatten(), got2[2].flatten()]),
                  torch.cat([ref2[0].flatten(), ref2[1].flatten(), ref2[2].flatten()]),
                  "the outputs of a one-layer decoder with E == H", "AttentionDecoder.step",
                  hint="check the order of the concatenations: [embedding, context] for the GRU, "
                       "[gru_output, context] for the output layer",
                  passed="works for a one-layer decoder with other sizes")
    print("All attention decoder step checks passed.")


def _bleu_reference(hypotheses, references, max_n=4) -> float:
    from .metrics import corpus_bleu

    return corpus_bleu(hypotheses, [[r] for r in references], max_n)


def _bleu_variant(hyps, refs, max_n=4, clip=True, brevity=True, geometric=True) -> float:
    """BLEU with one of its parts left out: the common wrong answers."""
    from collections import Counter
    import math

    matches, totals = [0] * max_n, [0] * max_n
    for hyp, ref in zip(hyps, refs):
        for n in range(1, max_n + 1):
            h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            totals[n - 1] += sum(h.values())
            matches[n - 1] += sum(min(c, r[g]) if clip else (c if g in r else 0) for g, c in h.items())
    c, r = sum(map(len, hyps)), sum(map(len, refs))
    if c == 0 or min(matches) == 0:
        return 0.0
    ps = [m / t for m, t in zip(matches, totals)]
    mean = math.exp(sum(map(math.log, ps)) / max_n) if geometric else sum(ps) / max_n
    bp = 1.0 if (c >= r or not brevity) else math.exp(1 - r / c)
    return bp * mean


def _bleu_inverted_bp(hyps, refs, max_n=4) -> float:
    import math

    c, r = sum(map(len, hyps)), sum(map(len, refs))
    no_bp = _bleu_variant(hyps, refs, max_n, brevity=False)
    return no_bp * (math.exp(1 - c / r) if c < r else 1.0)


_BLEU_HYPS = [["the", "cat", "sat", "on", "the", "mat"],
              ["a", "dog", "runs", "in", "the", "park", "park"],
              ["the", "the", "the", "bird"],
              ["it", "is", "raining"]]
_BLEU_REFS = [["the", "cat", "sat", "on", "a", "mat"],
              ["a", "dog", "runs", "in", "the", "big", "park"],
              ["the", "bird", "sings", "in", "the", "tree"],
              ["it", "is", "raining", "again", "today"]]


def check_corpus_bleu(fn: Callable) -> None:
    """fn(hypotheses, references, max_n=4) -> float in [0, 1]; ONE reference token list per
    hypothesis. Equals course_lib.metrics.corpus_bleu(hypotheses, [[r] for r in references])."""
    hyps, refs = _BLEU_HYPS, _BLEU_REFS
    value = _call(fn, hyps, refs)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"return a single number (a float), got {type(value).__name__}") from None
    _report("returns a single number")
    if value > 1.0 + 1e-9:
        raise AssertionError(f"BLEU is {value:.4g}: return it in [0, 1], not as a percentage")

    expected = _bleu_reference(hyps, refs)
    wrong = [
        (_bleu_variant(hyps, refs, clip=False), "count each hypothesis n-gram at most as often as it occurs in the "
                                                "reference (clipping): min(count_hyp, count_ref)"),
        (_bleu_variant(hyps, refs, brevity=False), "apply the brevity penalty exp(1 - r / c) when the hypotheses "
                                                   "are shorter in total than the references"),
        (_bleu_variant(hyps, refs, geometric=False), "combine the precisions with a GEOMETRIC mean, "
                                                     "exp(mean of log p_n), not the arithmetic mean"),
        (_bleu_inverted_bp(hyps, refs), "the brevity penalty is exp(1 - r / c), with r the reference length "
                                        "and c the hypothesis length (you have them swapped)"),
        (_bleu_variant(hyps, refs, max_n=3), "use n-grams up to max_n (4 by default), including max_n itself: "
                                             "range(1, max_n + 1)"),
        (sum(_bleu_reference([h], [r]) for h, r in zip(hyps, refs)) / len(hyps),
         "corpus BLEU adds up the n-gram counts of ALL sentences before dividing; it is not the mean of "
         "sentence BLEUs"),
    ]
    _expect_close(torch.tensor(value), torch.tensor(expected), "BLEU", "course_lib.metrics.corpus_bleu (= sacrebleu)",
                  atol=1e-9, wrong_answers=[(torch.tensor(w), d) for w, d in wrong],
                  passed="matches course_lib.metrics.corpus_bleu (equal to sacrebleu) on a 4-sentence corpus")

    perfect = float(_call(fn, refs, refs))
    _expect_close(torch.tensor(perfect), torch.tensor(1.0), "BLEU of the references against themselves", "1",
                  atol=1e-9, passed="the references score 1 against themselves")
    short = [h[:3] for h in refs]
    _expect_close(torch.tensor(float(_call(fn, short, refs))), torch.tensor(_bleu_reference(short, refs)),
                  "BLEU of truncated references", "the reference value", atol=1e-9,
                  wrong_answers=[(torch.tensor(_bleu_variant(short, refs, brevity=False)),
                                  "short hypotheses must pay the brevity penalty exp(1 - r / c)")],
                  passed="short outputs pay the brevity penalty")
    no_four = [["a", "b", "c"], ["d", "e"]]
    _expect_close(torch.tensor(float(_call(fn, no_four, no_four))), torch.tensor(0.0),
                  "BLEU of sentences with no 4-grams", "0", atol=1e-12,
                  hint="when some n-gram order has no match (here: no 4-grams at all), BLEU is 0; "
                       "check for a zero count before taking logarithms",
                  passed="a corpus without a single 4-gram match scores 0")
    _expect_close(torch.tensor(float(_call(fn, no_four, no_four, 2))), torch.tensor(1.0),
                  "BLEU with max_n=2 of a corpus against itself", "1", atol=1e-9,
                  hint="use the max_n argument instead of a fixed 4",
                  passed="max_n is respected")
    print("All BLEU checks passed.")
