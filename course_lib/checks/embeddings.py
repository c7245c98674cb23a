"""Checks for chapter 00 (word embeddings)."""
from __future__ import annotations

import math
from typing import Callable

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
    expect_tensor,
)

__all__ = ["check_one_hot_embed", "check_skipgram_pairs", "check_negative_sampling_loss", "check_analogy"]


def check_one_hot_embed(fn: Callable) -> None:
    """fn(ids: (...,), weight: (V, d)) -> (..., d), one-hot vectors times the matrix."""
    V, d = 7, 3  # not square: a transposed weight cannot multiply by accident
    gen = _generator(0)
    weight = _randn(V, d, gen=gen)
    ids = torch.tensor([4, 0, 6, 4])
    saved = [ids.clone(), weight.clone()]
    hint = ("a one-hot vector has length V (the vocabulary size, weight.shape[0]); (N, V) @ (V, d) gives (N, d): "
            "multiply by weight itself, not its transpose")
    try:
        out = fn(ids, weight)
    except RuntimeError as err:
        if "dtype" in str(err) or "Long" in str(err):
            raise AssertionError(f"one_hot_embed raised: {err}\nHint: F.one_hot gives integers; convert the "
                                 f"one-hot vectors to weight's dtype before the product") from err
        if "num_classes" in str(err):
            raise AssertionError(f"one_hot_embed raised: {err}\nHint: a one-hot vector has one entry per word of "
                                 f"the vocabulary, V = weight.shape[0] (the rows of weight)") from err
        if any(w in str(err) for w in ("shape", "size", "dimension")):
            raise AssertionError(f"one_hot_embed raised: {err}\nHint: {hint}") from err
        raise
    expect_shape(out, (4, d), "one_hot_embed(ids of shape (4,), weight of shape (7, 3))",
                 hint="one row of weight per id, (N, V) @ (V, d) = (N, d)")
    _inputs_unchanged(saved, [ids, weight])
    _report("returns one d-dimensional row per id, inputs unchanged")
    wrong = [(weight[ids - 1], "every id picks the row before its own: one-hot vectors put the 1 at position id "
                               "(ids start at 0)"),
             (weight[ids].sum(0, keepdim=True).expand(4, d), "you summed over the words: each id keeps its own row")]
    _expect_close(out, weight[ids], "the embeddings", "weight[ids] (what nn.Embedding returns)", atol=1e-12,
                  wrong_answers=wrong, passed="one-hot times the matrix equals the lookup weight[ids]")
    # ids that never reach the last word: the one-hot length must still come from weight
    few = torch.tensor([2, 0, 2])
    size_hint = ("the one-hot vectors must have length V = weight.shape[0] (7 here), whatever ids hold: "
                 "F.one_hot(ids) without num_classes makes them ids.max() + 1 long (3 for ids [2, 0, 2]); "
                 "pass num_classes=weight.shape[0]")
    try:
        out_few = fn(few, weight)
    except (RuntimeError, IndexError, ValueError) as err:
        raise AssertionError(f"one_hot_embed raised on ids [2, 0, 2] with a 7-row weight: {err}\n"
                             f"Hint: {size_hint}") from err
    expect_shape(out_few, (3, d), "one_hot_embed(ids [2, 0, 2], weight of shape (7, 3))", hint=size_hint)
    _expect_close(out_few, weight[few], "the embeddings of ids [2, 0, 2]", "weight[ids]", atol=1e-12,
                  hint=size_hint, passed="ids that do not use the whole vocabulary: the one-hot length is "
                                         "weight.shape[0]")
    # one id: a (1,) tensor keeps its axis, a 0-d id gives one row (d,)
    single_hint = ("the output has the shape of ids plus a last axis of size d: squeeze() drops EVERY axis of "
                   "size 1 (here the axis of the single id); leave the shape alone, or squeeze only a named dim")
    for single, shape, what in [(torch.tensor([5]), (1, d), "ids of shape (1,), a single id"),
                                (torch.tensor(5), (d,), "a 0-d id, torch.tensor(5)")]:
        try:
            out_single = fn(single, weight)
        except (RuntimeError, IndexError, ValueError, TypeError) as err:
            raise AssertionError(f"one_hot_embed raised on {what}: {err}\nHint: ids can have any shape, one id "
                                 "included: build the one-hot vectors over a new last axis (F.one_hot does) and "
                                 "keep the leading shape") from err
        expect_shape(out_single, shape, f"one_hot_embed({what}, weight of shape (7, 3))", hint=single_hint)
        if not _close(out_single, weight[single], atol=1e-12):
            raise AssertionError(f"one_hot_embed({what}) differs from weight[ids]: the id's one-hot vector "
                                 "times weight is row 5 of weight")
    _report("a single id: shape (1,) gives (1, d), a 0-d id gives (d,)")
    ids_2d = torch.tensor([[1, 2, 3], [6, 5, 1]])
    try:
        out_2d = fn(ids_2d, weight)
    except (RuntimeError, IndexError, ValueError) as err:
        raise AssertionError(f"one_hot_embed raised on ids of shape (2, 3): {err}\nHint: ids can have any shape: "
                             "build the one-hot vectors over a new last axis (F.one_hot does) and keep the "
                             "leading shape") from err
    expect_shape(out_2d, (2, 3, d), "one_hot_embed(ids of shape (2, 3), weight)",
                 hint="keep the shape of ids and add a last axis of size d")
    _expect_close(out_2d, weight[ids_2d], "embeddings of a batch of sentences", "weight[ids]", atol=1e-12,
                  passed="ids of any shape: a batch of sentences (2, 3) gives (2, 3, d)")
    weight.requires_grad_(True)
    out = fn(ids, weight)
    if not out.requires_grad:
        raise AssertionError("the output is not connected to weight in the autograd graph: the embedding could "
                             "not be trained (avoid .detach(), .data and numpy)")
    (grad,) = torch.autograd.grad(out.sum(), weight)
    expected = torch.zeros(V, d, dtype=weight.dtype).index_add_(0, ids, torch.ones(4, d, dtype=weight.dtype))
    _expect_close(grad, expected, "the gradient with respect to weight", "a count of each id in every column",
                  atol=1e-12, passed="only the rows of the ids get a gradient (row 4, used twice, gets 2)")
    print("All one-hot embedding checks passed.")


