"""Checks for chapter 05 (the Transformer).

Positional encoding, LayerNorm, the decoder layer, the warm-up schedule and
beam search. References: course_lib.transformer, course_lib.decoding and
torch's built-ins (F.layer_norm, nn.TransformerDecoderLayer), with injected
weights; masks are tested as properties. The beam-search helpers
(beam_test_step_fn, sequence_score, brute_force_best) are public because the
notebook's hidden tests use them too.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ._common import (
    _call,
    _close,
    _expect_close,
    _generator,
    _inputs_unchanged,
    _randn,
    _report,
    expect_shape,
)

__all__ = [
    "check_positional_encoding", "check_layer_norm", "check_decoder_layer", "check_warmup_lr",
    "check_beam_search", "random_decoder_layer", "beam_test_step_fn", "sequence_score", "brute_force_best",
    "as_token_list", "table_step_fn", "beam_trap_tables",
]


# --------------------------------------------------------------------------- positional encoding


def _pe_variant(max_len: int, d_model: int, *, swap: bool = False, halves: bool = False,
                per_column: bool = False, pair_index: bool = False, multiply: bool = False) -> torch.Tensor:
    """The sinusoidal table, or one of the common wrong versions of it."""
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    if per_column:  # every column k gets its own exponent k / d (odd columns off by one)
        exponent = torch.arange(d_model, dtype=torch.float64) / d_model
        angle = pos / 10000 ** exponent
        out = torch.empty(max_len, d_model, dtype=torch.float64)
        out[:, 0::2], out[:, 1::2] = torch.sin(angle[:, 0::2]), torch.cos(angle[:, 1::2])
        return out
    i = torch.arange(d_model // 2, dtype=torch.float64)
    exponent = i / d_model if pair_index else 2 * i / d_model
    angle = pos * 10000 ** exponent if multiply else pos / 10000 ** exponent
    first, second = (torch.cos(angle), torch.sin(angle)) if swap else (torch.sin(angle), torch.cos(angle))
    if halves:
        return torch.cat([first, second], dim=1)
    out = torch.empty(max_len, d_model, dtype=torch.float64)
    out[:, 0::2], out[:, 1::2] = first, second
    return out


def check_positional_encoding(fn: Callable) -> None:
    """fn(max_len, d_model) -> (max_len, d_model), PE[pos, 2i] = sin(pos / 10000^(2i/d)),
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d)), as course_lib.transformer.positional_encoding."""
    from ..transformer import positional_encoding as reference

    max_len, d_model = 50, 16
    pe = _call(fn, max_len, d_model, shape_hint="angle = position (max_len, 1) / 10000 ** (2i / d_model) (d_model/2,) "
               "broadcasts to (max_len, d_model/2); fill the even columns pe[:, 0::2] and the odd ones pe[:, 1::2]")
    expect_shape(pe, (max_len, d_model), "the table", hint="one row per position, one column per feature")
    if not pe.is_floating_point():
        raise AssertionError(f"the table has dtype {pe.dtype}: build it from float tensors (torch.arange(..., "
                             "dtype=torch.float32) or torch.zeros)")
    _report(f"returns a float tensor of shape {(max_len, d_model)}")
    wrong = [
        (_pe_variant(max_len, d_model, swap=True), "sin and cos are swapped: sin goes in the EVEN columns "
                                                   "(0, 2, 4, ...) and cos in the odd ones"),
        (_pe_variant(max_len, d_model, halves=True), "the sin and cos columns are INTERLEAVED: pe[:, 0::2] = sin, "
                                                     "pe[:, 1::2] = cos, not the sines first and the cosines after"),
        (_pe_variant(max_len, d_model, halves=True, swap=True),
         "the columns alternate sin, cos, sin, cos: pe[:, 0::2] = sin, pe[:, 1::2] = cos"),
        (_pe_variant(max_len, d_model, per_column=True),
         "columns 2i and 2i+1 share ONE frequency, 1 / 10000^(2i/d): the cos column must not use (2i+1)/d"),
        (_pe_variant(max_len, d_model, pair_index=True),
         "the exponent is 2i / d_model with 2i the even column index (0, 2, 4, ...), not i / d_model"),
        (_pe_variant(max_len, d_model, multiply=True),
         "divide the position by 10000^(2i/d): the frequencies fall from 1 to 1/10000"),
    ]
    _expect_close(pe, reference(max_len, d_model), "the table", "course_lib.transformer.positional_encoding",
                  atol=1e-5, wrong_answers=wrong,
                  passed="matches course_lib.transformer.positional_encoding to 1e-5")
    if not (torch.allclose(pe[0, 0::2].double(), torch.zeros(d_model // 2, dtype=torch.float64))
            and torch.allclose(pe[0, 1::2].double(), torch.ones(d_model // 2, dtype=torch.float64))):
        raise AssertionError("position 0 should be (0, 1, 0, 1, ...): sin(0) = 0, cos(0) = 1")
    _report("position 0 is (0, 1, 0, 1, ...)")
    other = _call(fn, 7, 4)
    _expect_close(other, reference(7, 4), "the table for max_len=7, d_model=4", "the reference", atol=1e-5,
                  hint="are sizes hard-coded somewhere?", passed="works for other sizes (7 positions, d_model 4)")
    long = _call(fn, 2000, 64)
    _expect_close(long, reference(2000, 64), "the table for 2000 positions, d_model=64", "the reference", atol=1e-3,
                  hint="compute the angles in floating point; integer division loses them",
                  passed="works for 2000 positions (large angles)")
    print("All positional encoding checks passed.")


# --------------------------------------------------------------------------- LayerNorm


def check_layer_norm(fn: Callable) -> None:
    """fn(x (..., d), weight (d,), bias (d,), eps=1e-5) -> (..., d), as F.layer_norm over the last dim."""
    gen = _generator(0)
    B, T, D = 3, 4, 6
    x = _randn(B, T, D, gen=gen, scale=3.0) + _randn(B, T, 1, gen=gen, scale=2.0)
    weight, bias = 1.0 + _randn(D, gen=gen, scale=0.5), _randn(D, gen=gen, scale=0.5)
    saved = [x.clone(), weight.clone(), bias.clone()]
    out = _call(fn, x, weight, bias, shape_hint="take the mean and variance over the LAST dim with keepdim=True, "
                "so that they broadcast back against x")
    expect_shape(out, (B, T, D), "the output", hint="LayerNorm keeps the shape of its input")
    _report(f"returns the input's shape {(B, T, D)}")
    _inputs_unchanged(saved, [x, weight, bias])

    expected = F.layer_norm(x, (D,), weight, bias, 1e-5)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    wrong = [
        ((x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, unbiased=False, keepdim=True) + 1e-5) * weight + bias,
         "the statistics are taken over the BATCH (dim 0), as BatchNorm does: LayerNorm normalises each "
         "position over its own features, dim=-1"),
        ((x - mean) / torch.sqrt(x.var(-1, unbiased=True, keepdim=True) + 1e-5) * weight + bias,
         "use the biased variance (divide by d, not d - 1): x.var(-1, unbiased=False) or ((x - mean)**2).mean(-1)"),
        ((x - mean) / (torch.sqrt(var) + 1e-5) * weight + bias,
         "eps goes INSIDE the square root: (x - mean) / sqrt(var + eps)"),
        ((x - mean) / torch.sqrt(var + 1e-5) + bias, "the learnable gain `weight` is missing: multiply by it"),
        ((x - mean) / torch.sqrt(var + 1e-5) * weight, "the learnable shift `bias` is missing: add it"),
        ((x - mean) / torch.sqrt(var + 1e-5), "scale by `weight` and shift by `bias` after normalising"),
        ((x - mean) / torch.sqrt(var + 1e-5) * bias + weight, "weight multiplies and bias is added, not the reverse"),
        ((x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-5) * weight + bias,
         "the statistics are taken over the whole tensor: take them over the last dim only (dim=-1, keepdim=True)"),
    ]
    _expect_close(out, expected, "the output", "F.layer_norm with the same weight and bias", wrong_answers=wrong,
                  passed="matches torch.nn.functional.layer_norm")
    # Each position is normalised on its own: the other rows of the batch do not matter.
    alone = _call(fn, x[1:2, 2:3], weight, bias)
    _expect_close(alone, expected[1:2, 2:3], "one position normalised alone", "the same position in the batch",
                  hint="LayerNorm must not mix positions or examples: statistics over dim=-1 only",
                  passed="each position is normalised on its own (independent of the batch)")
    tiny = _randn(2, 5, gen=gen, scale=0.01)
    w2, b2 = _randn(5, gen=gen), _randn(5, gen=gen)
    wrong_eps = [((tiny - tiny.mean(-1, keepdim=True)) / (tiny.std(-1, unbiased=False, keepdim=True) + 1e-5) * w2 + b2,
                  "eps goes INSIDE the square root: (x - mean) / sqrt(var + eps)")]
    _expect_close(_call(fn, tiny, w2, b2), F.layer_norm(tiny, (5,), w2, b2, 1e-5),
                  "the output for an input of tiny variance", "F.layer_norm", wrong_answers=wrong_eps,
                  hint="(x - mean) / sqrt(var + eps) * weight + bias", passed="eps sits inside the square root")
    _expect_close(_call(fn, tiny, w2, b2, eps=0.1), F.layer_norm(tiny, (5,), w2, b2, 0.1),
                  "the output with eps=0.1", "F.layer_norm with eps=0.1", hint="use the eps argument",
                  passed="the eps argument is used")
    w3 = weight.clone().requires_grad_(True)
    out3 = _call(fn, x, w3, bias)
    if not isinstance(out3, torch.Tensor) or not out3.requires_grad:
        raise AssertionError("the output is not connected to `weight` in the autograd graph: use torch operations "
                             "only (no .item(), numpy or torch.no_grad())")
    print("All LayerNorm checks passed.")


# --------------------------------------------------------------------------- decoder layer


def random_decoder_layer(d_model: int, num_heads: int, d_ff: int, seed: int, dtype=torch.float64):
    """A post-LN course_lib DecoderLayer in eval mode with every weight (norms included) random.

    Random norm weights and biases make a LayerNorm used in the wrong place, or
    left out, change the output, which the default ones and zeros would hide.
    """
    from ..transformer import DecoderLayer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = DecoderLayer(d_model, num_heads, d_ff, dropout=0.0).to(dtype).eval()
    gen = _generator(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("norm") and name.endswith("weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen, dtype=dtype))
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) / math.sqrt(max(p.shape[-1], 1)))
    return layer


def _decoder_case(B: int, T: int, S: int, d_model: int, num_heads: int, lengths, seed: int):
    from ..attention import padding_mask

    layer = random_decoder_layer(d_model, num_heads, 2 * d_model, seed)
    gen = _generator(seed + 100)
    x, memory = _randn(B, T, d_model, gen=gen), _randn(B, S, d_model, gen=gen)
    return layer, x, memory, padding_mask(torch.tensor(list(lengths)), S)


def _wrong_decoder_outputs(layer, x, memory, memory_mask) -> list[tuple[torch.Tensor, str]]:
    from ..attention import causal_mask

    causal = causal_mask(x.shape[1])
    sa = lambda h, mask=causal: layer.self_attn(h, h, h, mask)[0]  # noqa: E731
    ca = lambda h, mem=memory, mask=memory_mask: layer.cross_attn(h, mem, mem, mask)[0]  # noqa: E731
    n1, n2, n3, ff = layer.norm1, layer.norm2, layer.norm3, layer.ff

    def post_ln(self_attn=sa, cross=ca, residual_inside=True):
        if residual_inside:
            h = n1(x + self_attn(x))
            h = n2(h + cross(h))
            return n3(h + ff(h))
        h = x + n1(self_attn(x))
        h = h + n2(cross(h))
        return h + n3(ff(h))

    def pre_ln():
        h = x + sa(n1(x))
        h = h + ca(n2(h))
        return h + ff(n3(h))

    wrong = [
        (post_ln(self_attn=lambda h: layer.self_attn(h, h, h)[0]),
         "the self-attention is not causal: position t sees later target tokens. Pass "
         "causal_mask(tgt_len) as the mask of layer.self_attn"),
        (post_ln(self_attn=lambda h: layer.self_attn(h, h, h, ~causal)[0]),
         "the causal mask is inverted: True = may attend, so position t keeps positions 0..t (tril)"),
        (post_ln(cross=lambda h: layer.cross_attn(h, h, h)[0]),
         "in cross-attention the keys and values come from the ENCODER output: "
         "layer.cross_attn(x, memory, memory, memory_mask)"),
        (post_ln(cross=lambda h: layer.cross_attn(h, memory, memory)[0]),
         "padded source positions get attention: pass memory_mask to layer.cross_attn"),
        (post_ln(residual_inside=False),
         "the residual is added after the norm: post-LN is x = norm(x + sublayer(x)), the sum inside the norm"),
        (pre_ln(), "this is pre-LN, x + sublayer(norm(x)); the exercise asks for the paper's post-LN, "
                   "x = norm(x + sublayer(x))"),
    ]
    h1 = n1(x + sa(x))
    h2 = n2(h1 + ca(h1))
    wrong.append((h2, "the feed-forward sublayer is missing: finish with x = layer.norm3(x + layer.ff(x))"))
    no_residual = n2(ca(h1))
    wrong.append((n3(no_residual + ff(no_residual)),
                  "the residual connection around the cross-attention is missing: x = layer.norm2(x + cross)"))
    wrong.append((n3(ff(h2)), "the residual connection around the feed-forward network is missing: "
                              "x = layer.norm3(x + layer.ff(x))"))
    same = n1(n1(h1 + ca(h1)) + ff(n1(h1 + ca(h1))))
    wrong.append((same, "each sublayer has its own LayerNorm: norm1 after self-attention, norm2 after "
                        "cross-attention, norm3 after the feed-forward network"))
    return wrong


def _expect_cross_attention_roles(fn: Callable, layer, x: torch.Tensor, memory: torch.Tensor, memory_mask) -> None:
    """Watch what the learner passes to layer.cross_attn; raise if the query is the source.

    Swapped roles fail first as a shape error (the source mask or the residual
    no longer fits), which would hide the real mistake.
    """
    import torch.nn as nn

    seen = []
    original = layer.cross_attn

    class Watch(nn.Module):
        def forward(self, query, key, value, *args, **kwargs):
            seen.append((query, key))
            return original(query, key, value, *args, **kwargs)

    layer.cross_attn = Watch()
    try:
        fn(layer, x, memory, memory_mask)
    except Exception:
        pass
    finally:
        layer.cross_attn = original
    if seen and seen[0][0].shape[1] == memory.shape[1] != x.shape[1]:
        raise AssertionError("the cross-attention's roles are swapped: the queries come from the decoder (x, what "
                             "is being written) and the keys and values from the encoder's output (memory, what "
                             "is being read): layer.cross_attn(x, memory, memory, memory_mask)")


def check_decoder_layer(fn: Callable) -> None:
    """fn(layer, x (B, T, D), memory (B, S, D), memory_mask (B, 1, 1, S) or None) -> (B, T, D):
    a post-LN decoder layer with the sublayers of `layer` (a course_lib DecoderLayer), as
    layer(x, memory, causal_mask(T), memory_mask)."""
    from ..attention import causal_mask

    B, T, S, D, H = 2, 5, 7, 16, 4
    layer, x, memory, memory_mask = _decoder_case(B, T, S, D, H, [7, 4], seed=0)
    saved = [x.clone(), memory.clone()]
    hint = ("self-attention: layer.self_attn(x, x, x, causal_mask(T)); cross-attention: "
            "layer.cross_attn(x, memory, memory, memory_mask); each returns (output, weights)")
    with torch.no_grad():
        try:
            out = _call(fn, layer, x, memory, memory_mask, shape_hint=hint)
        except Exception:  # a shape error, an AssertionError from _call, a ValueError from the mask check
            _expect_cross_attention_roles(fn, layer, x, memory, memory_mask)
            raise
    if isinstance(out, (tuple, list)):
        raise AssertionError("return only the layer's output tensor (B, T, D); MultiHeadAttention returns "
                             "(output, weights): keep the output, [0]")
    expect_shape(out, (B, T, D), "the output", hint="a decoder layer keeps the shape of the target input x")
    _report(f"returns (batch, tgt, d_model) = {(B, T, D)}")
    _inputs_unchanged(saved, [x, memory])
    with torch.no_grad():
        expected = layer(x, memory, causal_mask(T), memory_mask)
        wrong = _wrong_decoder_outputs(layer, x, memory, memory_mask)
    _expect_close(out, expected, "the output", "course_lib.transformer.DecoderLayer with the same weights",
                  wrong_answers=wrong, hint="x = norm1(x + self_attn), then norm2(x + cross_attn), then norm3(x + ff)",
                  passed="matches course_lib.transformer.DecoderLayer with the same weights")

    # The causal mask as a property: later target tokens cannot change earlier outputs.
    x2 = x.clone()
    x2[:, 3:] = _randn(B, T - 3, D, gen=_generator(7), scale=3.0)
    with torch.no_grad():
        out2 = _call(fn, layer, x2, memory, memory_mask)
    if not _close(out2[:, :3], out[:, :3], 1e-9):
        raise AssertionError("changing target positions 3 and later changed the outputs at positions 0-2: "
                             "the self-attention must be causal, mask=causal_mask(T)")
    _report("changing later target tokens leaves earlier outputs unchanged (causal)")
    memory2 = memory.clone()
    memory2[1, 4:] = 50.0
    with torch.no_grad():
        out3 = _call(fn, layer, x, memory2, memory_mask)
    if not _close(out3, out, 1e-9):
        raise AssertionError("changing padded source positions changed the output: pass memory_mask to the "
                             "cross-attention")
    _report("padded source positions are ignored")

    # The same layer built by torch: nn.TransformerDecoderLayer, loaded with interop.
    import torch.nn as nn

    from ..interop import decoder_layer_from_torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        theirs = nn.TransformerDecoderLayer(D, H, 24, dropout=0.0, batch_first=True, dtype=torch.float64).eval()
        with torch.no_grad():
            for p in theirs.parameters():
                p.add_(0.2 * torch.randn_like(p))
    ours = decoder_layer_from_torch(theirs)
    with torch.no_grad():
        got = _call(fn, ours, x, memory, None)
        want = theirs(x, memory, tgt_mask=~causal_mask(T))
    _expect_close(got, want, "the output with the weights of an nn.TransformerDecoderLayer and no memory_mask",
                  "torch.nn.TransformerDecoderLayer", hint="memory_mask=None means every source position is visible",
                  passed="matches torch.nn.TransformerDecoderLayer (post-LN, memory_mask=None)")
    print("All decoder layer checks passed.")


# --------------------------------------------------------------------------- warm-up schedule


def check_warmup_lr(fn: Callable) -> None:
    """fn(step, d_model, warmup) -> float, d_model^-0.5 * min(step^-0.5, step * warmup^-1.5),
    steps counted from 1, as course_lib.transformer.warmup_inverse_sqrt_lr."""
    from ..transformer import warmup_inverse_sqrt_lr as reference

    value = _call(fn, 1, 512, 4000)
    try:
        float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"return a number (a float), got {type(value).__name__}") from None
    _report("returns a number")
    for d_model, warmup in ((512, 4000), (64, 100)):
        steps = [1, 2, warmup // 2, warmup - 1, warmup, warmup + 1, 2 * warmup, 10 * warmup]
        got = torch.tensor([float(_call(fn, s, d_model, warmup)) for s in steps], dtype=torch.float64)
        ref = torch.tensor([reference(s, d_model, warmup) for s in steps], dtype=torch.float64)
        s = torch.tensor(steps, dtype=torch.float64)
        warm, decay = s * warmup**-1.5, s**-0.5
        wrong = [
            (torch.minimum(decay, warm), "the factor d_model^-0.5 is missing: lr = d_model**-0.5 * min(...)"),
            (d_model**0.5 * torch.minimum(decay, warm), "the factor is d_model to the power -0.5, not +0.5"),
            (d_model**-0.5 * torch.minimum(decay, s * warmup**-0.5),
             "the warm-up slope is step * warmup^-1.5: with -0.5 the peak is in the wrong place"),
            (d_model**-0.5 * torch.minimum(decay, s * warmup**-1.0),
             "the warm-up slope is step * warmup^-1.5 (the two branches meet at step == warmup)"),
            (d_model**-0.5 * torch.maximum(decay, warm), "take the MINIMUM of the two branches: the schedule "
                                                         "follows the smaller one, rising then falling"),
            (d_model**-0.5 * torch.minimum((s + 1) ** -0.5, (s + 1) * warmup**-1.5),
             "the first step is step 1 (use `step` as given, do not add 1)"),
            (d_model**-0.5 * torch.minimum((s - 1).clamp(min=1e-12) ** -0.5, (s - 1) * warmup**-1.5),
             "the first step is step 1 (use `step` as given, do not subtract 1)"),
        ]
        _expect_close(got, ref, f"the schedule for d_model={d_model}, warmup={warmup}",
                      "course_lib.transformer.warmup_inverse_sqrt_lr", atol=0.0, rtol=1e-6, wrong_answers=wrong,
                      passed=f"matches the paper's schedule for d_model={d_model}, warmup={warmup}")
    lrs = [float(_call(fn, s, 64, 50)) for s in range(1, 151)]
    peak = max(range(len(lrs)), key=lrs.__getitem__) + 1
    if peak != 50:
        raise AssertionError(f"the schedule peaks at step {peak}; it must peak at step == warmup = 50")
    _report("rises linearly to its peak at step == warmup, then decays as 1/sqrt(step)")
    print("All warm-up schedule checks passed.")


# --------------------------------------------------------------------------- beam search


def as_token_list(tokens: Any) -> list[int]:
    """A learner's token sequence (list, tuple or 1-d tensor) as a list of ints."""
    if isinstance(tokens, torch.Tensor):
        if tokens.dim() != 1:
            raise AssertionError(f"return the tokens as a list or a 1-d tensor, got shape {tuple(tokens.shape)}")
        return [int(t) for t in tokens.tolist()]
    if not isinstance(tokens, (list, tuple)):
        raise AssertionError(f"return the tokens as a list of ints, got {type(tokens).__name__}")
    return [int(t) for t in tokens]


