"""Checks for chapter 04 (self-attention)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._common import _call, _expect_close, _generator, _inputs_unchanged, _randn, _report, expect_shape
from .attention import _patched_global

# ---------------------------------------------------------------------------
# Chapter 04: self-attention
#
# Scaled dot-product attention with an optional boolean mask, the combined
# padding + causal mask, and multi-head attention. References: torch's
# F.scaled_dot_product_attention and nn.MultiheadAttention, and
# course_lib.attention, with injected inputs and weights.

__all__ = ["check_scaled_dot_product_attention", "check_attention_mask", "check_multi_head_attention",
           "reference_multi_head_attention"]


def _pair(result, first: str, second: str, shape_first, shape_second) -> tuple[Tensor, Tensor]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return a tuple ({first}, {second}); got {type(result).__name__}")
    a, b = result
    if (isinstance(a, Tensor) and isinstance(b, Tensor) and tuple(a.shape) == tuple(shape_second)
            and tuple(b.shape) == tuple(shape_first) and tuple(shape_first) != tuple(shape_second)):
        raise AssertionError(f"return ({first}, {second}) in that order")
    return a, b


def _no_nan(weights: Tensor, why: str) -> None:
    if bool(torch.isnan(weights.detach()).any()):
        raise AssertionError(f"the weights contain NaN: {why}")


# --------------------------------------------------------------------------- exercise 1


def _call_masked(fn: Callable, *args, hint: str):
    """Like _call, but boolean indexing with a broadcasting mask raises IndexError, not RuntimeError."""
    try:
        return _call(fn, *args, shape_hint=hint)
    except IndexError as err:
        raise AssertionError(f"{getattr(fn, '__name__', 'your function')} raised: {err}\nHint: {hint}") from err


def _sdpa_variants(q: Tensor, k: Tensor, mask: Tensor | None) -> list[tuple[Tensor, str]]:
    """The attention weights of the usual mistakes, for _expect_close's wrong_answers."""
    d_k = q.shape[-1]
    raw = q @ k.transpose(-2, -1)

    def softmax(scores, dim=-1, fill=float("-inf")):
        if mask is not None:
            scores = scores.masked_fill(~mask, fill)
        return scores.softmax(dim)

    wrong = [
        (softmax(raw), "the scores are not scaled: divide q k^T by math.sqrt(d_k), with d_k = q.shape[-1]"),
        (softmax(raw / d_k), "divide the scores by the SQUARE ROOT of d_k (math.sqrt(d_k)), not by d_k"),
        (softmax(raw * math.sqrt(d_k)), "DIVIDE the scores by sqrt(d_k); they are multiplied"),
        (softmax(raw / math.sqrt(k.shape[-2])), "d_k is the size of the query/key vectors, q.shape[-1], "
                                                "not the number of keys"),
        (softmax(raw / math.sqrt(d_k), dim=-2), "the softmax runs over the queries: normalise over the KEYS "
                                                "(dim=-1), so each query's weights sum to 1"),
    ]
    if mask is not None:
        scaled = raw / math.sqrt(d_k)
        wrong += [
            (scaled.softmax(-1), "the mask is ignored: fill the scores where mask is False with -inf "
                                 "before the softmax (scores.masked_fill(~mask, float('-inf')))"),
            (scaled.masked_fill(~mask, 0.0).softmax(-1), "masked scores are filled with 0, but exp(0) = 1 still "
                                                         "gives them weight: fill with float('-inf')"),
            (scaled.masked_fill(mask, -1e9).softmax(-1), "the mask is inverted: True means MAY attend, so fill the "
                                                         "scores where the mask is False: masked_fill(~mask, ...)"),
            (scaled.softmax(-1) * mask, "the weights are zeroed after the softmax, so each row no longer sums to "
                                        "1: mask the scores BEFORE the softmax"),
        ]
    return wrong