def _pair_counts(pairs: torch.Tensor) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for center, context in pairs.tolist():
        counts[(center, context)] = counts.get((center, context), 0) + 1
    return counts


def _positions(T: int, window: int, *, both: bool = True, widest: int | None = None, self_pairs: bool = False,
               wrap: bool = False) -> list[tuple[int, int]]:
    widest = window if widest is None else widest
    out = []
    for i in range(T):
        for j in range(i - widest, i + widest + 1):
            if (j == i and not self_pairs) or (not both and j < i):
                continue
            if 0 <= j < T:
                out.append((i, j))
            elif wrap and j != i:
                out.append((i, j % T))
    return out


def check_skipgram_pairs(fn: Callable) -> None:
    """fn(ids: (T,), window) -> (N, 2) LongTensor of every (center, context) pair within `window`."""
    ids = torch.tensor([10, 11, 12, 13, 14, 15, 16])  # distinct ids: a pair names its two positions
    T = len(ids)
    saved = [ids.clone()]
    pairs = _call(fn, ids, 2)
    pairs = expect_tensor(pairs, "skipgram_pairs(ids, 2)")
    if pairs.dim() != 2 or pairs.shape[-1] != 2:
        raise AssertionError(f"skipgram_pairs should return a tensor of shape (N, 2), one (center, context) row "
                             f"per pair; got shape {tuple(pairs.shape)}")
    if pairs.dtype != torch.long:
        raise AssertionError(f"return word ids as a LongTensor (torch.long), got {pairs.dtype}")
    _report("returns an (N, 2) tensor of ids")
    _inputs_unchanged(saved, [ids])
    got = _pair_counts(pairs)
    as_ids = lambda positions: _pair_counts(ids[torch.tensor(positions)])  # noqa: E731
    expected = as_ids(_positions(T, 2))
    if got != expected:
        wrong = [(as_ids(_positions(T, 2, self_pairs=True)),
                  "a word is paired with itself: skip the offset 0 (the center is not its own context)"),
                 (as_ids(_positions(T, 2, both=False)),
                  "only the words AFTER the center are its context: skip-gram looks at both sides"),
                 (as_ids(_positions(T, 2, widest=1)),
                  "the window stops one word short: offsets run from 1 to window INCLUSIVE (range(1, window + 1))"),
                 (as_ids(_positions(T, 2, widest=3)), "the window reaches window + 1 words away"),
                 (as_ids(_positions(T, 2, wrap=True)),
                  "pairs wrap around the end of the sentence (torch.roll?): the first word has no left context")]
        for counts, diagnosis in wrong:
            if got == counts:
                raise AssertionError(f"the pairs of a 7-word sentence with window 2 are wrong: {diagnosis}")
        missing = sorted(set(expected) - set(got))[:3]
        extra = sorted(set(got) - set(expected))[:3]
        raise AssertionError(f"the pairs of a 7-word sentence with window 2 are wrong: {len(pairs)} pairs, expected "
                             f"{sum(expected.values())}" + (f"; missing e.g. {missing}" if missing else "")
                             + (f"; not within the window e.g. {extra}" if extra else "")
                             + ("" if missing or extra else "; some pairs appear twice"))
    _report(f"window 2 over 7 words: all {sum(expected.values())} (center, context) pairs, each once "
            "(in any order)")
    repeated = torch.tensor([3, 5, 3, 3])
    got = _pair_counts(_call(fn, repeated, 1))
    expected = _pair_counts(repeated[torch.tensor(_positions(4, 1))])
    if got != expected:
        raise AssertionError(f"with repeated words [3, 5, 3, 3] and window 1 the pairs should be {expected} "
                             f"(pair, count), got {got}: pair the positions, then look up their ids")
    _report("repeated words: each position makes its own pairs, (3, 3) included when two 3s are neighbours")
    # one word: no pairs, but still an (N, 2) LongTensor with N = 0 (torch.cat of them works, as in training)
    try:
        none = fn(torch.tensor([4]), 2)
    except (RuntimeError, IndexError, ValueError, TypeError) as err:
        raise AssertionError(f"skipgram_pairs raised on a one-word sentence (ids of shape (1,)): {err}\nHint: a "
                             "one-word sentence has no pairs; return an empty (0, 2) LongTensor, "
                             "torch.empty(0, 2, dtype=torch.long) (torch.cat of an empty list fails, and squeeze() "
                             "turns the (1,) ids into a 0-d tensor)") from err
    none = expect_tensor(none, "skipgram_pairs of a one-word sentence")
    if tuple(none.shape) != (0, 2) or none.dtype != torch.long:
        raise AssertionError(f"skipgram_pairs of a one-word sentence returned shape {tuple(none.shape)} and dtype "
                             f"{none.dtype}, expected shape (0, 2) and torch.long: no pairs is still an (N, 2) "
                             "LongTensor with N = 0, which torch.cat can join with other sentences' pairs. "
                             "torch.tensor([]) has shape (0,) and is float: use torch.empty(0, 2, dtype=torch.long) "
                             "or torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)")
    for T, window in [(3, 5), (1, 2)]:
        short = torch.arange(T)
        got = _pair_counts(_call(fn, short, window))
        expected = _pair_counts(short[torch.tensor(_positions(T, window), dtype=torch.long).view(-1, 2)])
        if got != expected:
            raise AssertionError(f"a {T}-word sentence with window {window} should give {sum(expected.values())} "
                                 f"pairs {sorted(expected)}, got {sorted(got)}: the window is cut at the "
                                 "sentence's ends")
    _report("a window wider than the sentence is cut at its ends; a one-word sentence has no pairs, an empty (0, 2) "
            "tensor")
    print("All skip-gram pair checks passed.")


