"""Checks for chapter 03 (attention in seq2seq)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from ._common import _call, _close, _expect_close, _generator, _inputs_unchanged, _randn, _report, expect_shape

# ---------------------------------------------------------------------------
# Chapter 03: attention
#
# Additive score, attention-weighted context with a padding mask, one step of
# the attention decoder, corpus BLEU. References: course_lib.seq2seq and
# course_lib.metrics.corpus_bleu (equal to sacrebleu), with injected weights.

__all__ = ["check_additive_score", "check_attention_context", "check_attention_decoder_step",
            "check_corpus_bleu", "reference_decoder_step"]


def _additive_reference(query, keys, W_q, W_k, v):
    from ..seq2seq import AdditiveAttention

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
    from ..seq2seq import length_mask

    gen = _generator(seed)
    return (_randn(B, S, gen=gen, scale=2.0), _randn(B, S, Dv, gen=gen),
            length_mask(torch.tensor(list(lengths)), S))


def check_attention_context(fn: Callable) -> None:
    """fn(scores (B, S), values (B, S, Dv), src_mask (B, S) bool, True = real) ->
    (context (B, Dv), weights (B, S)), as course_lib.seq2seq.attention_context."""
    from ..seq2seq import attention_context as reference

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
    from ..seq2seq import attention_context

    with _patched_global(fn, "attention_context", attention_context):
        return fn(*args)


def _decoder_case(num_layers: int, B: int, S: int, E: int, H: int, V: int, lengths, seed: int):
    from ..seq2seq import AttentionDecoder, length_mask

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
    from ..seq2seq import attention_context

    B, S, E, H, V, L = 3, 6, 5, 8, 11, 2
    decoder, token, hidden, enc_outputs, mask = _decoder_case(L, B, S, E, H, V, [6, 4, 2], seed=0)
    saved = [hidden.clone(), enc_outputs.clone()]
    concat_hint = ("the GRU reads torch.cat([embedding, context], dim=-1) of size E + H, as a sequence "
                   "of length 1: unsqueeze(1); the output layer reads torch.cat([gru_output, context], dim=-1)")
    result = _call(reference_decoder_step, fn, decoder, token, hidden, enc_outputs, mask, learner=fn,
                   shape_hint=concat_hint)
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
    got2 = _call(reference_decoder_step, fn, decoder2, *inputs2, learner=fn, shape_hint=concat_hint)
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
    from ..metrics import corpus_bleu

    return corpus_bleu(hypotheses, [[r] for r in references], max_n)


def _bleu_variant(hyps, refs, max_n=4, clip=True, brevity=True, geometric=True) -> float:
    """BLEU with one of its parts left out: the common wrong answers."""
    import math
    from collections import Counter

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