def check_scaled_dot_product_attention(fn: Callable) -> None:
    """fn(q (..., seq_q, d_k), k (..., seq_k, d_k), v (..., seq_k, d_v), mask=None) ->
    (output (..., seq_q, d_v), weights (..., seq_q, seq_k)), as
    course_lib.attention.scaled_dot_product_attention; mask is boolean, True = may attend."""
    from ..attention import causal_mask, padding_mask
    from ..attention import scaled_dot_product_attention as reference

    gen = _generator(0)
    B, H, Tq, Tk, Dk, Dv = 2, 3, 5, 7, 8, 4
    q, k, v = _randn(B, H, Tq, Dk, gen=gen), _randn(B, H, Tk, Dk, gen=gen), _randn(B, H, Tk, Dv, gen=gen)
    saved = [q.clone(), k.clone(), v.clone()]
    shape_hint = ("q @ k.transpose(-2, -1) gives the (..., seq_q, seq_k) scores; transpose only the last two "
                  "axes (k.T would reverse all of them), then multiply the weights by v")
    result = _call(fn, q, k, v, shape_hint=shape_hint)
    output, weights = _pair(result, "output", "weights", (B, H, Tq, Dv), (B, H, Tq, Tk))
    expect_shape(weights, (B, H, Tq, Tk), "weights", hint="one weight per (query, key): (..., seq_q, seq_k)")
    expect_shape(output, (B, H, Tq, Dv), "output", hint="one d_v-vector per query: weights @ v")
    _report(f"returns (output {(B, H, Tq, Dv)}, weights {(B, H, Tq, Tk)}) for batched heads")
    _inputs_unchanged(saved, [q, k, v])

    expected = F.scaled_dot_product_attention(q, k, v)
    expected_weights = (q @ k.transpose(-2, -1) / math.sqrt(Dk)).softmax(-1)
    _expect_close(weights, expected_weights, "the weight tensor", "softmax(q k^T / sqrt(d_k))",
                  wrong_answers=_sdpa_variants(q, k, None),
                  passed="weights = softmax(q k^T / sqrt(d_k)) over the keys")
    _expect_close(output, expected, "the output", "torch.nn.functional.scaled_dot_product_attention",
                  hint="output = weights @ v", passed="output matches torch's F.scaled_dot_product_attention")

    mask_hint = ("the mask is smaller than the scores and must broadcast against them, e.g. a (T, T) causal "
                 "mask against (B, H, T, T) scores: use scores.masked_fill(~mask, ...) or torch.where(mask, "
                 "scores, ...), not boolean indexing such as scores[~mask]")
    # a causal mask (seq, seq) broadcast over batch and heads
    qc, kc, vc = _randn(B, H, 6, Dk, gen=gen), _randn(B, H, 6, Dk, gen=gen), _randn(B, H, 6, Dv, gen=gen)
    mask = causal_mask(6)
    out_c, w_c = _pair(_call_masked(fn, qc, kc, vc, mask, hint=mask_hint), "output", "weights",
                       (B, H, 6, Dv), (B, H, 6, 6))
    _no_nan(w_c, "a query has all its keys masked. Every query may see itself under a causal mask: is the mask "
                 "inverted? True = may attend, so fill the scores where ~mask")
    _expect_close(w_c, reference(qc, kc, vc, mask)[1],
                  "the weight tensor under a causal mask", "torch's", wrong_answers=_sdpa_variants(qc, kc, mask),
                  hint="mask is True where a query MAY attend: masked_fill(~mask, float('-inf'))")
    if bool((w_c.detach()[..., ~mask].abs() > 1e-12).any()):
        raise AssertionError("masked (future) keys get a small but non-zero weight: fill their scores with "
                             "float('-inf') (or a very large negative number such as -1e9)")
    _expect_close(out_c, F.scaled_dot_product_attention(qc, kc, vc, attn_mask=mask), "the output under a causal mask",
                  "torch's", passed="a (seq, seq) causal mask broadcasts over batch and heads; future keys get "
                                    "exactly zero weight")

    # a padding mask (batch, 1, 1, seq_k) with cross-attention shapes
    keep = padding_mask(torch.tensor([7, 4]))
    out_p, w_p = _pair(_call_masked(fn, q, k, v, keep, hint=mask_hint), "output", "weights",
                       (B, H, Tq, Dv), (B, H, Tq, Tk))
    _no_nan(w_p, "a query has all its keys masked: is the mask inverted? True = real token = may attend")
    _expect_close(w_p, reference(q, k, v, keep)[1],
                  "the weight tensor under a padding mask", "torch's", wrong_answers=_sdpa_variants(q, k, keep))
    _expect_close(out_p, F.scaled_dot_product_attention(q, k, v, attn_mask=keep), "the output under a padding mask",
                  "torch's", passed="a (batch, 1, 1, seq_k) padding mask hides the padded keys from every query")
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 4:], v2[1, :, 4:] = 50.0, -50.0
    out_p2, _ = _call(fn, q, k2, v2, keep)
    _expect_close(out_p2, out_p, "the output after changing the padded keys and values", "the output before",
                  hint="padded positions must not influence anything: mask the scores before the softmax",
                  passed="changing padded keys and values changes nothing")

    # plain 2-D inputs in float32
    g32 = _generator(1)
    q32, k32, v32 = (torch.randn(s, generator=g32) for s in [(4, 16), (9, 16), (9, 3)])
    out32, _ = _call(fn, q32, k32, v32, shape_hint=shape_hint)
    _expect_close(out32, F.scaled_dot_product_attention(q32, k32, v32), "the output for 2-D float32 inputs",
                  "torch's", atol=1e-5, hint="are sizes or the number of dimensions hard-coded somewhere?",
                  passed="works for unbatched (seq, d) float32 inputs too")
    print("All scaled dot-product attention checks passed.")