def check_negative_sampling_loss(fn: Callable) -> None:
    """fn(center (B, d), context (B, d), negatives (B, k, d)) -> scalar tensor, as
    course_lib.embeddings.negative_sampling_loss."""
    B, k, d = 4, 3, 5
    gen = _generator(0)
    center, context, negatives = _randn(B, d, gen=gen), _randn(B, d, gen=gen), _randn(B, k, d, gen=gen)
    saved = [center.clone(), context.clone(), negatives.clone()]
    hint = "negatives is (B, k, d): score each negative against its own center, (negatives @ center[:, :, None])"
    loss = _call(fn, center, context, negatives, shape_hint=hint)
    expect_shape(loss, (), "the loss", hint="return the MEAN over the batch, a scalar")
    _inputs_unchanged(saved, [center, context, negatives])
    _report("returns a scalar, inputs unchanged")
    positive = (center * context).sum(-1)
    scores = torch.einsum("bkd,bd->bk", negatives, center)
    expected = -(F.logsigmoid(positive) + F.logsigmoid(-scores).sum(-1)).mean()
    per_example = -(F.logsigmoid(positive) + F.logsigmoid(-scores).sum(-1))
    wrong = [
        (per_example.sum(), "you summed over the batch: return the mean over the batch"),
        (-(F.logsigmoid(positive) + F.logsigmoid(scores).sum(-1)).mean(),
         "the negatives' scores need a minus sign: log s(-negative . center) rewards LOW scores for noise words"),
        (-(F.logsigmoid(positive) + F.logsigmoid(-scores).mean(-1)).mean(),
         "you averaged over the k negatives: the loss SUMS their terms (each is one binary decision)"),
        (-(torch.sigmoid(positive) + torch.sigmoid(-scores).sum(-1)).mean(),
         "take the log of the sigmoid (F.logsigmoid): the loss is a negative log-likelihood"),
        ((F.logsigmoid(positive) + F.logsigmoid(-scores).sum(-1)).mean(),
         "the sign is flipped: the loss is the NEGATIVE log-likelihood, to be minimised"),
        (-(F.logsigmoid(positive) + F.logsigmoid(-torch.einsum("bkd,bd->bk", negatives, context)).sum(-1)).mean(),
         "score the negatives against the CENTER vector, not the context vector"),
        (F.cross_entropy(torch.cat([positive[:, None], scores], 1), torch.zeros(B, dtype=torch.long)),
         "this is a softmax over the true context and the negatives: negative sampling makes k + 1 independent "
         "binary (sigmoid) decisions"),
    ]
    _expect_close(loss, expected, "the loss", "-log s(context.center) - sum_k log s(-negative_k.center), averaged",
                  atol=1e-10, wrong_answers=wrong, passed="matches the definition on a batch of 4 with 3 negatives")
    # one negative per pair, and a batch of one pair: axes of size 1 must survive
    for B1, k1 in [(3, 1), (1, 3)]:
        c1, o1, n1 = _randn(B1, d, gen=gen), _randn(B1, d, gen=gen), _randn(B1, k1, d, gen=gen)
        what = f"the loss of a batch of {B1} with k = {k1} negative{'s' if k1 > 1 else ''}"
        effect = ("k = 1 the (B, k) scores become (B,), and the sum over the negatives sums over the batch"
                  if k1 == 1 else "B = 1 the (B, k) scores become (k,)")
        squeeze_hint = (f"squeeze() without a dim drops EVERY axis of size 1: with {effect}; squeeze only the axis "
                        "you mean (squeeze(-1)) or index it ([..., 0])")
        try:
            value = fn(c1, o1, n1)
        except (RuntimeError, IndexError) as err:
            raise AssertionError(f"negative_sampling_loss raised on a batch of {B1} with k = {k1}: {err}\n"
                                 f"Hint: {squeeze_hint}") from err
        expect_shape(value, (), what, hint="return the MEAN over the batch, a scalar")
        scores1 = torch.einsum("bkd,bd->bk", n1, c1)
        if not _close(value, -(F.logsigmoid((c1 * o1).sum(-1)) + F.logsigmoid(-scores1).sum(-1)).mean(), atol=1e-10):
            raise AssertionError(f"{what} differs from the definition (the batch of 4 with 3 negatives matched it): "
                                 f"{squeeze_hint}")
    _report("one negative per pair (k = 1) and a batch of one pair (B = 1) give the definition's loss")
    # far from the decision boundary: a naive log(sigmoid(x)) underflows to log(0) = -inf
    big = 60.0
    loss = _call(fn, center * big, -context * big / 10, negatives * big)
    if not torch.isfinite(torch.as_tensor(loss)):
        raise AssertionError("the loss is inf or nan for large scores: torch.log(torch.sigmoid(x)) rounds to "
                             "log(0) when x is very negative; use F.logsigmoid, which stays exact")
    _report("stays finite for large scores (log-sigmoid computed stably)")
    center32 = center.float().requires_grad_(True)
    loss = _call(fn, center32, context.float(), negatives.float())
    if not loss.requires_grad:
        raise AssertionError("the loss is not connected to the vectors in the autograd graph: avoid .item(), "
                             ".detach() and numpy inside")
    (grad,) = torch.autograd.grad(loss, center32)
    center64 = center.clone().requires_grad_(True)
    reference = -(F.logsigmoid((center64 * context).sum(-1))
                  + F.logsigmoid(-torch.einsum("bkd,bd->bk", negatives, center64)).sum(-1)).mean()
    (expected_grad,) = torch.autograd.grad(reference, center64)
    _expect_close(grad, expected_grad, "the gradient with respect to center (float32 inputs)", "the definition's",
                  atol=1e-5, passed="float32 inputs work and the gradient reaches the center vectors")
    print("All negative sampling loss checks passed.")