def _expect_reordered(prev: torch.Tensor, state: dict) -> None:
    """A search that forgets reorder_state hands the model K tokens and a state for another number
    of hypotheses; say so, instead of letting it fail later as a shape error."""
    rows = state["prefix"].shape[0]
    if prev.dim() != 1 or prev.shape[0] != rows:
        raise AssertionError(
            f"step_fn got previous tokens of shape {tuple(prev.shape)} but a state for {rows} hypotheses: after "
            "choosing which hypotheses to keep, select (and repeat) the state's rows with "
            "reorder_state(state, parents), parents a long tensor of the kept hypotheses' indices, and pass "
            "one previous token per kept hypothesis")


def beam_test_step_fn(vocab_size: int, max_len: int, seed: int, eos_id: int = 1, eos_bias: float = 0.0,
                      scale: float = 2.0):
    """A random "model" for testing searches: step_fn(prev (K,), state) -> (logits (K, V), state).

    The state is a dict {"prefix": (K, t) long} of the tokens generated so far,
    so a search that forgets to reorder it with reorder_state gets different
    logits. The logits depend on the step, the previous token and a hash of
    the whole prefix; eos_bias shifts <eos>'s logit (positive: sequences end sooner).
    """
    gen = _generator(seed)
    by_prev = scale * torch.randn(max_len + 1, vocab_size + 1, vocab_size, generator=gen, dtype=torch.float64)
    by_prefix = scale * torch.randn(max_len + 1, 7, vocab_size, generator=gen, dtype=torch.float64)
    by_prev[..., eos_id] += eos_bias

    def step_fn(prev: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        _expect_reordered(prev, state)
        prefix = state["prefix"]
        t = prefix.shape[1]
        weights = torch.tensor([3, 5, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43][:t] + [1] * max(0, t - 12),
                               dtype=torch.long)
        key = (prefix * weights[:t]).sum(1) % 7
        logits = by_prev[min(t, max_len), prev.clamp(max=vocab_size)] + by_prefix[min(t, max_len), key]
        return logits, {"prefix": torch.cat([prefix, prev[:, None]], dim=1)}

    return step_fn, {"prefix": torch.zeros(1, 0, dtype=torch.long)}


def sequence_score(step_fn, start_state, tokens: list[int], sos_id: int, alpha: float) -> tuple[float, float]:
    """(log-probability, log-probability / ((5 + len) / 6) ** alpha) of `tokens` under step_fn."""
    state, prev, logprob = start_state, torch.tensor([sos_id]), 0.0
    for tok in tokens:
        logits, state = step_fn(prev, state)
        logprob += float(torch.log_softmax(logits.double(), -1)[0, tok])
        prev = torch.tensor([tok])
    return logprob, logprob / ((5.0 + len(tokens)) / 6.0) ** alpha


def brute_force_best(step_fn, start_state, vocab_size: int, sos_id: int, eos_id: int, max_len: int,
                     alpha: float) -> tuple[list[int], float]:
    """The finished sequence (ending with <eos>, at most max_len tokens) with the best penalised score."""
    best: tuple[list[int], float] = ([], -math.inf)
    others = [v for v in range(vocab_size) if v != eos_id]
    for length in range(1, max_len + 1):
        for body in itertools.product(others, repeat=length - 1):
            tokens = list(body) + [eos_id]
            score = sequence_score(step_fn, start_state, tokens, sos_id, alpha)[1]
            if score > best[1]:
                best = (tokens, score)
    return best


def table_step_fn(table: dict[tuple[int, ...], dict[int, float]], vocab_size: int, eos_id: int):
    """A step function from a table prefix -> {token: probability}; unknown prefixes end (<eos>)."""
    def step_fn(prev: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        _expect_reordered(prev, state)
        prefix = torch.cat([state["prefix"], prev[:, None]], dim=1)
        rows = []
        for seq in prefix.tolist():
            probs = torch.full((vocab_size,), 1e-4, dtype=torch.float64)
            for tok, p in table.get(tuple(seq[1:]), {eos_id: 1.0}).items():
                probs[tok] = p
            rows.append((probs / probs.sum()).log())
        return torch.stack(rows), {"prefix": prefix}

    return step_fn, {"prefix": torch.zeros(1, 0, dtype=torch.long)}


# Greedy takes 3 (p 0.6), after which everything is uncertain; 4 (p 0.4) is followed
# by a sure <eos>. The best sequence is [4, <eos>]; a beam of 2 finds it, greedy does not.
_MYOPIC = {(): {3: 0.6, 4: 0.4}, (3,): {3: 0.33, 4: 0.33, 1: 0.34}, (4,): {1: 1.0}}
# A short answer [3, <eos>] (p 0.37) against a long one [4, 4, 4, <eos>] (p 0.33 * 0.95^2 = 0.30):
# without a length penalty the short one wins, with alpha = 1 the long one does.
_LENGTH = {(): {3: 0.37, 4: 0.33, 5: 0.30}, (3,): {1: 1.0}, (4,): {4: 0.95, 1: 0.05},
           (4, 4): {4: 0.95, 1: 0.05}, (4, 4, 4): {1: 1.0}, (5,): {1: 0.5, 3: 0.5}}


# Where finishing hypotheses must not cost the beam a place (beam 2, alpha 1): <eos>
# first (0.34) is among the two best first tokens, but [4, <eos>] (0.325, penalised
# -0.963) beats [<eos>] (-1.079). A beam that lets [<eos>] take one of its two places,
# or shrinks to one place once it finished, never extends 4 and returns [<eos>].
_FINISHED_KEEPS_NO_PLACE = {(): {1: 0.34, 3: 0.335, 4: 0.325},
                            (3,): {1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2, 5: 0.2}, (4,): {1: 1.0}}


def beam_trap_tables() -> list[tuple[dict, int, int, float, str]]:
    """(table, max_len, beam_size, alpha, what it catches): hand-built models on which the usual
    wrong beam searches return another hypothesis or score than the definition's."""
    return [
        (_FINISHED_KEEPS_NO_PLACE, 4, 2, 1.0,
         "a hypothesis that ends with <eos> must leave the beam without taking one of its places, and the "
         "beam must stay beam_size wide (not shrink by one per finished hypothesis)"),
        # beam 3: two first tokens end at once; the answer hides behind the third live one
        ({(): {1: 0.22, 2: 0.21, 3: 0.2, 4: 0.19, 5: 0.18}, (2,): {1: 1.0 / 3, 3: 1.0 / 3, 4: 1.0 / 3},
          (3,): {1: 0.5, 2: 0.5}, (4,): {1: 0.999}, (5,): {1: 0.999}}, 5, 3, 1.0,
         "keep the beam_size best UNFINISHED candidates at every step: finished hypotheses take no place in "
         "the beam and do not make it narrower"),
    ]


def _run_beam(fn, step_fn, state, sos_id, eos_id, max_len, beam_size, alpha) -> tuple[list[int], float]:
    result = _call(fn, step_fn, state, sos_id, eos_id, max_len, beam_size, alpha,
                   shape_hint="logits are (number of live hypotheses, vocab); flatten the candidate scores "
                              "(K, V) to K * V and recover parent = index // V, token = index % V")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return a tuple (tokens, score); got {type(result).__name__}")
    tokens, score = result
    try:
        score = float(score)
    except (TypeError, ValueError):
        raise AssertionError(f"the score should be a number, got {type(score).__name__}") from None
    return as_token_list(tokens), score


def check_beam_search(fn: Callable) -> None:
    """fn(step_fn, start_state, sos_id, eos_id, max_len, beam_size, alpha) -> (tokens, score):
    the best hypothesis found, its tokens ending with <eos>, score = logprob / ((5 + len) / 6) ** alpha.
    Compared with course_lib.decoding.beam_search and with exhaustive search."""
    from ..decoding import beam_search as reference

    SOS, EOS = 0, 1
    # 1. A table where greedy is wrong and a beam of 2 is right.
    step_fn, state = table_step_fn(_MYOPIC, 6, EOS)
    tokens, score = _run_beam(fn, step_fn, state, SOS, EOS, 5, 2, 0.0)
    if not tokens or tokens[-1] != EOS:
        raise AssertionError(f"you return {tokens}, which does not end with <eos>, although hypotheses finished: "
                             "keep every hypothesis that produces <eos> in a list of finished ones and return "
                             "the best of them")
    if tokens[:1] == [3]:
        raise AssertionError(f"with beam_size=2 you return {tokens}, the greedy choice; the best sequence is "
                             "[4, <eos>]: keep the beam_size best candidates over ALL children of all live "
                             "hypotheses, not only each hypothesis's best child")
    if tokens != [4, EOS]:
        raise AssertionError(f"with beam_size=2 the best sequence [4, 1] (p = 0.4) should be found; got {tokens}")
    _report("a beam of 2 finds the sequence greedy decoding misses")

    # 2. The score is the length-penalised log-probability of the returned tokens.
    step_fn, state = beam_test_step_fn(5, 6, seed=3)
    tokens, score = _run_beam(fn, step_fn, state, SOS, EOS, 6, 3, 0.6)
    if not tokens or tokens[-1] != EOS:
        raise AssertionError(f"you return {tokens}, which does not end with <eos> although hypotheses finished: "
                             "keep every hypothesis that produces <eos> in a list of finished ones and return "
                             "the best of them")
    logprob, expected_score = sequence_score(step_fn, state, tokens, SOS, 0.6)
    if abs(score - expected_score) > 1e-4:
        hint = ("this is the plain log-probability: divide it by the length penalty ((5 + len) / 6) ** alpha, "
                "with len counting the <eos>" if abs(score - logprob) < 1e-4 else
                "score = sum of the tokens' log-probabilities (log_softmax of the logits) / ((5 + len) / 6) ** alpha, "
                "with len counting the <eos>")
        raise AssertionError(f"the returned score {score:.5f} is not the score of the returned tokens "
                             f"({expected_score:.5f}): {hint}")
    _report("the score is the length-penalised log-probability of the tokens, <eos> included")

    # 3. The length penalty decides between a short and a long answer.
    step_fn, state = table_step_fn(_LENGTH, 6, EOS)
    short, _ = _run_beam(fn, step_fn, state, SOS, EOS, 6, 3, 0.0)
    long, _ = _run_beam(fn, step_fn, state, SOS, EOS, 6, 3, 1.0)
    if short != [3, EOS]:
        raise AssertionError(f"with alpha=0 (no length penalty) the most likely sequence [3, 1] should win; got {short}")
    if long != [4, 4, 4, EOS]:
        raise AssertionError(f"with alpha=1 the longer [4, 4, 4, 1] has the better penalised score; got {long}: "
                             "rank the finished hypotheses by logprob / ((5 + len) / 6) ** alpha")
    _report("the length penalty (alpha) changes which hypothesis wins, as it should")

    # 4. A beam wider than the number of candidates never drops one: an exhaustive search.
    step_fn, state = beam_test_step_fn(4, 5, seed=5, eos_bias=-1.0)
    tokens, score = _run_beam(fn, step_fn, state, SOS, EOS, 5, 4**5, 0.6)
    best, best_score = brute_force_best(step_fn, state, 4, SOS, EOS, 5, 0.6)
    if tokens != best:
        raise AssertionError(f"with a beam wide enough to keep every prefix, the search must return the best of all "
                             f"sequences, {best} (score {best_score:.4f}); got {tokens} (score {score:.4f}). "
                             "Reorder the state with the parents of the kept candidates (reorder_state), and keep "
                             "finished hypotheses until the end")
    _report("with a beam as wide as the search space it equals exhaustive search")

    # 5. Random models, small beams: as good as course_lib.decoding.beam_search.
    for seed, (V, L, K, alpha) in enumerate([(6, 8, 2, 0.6), (7, 10, 3, 1.0), (5, 6, 4, 0.0)]):
        step_fn, state = beam_test_step_fn(V, L, seed=10 + seed)
        tokens, score = _run_beam(fn, step_fn, state, SOS, EOS, L, K, alpha)
        ref = reference(step_fn, state, SOS, EOS, L, beam_size=K, length_penalty=alpha)
        if ref.finished and (not tokens or tokens[-1] != EOS):
            raise AssertionError(f"beam_size={K}: you return {tokens}, which does not end with <eos>, but the "
                                 f"library finds the finished {ref.tokens}: return the best FINISHED hypothesis")
        # The library sums float32 log-probabilities: allow for rounding when the tokens differ.
        if tokens != ref.tokens and score < ref.score - 1e-4:
            raise AssertionError(f"beam_size={K}, alpha={alpha}: you return {tokens} with score {score:.4f}; "
                                 f"course_lib.decoding.beam_search finds {ref.tokens} with the better score "
                                 f"{ref.score:.4f}. Keep the beam_size best UNFINISHED candidates at every step "
                                 "(a hypothesis that ends with <eos> leaves the beam without taking a place), "
                                 "and run all max_len steps")
    _report("on random models with beams of 2-4 it does as well as course_lib.decoding.beam_search")

    # 6. Nothing finishes: return the best cut-off hypothesis.
    step_fn, state = beam_test_step_fn(5, 4, seed=21, eos_bias=-60.0)
    tokens, score = _run_beam(fn, step_fn, state, SOS, EOS, 4, 2, 0.6)
    ref = reference(step_fn, state, SOS, EOS, 4, beam_size=2, length_penalty=0.6)
    if tokens != ref.tokens:
        raise AssertionError(f"when no hypothesis produces <eos> within max_len, return the best of the beam "
                             f"after max_len steps ({ref.tokens}); got {tokens}")
    if abs(score - ref.score) > 1e-4:
        hint = (": this is its plain log-probability; a cut-off hypothesis is ranked and returned with its "
                "length penalty too, logprob / ((5 + len) / 6) ** alpha" if abs(score - ref.score * ((5 + len(tokens)) / 6) ** 0.6) < 1e-4
                else "")
        raise AssertionError(f"when nothing finishes, the score of the cut-off hypothesis {tokens} should be "
                             f"{ref.score:.5f}; got {score:.5f}{hint}")
    _report("when nothing finishes within max_len it returns the best cut-off hypothesis and its penalised score")

    # 7. Finished hypotheses leave the beam without taking places in it or making it narrower.
    for table, max_len, beam_size, alpha, rule in beam_trap_tables():
        step_fn, state = table_step_fn(table, 6, EOS)
        tokens, score = _run_beam(fn, step_fn, state, SOS, EOS, max_len, beam_size, alpha)
        ref = reference(step_fn, state, SOS, EOS, max_len, beam_size=beam_size, length_penalty=alpha)
        if tokens != ref.tokens or abs(score - ref.score) > 1e-4:
            raise AssertionError(f"beam_size={beam_size}, alpha={alpha}: you return {tokens} (score {score:.4f}); "
                                 f"beam search finds {ref.tokens} (score {ref.score:.4f}): {rule}")
    _report("finished hypotheses leave the beam: they take no place in it and do not narrow it")
    print("All beam search checks passed.")