# --------------------------------------------------------------------------- exercise 2


def _mask_reference(lengths: Tensor, seq_len: int, causal: bool) -> Tensor:
    from ..attention import causal_mask, padding_mask

    keep = padding_mask(lengths, seq_len).expand(-1, 1, seq_len, -1)
    return keep & causal_mask(seq_len) if causal else keep


def _picture(mask: Tensor) -> str:
    return "\n".join("      " + " ".join("1" if x else "." for x in row) for row in mask.tolist())


def _mask_variants(lengths: Tensor, T: int, causal: bool) -> list[tuple[Tensor, str]]:
    pos = torch.arange(T)
    real_key = (pos[None, :] < lengths[:, None])[:, None, None, :].expand(-1, 1, T, T)
    real_query = real_key.transpose(-2, -1)
    tril = torch.ones(T, T, dtype=torch.bool).tril()
    expected = real_key & tril if causal else real_key
    off_by_one_len = (pos[None, :] <= lengths[:, None])[:, None, None, :].expand(-1, 1, T, T)
    wrong = [
        (~expected, "the mask is inverted: True must mean MAY attend (a real key, not in the future)"),
        ((real_query & tril) if causal else real_query,
         "the padding is applied to the queries (rows) instead of the keys (columns): padded KEYS must be "
         "hidden from every query, j < lengths[b] for key j"),
        ((real_query & real_key & tril) if causal else (real_query & real_key),
         "the rows of padded queries are masked too: then they have no key at all to attend to (NaN after "
         "the softmax). Mask only the padded keys (columns); their outputs are ignored later anyway"),
        ((off_by_one_len & tril) if causal else off_by_one_len,
         "one padded position is kept: a sequence of length L has real tokens at 0..L-1, so keep j < L"),
    ]
    if causal:
        wrong += [
            (real_key & torch.ones(T, T, dtype=torch.bool).tril(-1),
             "the diagonal is masked: a query must be allowed to attend to ITSELF (j <= i, torch.tril(..., 0))"),
            (real_key & torch.ones(T, T, dtype=torch.bool).tril(1),
             "each query sees one future token: allow j <= i only (tril with diagonal=0, or triu(..., 1) inverted)"),
            (real_key & torch.ones(T, T, dtype=torch.bool).triu(),
             "the causal part is upside down: query i may attend to keys j <= i (the past), a LOWER triangle"),
            (real_key, "causal=True, but the future is not masked: also require j <= i"),
            (tril.expand(len(lengths), 1, T, T), "the padding is missing: also require j < lengths[b]"),
        ]
    else:
        wrong.append((real_key & tril, "causal=False, but the mask is causal: add the causal part only when asked"))
    return wrong