def _negative_analogy_vectors() -> torch.Tensor:
    """Eight words in which every candidate (0-4) points AWAY from unit(6) - unit(5) + unit(7): all their cosine
    similarities are negative (about -0.8 to -1), so a, b and c masked with 0 would still win."""
    gen = _generator(5)
    vectors = _randn(8, 3, gen=gen)
    unit = F.normalize(vectors, dim=-1)
    target = F.normalize(unit[6] - unit[5] + unit[7], dim=0)
    lengths = torch.tensor([0.5, 3.0, 1.0, 2.0, 0.2], dtype=torch.float64)
    vectors[:5] = (-target + 0.4 * _randn(5, 3, gen=gen)) * lengths[:, None]
    return vectors


def _analogy_variants(vectors: torch.Tensor, a: int, b: int, c: int, reference: Callable) -> dict[str, int]:
    """The answers that common mistakes give to a : b :: c : ?"""
    unit = F.normalize(vectors, dim=-1)
    target = unit[b] - unit[a] + unit[c]
    raw_target = vectors[b] - vectors[a] + vectors[c]

    def best(scores: torch.Tensor, fill: float = -math.inf) -> int:
        scores = scores.clone()
        scores[[a, b, c]] = fill
        return int(scores.argmax())

    candidates = [w for w in range(len(vectors)) if w not in (a, b, c)]
    return {"kept": int((unit @ target).argmax()), "zero": best(unit @ target, 0.0),
            "shifted": int((unit[candidates] @ target).argmax()), "reversed": reference(vectors, b, a, c),
            "dot": best(vectors @ raw_target), "raw_offset": best(unit @ raw_target),
            "long_candidates": best(vectors @ target)}