def _expect_mask(mask, lengths: Tensor, T: int, causal: bool, what: str, passed: str) -> None:
    B = len(lengths)
    if not isinstance(mask, Tensor):
        raise AssertionError(f"return a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise AssertionError(f"the mask has dtype {mask.dtype}: return a boolean tensor (True = may attend), "
                             "e.g. built from comparisons such as positions < lengths")
    full = (B, 1, T, T)
    try:
        broadcasts = mask.dim() == 4 and torch.broadcast_shapes(mask.shape, full) == full
    except RuntimeError:
        broadcasts = False
    if not broadcasts:
        raise AssertionError(f"the mask has shape {tuple(mask.shape)}, expected (batch, 1, seq_q, seq_k) = {full} "
                             "so that it broadcasts over the heads of (batch, heads, seq_q, seq_k) scores")
    got = mask.expand(full)
    expected = _mask_reference(lengths, T, causal)
    if torch.equal(got, expected):
        _report(passed)
        return
    for wrong, diagnosis in _mask_variants(lengths, T, causal):
        if torch.equal(got, wrong):
            raise AssertionError(f"{what}: {diagnosis}")
    b = int((got != expected).flatten(1).any(1).nonzero()[0])
    raise AssertionError(f"{what} is wrong for sequence {b} (length {int(lengths[b])} of {T}). "
                         f"Row i is query i, column j key j; 1 = may attend.\n   yours:\n{_picture(got[b, 0])}\n"
                         f"   expected:\n{_picture(expected[b, 0])}")


def check_attention_mask(fn: Callable) -> None:
    """fn(lengths (batch,), seq_len, causal=False) -> (batch, 1, seq_len, seq_len) bool,
    True where query i may attend key j: j < lengths[b], and j <= i when causal."""
    from ..attention import scaled_dot_product_attention

    lengths = torch.tensor([5, 3, 1])
    saved = lengths.clone()
    pad = _call(fn, lengths, 5)
    _expect_mask(pad, lengths, 5, False, "the padding mask for lengths [5, 3, 1]",
                 "padding mask (causal=False) for lengths [5, 3, 1]: every query sees exactly the real keys")
    if not torch.equal(lengths, saved):
        raise AssertionError("your function changed `lengths` in place: compute new tensors instead")
    causal = _call(fn, lengths, 5, True)
    _expect_mask(causal, lengths, 5, True, "the causal mask for lengths [5, 3, 1]",
                 "causal=True: query i sees the real keys j <= i (itself and the past)")
    lengths2 = torch.tensor([2, 4, 6, 1])
    _expect_mask(_call(fn, lengths2, 7, True), lengths2, 7, True, "the causal mask for lengths [2, 4, 6, 1] "
                 "padded to 7", "works when seq_len is longer than every sequence (lengths [2, 4, 6, 1], seq_len 7)")

    # the properties that matter, checked through attention
    gen = _generator(2)
    T, D = 6, 4
    x = _randn(2, 1, T, D, gen=gen)
    lengths3 = torch.tensor([6, 4])
    mask = _call(fn, lengths3, T, True)
    out = scaled_dot_product_attention(x, x, x, mask)[0]
    x2 = x.clone()
    x2[:, :, 3:] = _randn(2, 1, T - 3, D, gen=gen)  # change the tokens from position 3 on
    out2 = scaled_dot_product_attention(x2, x2, x2, mask)[0]
    _expect_close(out2[:, :, :3], out[:, :, :3], "outputs at positions 0-2 after changing tokens 3-5",
                  "the outputs before", atol=1e-12, hint="a causal mask must hide every later token",
                  passed="changing a future token leaves every earlier output unchanged")
    x3 = x.clone()
    x3[1, :, 4:] = 9.0  # sequence 1 has length 4: change its padding
    out3 = scaled_dot_product_attention(x3, x3, x3, mask)[0]
    _expect_close(out3[1, :, :4], out[1, :, :4], "outputs at real positions after changing padded tokens",
                  "the outputs before", atol=1e-12, hint="padded keys must be hidden from every query",
                  passed="changing a padded token leaves every real output unchanged")
    print("All attention mask checks passed.")


# --------------------------------------------------------------------------- exercise 3


def reference_multi_head_attention(fn: Callable, *args, **kwargs):
    """Call fn with the notebook's `scaled_dot_product_attention` replaced by the
    reference one, so that a mistake in exercise 1 costs only exercise 1."""
    from ..attention import scaled_dot_product_attention

    with _patched_global(fn, "scaled_dot_product_attention", scaled_dot_product_attention):
        return fn(*args, **kwargs)


def _torch_mha(d_model: int, num_heads: int, seed: int, dtype=torch.float64) -> nn.MultiheadAttention:
    torch_mha = nn.MultiheadAttention(d_model, num_heads, batch_first=True, dtype=dtype).eval()
    gen = _generator(seed)
    with torch.no_grad():
        for p in torch_mha.parameters():  # every weight random, biases included (torch zeroes them)
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / math.sqrt(d_model))
    return torch_mha


def _mha_variants(query, key, value, layers, H, mask) -> list[tuple[Tensor, str]]:
    """Outputs of the usual multi-head mistakes."""
    from ..attention import scaled_dot_product_attention as sdpa

    q_proj, k_proj, v_proj, out_proj = layers
    B, Tq, D = query.shape
    d = D // H

    def split(x):
        return x.view(B, -1, H, d).transpose(1, 2)

    def bad_split(x):
        return x.reshape(B, H, -1, d)

    def merge(x):
        return x.transpose(1, 2).reshape(B, Tq, D)

    def run(q, k, v, m=mask, merge_fn=merge, project=True):
        out = merge_fn(sdpa(q, k, v, m)[0])
        return out_proj(out) if project else out

    q, k, v = split(q_proj(query)), split(k_proj(key)), split(v_proj(value))
    one_head_mask = mask[:, 0] if mask is not None and mask.dim() == 4 else mask
    wrong = [
        (run(bad_split(q_proj(query)), bad_split(k_proj(key)), bad_split(v_proj(value))),
         "the heads are split with a plain reshape to (B, H, T, d): that cuts the sequence, not the features. "
         "view(B, T, H, d) first, then transpose(1, 2)"),
        (run(q, k, v, merge_fn=lambda x: x.reshape(B, Tq, D)),
         "the heads are merged without transposing back: (B, H, T, d) -> transpose(1, 2) -> (B, T, H, d) "
         "-> reshape(B, T, D)"),
        (run(q, k, v, project=False), "the output projection is missing: apply out_proj to the concatenated heads"),
        (out_proj(sdpa(q_proj(query), k_proj(key), v_proj(value), one_head_mask)[0]),
         "this is ONE head of size d_model: split the projections into num_heads heads of d_model // num_heads"),
        (run(q * math.sqrt(d / D), k, v),
         "the scores are scaled by sqrt(d_model): each head has d_k = d_model // num_heads dims"),
        (run(split(q_proj(query)), split(k_proj(key)), split(k_proj(value))),
         "the values are projected with k_proj: use v_proj"),
    ]
    if mask is not None:
        wrong.append((run(q, k, v, m=None), "the mask is not passed on to the attention"))
    return wrong


def _mha_case(B: int, Tq: int, Tk: int, D: int, H: int, seed: int, dtype=torch.float64):
    torch_mha = _torch_mha(D, H, seed, dtype)
    from ..interop import mha_from_torch

    ours = mha_from_torch(torch_mha)
    gen = _generator(seed + 100)
    query = torch.randn(B, Tq, D, generator=gen, dtype=torch.float64).to(dtype)
    memory = torch.randn(B, Tk, D, generator=gen, dtype=torch.float64).to(dtype)
    return torch_mha, (ours.q_proj, ours.k_proj, ours.v_proj, ours.out_proj), query, memory


def _torch_reference(torch_mha, query, key, value, mask):
    with torch.no_grad():
        return torch_mha(query, key, value, attn_mask=None if mask is None else ~_torch_mask(mask, torch_mha, query, key),
                         average_attn_weights=False)


def _torch_mask(mask: Tensor, torch_mha: nn.MultiheadAttention, query: Tensor, key: Tensor) -> Tensor:
    # torch wants (seq_q, seq_k) or (batch * heads, seq_q, seq_k)
    B, Tq, Tk, H = query.shape[0], query.shape[1], key.shape[1], torch_mha.num_heads
    if mask.dim() == 2:
        return mask
    return mask.expand(B, H, Tq, Tk).reshape(B * H, Tq, Tk)