_ANALOGY_HINTS = {
    "kept": "you returned one of the question's words: leave a, b and c out of the candidates (set their similarity "
            "to -inf)",
    "zero": "one of the question's words won although you masked them: their similarity was set to 0 (or another "
            "number above -1), but a cosine similarity runs from -1 to 1, and in this question every other word "
            "scores below 0. Set the similarity of a, b and c to -inf",
    "shifted": "the returned index is a position in the list of candidates without a, b and c, not a word id: "
               "return an index into the full vocabulary (map the position back), or keep every word in place and "
               "set the similarity of a, b and c to -inf",
    "reversed": "the offset runs from a to b, so add b - a to c (not a - b)",
    "dot": "a dot product favours long vectors: compare with cosine similarity (normalise every vector to unit "
           "length first)",
    "raw_offset": "the offset b - a + c was built from the raw vectors, so the longest of a, b and c dominates "
                  "it: normalise each of the three to unit length BEFORE forming unit(b) - unit(a) + unit(c) "
                  "(the cosine with the candidates is right)",
    "long_candidates": "the candidates' vectors are not normalised, so a dot product with the offset favours long "
                       "vectors: compare with cosine similarity (normalise every vector to unit length)",
}


def check_analogy(fn: Callable) -> None:
    """fn(vectors (V, d), a, b, c) -> the id d whose vector is most cosine-similar to
    unit(b) - unit(a) + unit(c), a, b and c left out, as course_lib.embeddings.analogy."""
    from ..embeddings import analogy as reference

    gen = _generator(0)
    # vectors of very different lengths: only cosine similarity, on unit vectors, answers right
    vectors = _randn(12, 4, gen=gen) * torch.tensor([0.2, 5.0, 1.0, 0.5, 3.0, 1.0, 0.1, 2.0, 1.0, 4.0, 0.3, 1.0],
                                                    dtype=torch.float64)[:, None]
    # a : b :: c : 3, with word 3 short; word 9 is long and nearly as well aligned
    a, b, c = 0, 1, 2
    unit = F.normalize(vectors, dim=-1)
    target = unit[b] - unit[a] + unit[c]
    vectors[3] = 0.05 * F.normalize(target, dim=0) + 0.002 * _randn(4, gen=gen)
    vectors[9] = 8.0 * F.normalize(target + 0.3 * _randn(4, gen=gen), dim=0)
    saved = [vectors.clone()]
    answer = _call(fn, vectors, a, b, c)
    try:
        answer = int(answer)
    except (TypeError, ValueError, RuntimeError):
        raise AssertionError(f"return one word id (an int), got {type(answer).__name__}"
                             + (f" of shape {tuple(answer.shape)}" if isinstance(answer, torch.Tensor) else "")) from None
    _inputs_unchanged(saved, [vectors])
    _report("returns one word id, vectors unchanged")
    negative = _negative_analogy_vectors()
    # the questions, each with its vectors; the last: every candidate's similarity is negative
    questions = [(vectors, 0, 1, 2), (vectors, 4, 5, 6), (vectors, 7, 2, 11), (vectors, 10, 8, 1), (negative, 5, 6, 7)]
    answers = [answer] + [int(_call(fn, v.clone(), *q)) for v, *q in questions[1:]]
    expected = [reference(v, *q) for v, *q in questions]
    assert expected[0] == 3
    variants = [_analogy_variants(v, *q, reference) for v, *q in questions]
    # a mistake is named if it gives every answer given (at one question two mistakes can agree)
    explains_all = [k for k in _ANALOGY_HINTS if all(var[k] == got for var, got in zip(variants, answers))]

    def expect(i: int) -> None:
        if answers[i] != expected[i]:
            v, *q = questions[i]
            here = [k for k in _ANALOGY_HINTS if variants[i][k] == answers[i]]
            diagnosis = (_ANALOGY_HINTS[explains_all[0]] if explains_all else _ANALOGY_HINTS[here[0]] if here
                         else "the answer maximises cos(v, unit(b) - unit(a) + unit(c)) over every word but a, b "
                              "and c")
            raise AssertionError(f"analogy(vectors, {q[0]}, {q[1]}, {q[2]}) returned {answers[i]}, expected "
                                 f"{expected[i]}: {diagnosis}")

    expect(0)
    _report("cosine similarity, not the dot product: a short vector in the right direction wins")
    for i in (1, 2, 3):
        expect(i)
    _report("three more analogies agree with unit(b) - unit(a) + unit(c), inputs left out")
    expect(4)
    _report("a question whose every candidate has a negative similarity: a, b and c still never win")
    answer = int(_call(fn, vectors.float(), 0, 1, 2))
    if answer != 3:
        raise AssertionError(f"with float32 vectors analogy returned {answer}, expected 3 (as with float64)")
    _report("float32 vectors (what a trained model has) give the same answer")
    print("All analogy checks passed.")