def check_multi_head_attention(fn: Callable) -> None:
    """fn(query (B, Tq, D), key (B, Tk, D), value (B, Tk, D), q_proj, k_proj, v_proj, out_proj, num_heads,
    mask=None) -> (output (B, Tq, D), weights (B, num_heads, Tq, Tk)), equal to nn.MultiheadAttention
    with the same weights. Your scaled_dot_product_attention is replaced by the reference while it runs."""
    from ..attention import causal_mask, padding_mask

    B, T, D, H = 2, 5, 12, 3
    torch_mha, layers, x, memory = _mha_case(B, T, 7, D, H, seed=0)
    saved = [x.clone()]
    hint = ("project, then split: (B, T, D) -> view(B, T, num_heads, D // num_heads) -> transpose(1, 2) -> "
            "(B, num_heads, T, d); attend; transpose(1, 2) back and reshape to (B, T, D); then out_proj. Keys and "
            "values have their own length S = key.shape[1], which differs from the query's in cross-attention")
    result = _call(reference_multi_head_attention, fn, x, x, x, *layers, H, learner=fn, shape_hint=hint)
    output, weights = _pair(result, "output", "weights", (B, T, D), (B, H, T, T))
    expect_shape(output, (B, T, D), "output", hint="the heads are concatenated back to d_model features")
    expect_shape(weights, (B, H, T, T), "weights", hint="one (seq_q, seq_k) matrix per head: (B, num_heads, Tq, Tk)")
    _report(f"returns (output {(B, T, D)}, weights {(B, H, T, T)})")
    _inputs_unchanged(saved, [x])

    expected, expected_weights = _torch_reference(torch_mha, x, x, x, None)
    with torch.no_grad():
        wrong = _mha_variants(x, x, x, layers, H, None)
    _expect_close(output, expected, "the output", "torch.nn.MultiheadAttention with the same weights",
                  wrong_answers=wrong, hint=hint,
                  passed="self-attention output equals torch.nn.MultiheadAttention's")
    _expect_close(weights, expected_weights, "the weight tensor", "torch's per-head weights (average_attn_weights=False)",
                  hint="return the weights of every head, (B, num_heads, Tq, Tk), before merging",
                  passed="the per-head weights equal torch's")

    keep = padding_mask(torch.tensor([7, 3]))
    out_x, w_x = _call(reference_multi_head_attention, fn, x, memory, memory, *layers, H, mask=keep, learner=fn,
                       shape_hint=hint)
    with torch.no_grad():
        wrong = _mha_variants(x, memory, memory, layers, H, keep)
    _expect_close(out_x, _torch_reference(torch_mha, x, memory, memory, keep)[0],
                  "the cross-attention output with a padding mask", "torch's",
                  wrong_answers=wrong,
                  hint="query and key may have different lengths: split each with its own length (view(B, -1, H, d))",
                  passed="cross-attention (5 queries, 7 keys) with a padding mask equals torch's")

    mask = padding_mask(torch.tensor([5, 3])) & causal_mask(T)
    out_c, _ = _call(reference_multi_head_attention, fn, x, x, x, *layers, H, mask=mask, learner=fn, shape_hint=hint)
    _expect_close(out_c, _torch_reference(torch_mha, x, x, x, mask)[0], "the output with padding & causal masks",
                  "torch's", hint="pass mask on to scaled_dot_product_attention unchanged: a (B, 1, T, T) mask "
                                  "broadcasts over the heads",
                  passed="with a (B, 1, T, T) padding & causal mask it equals torch's")

    torch32, layers32, x32, _ = _mha_case(3, 6, 6, 16, 4, seed=1, dtype=torch.float32)
    out32, _ = _call(reference_multi_head_attention, fn, x32, x32, x32, *layers32, 4, mask=causal_mask(6),
                     learner=fn, shape_hint=hint)
    _expect_close(out32, _torch_reference(torch32, x32, x32, x32, causal_mask(6))[0],
                  "the float32 output for 4 heads of 4 dims", "torch's", atol=1e-5,
                  hint="are sizes or the number of heads hard-coded somewhere?",
                  passed="4 heads, float32, (T, T) causal mask: equal to torch's to 1e-5")
    print("All multi-head attention checks passed.")
