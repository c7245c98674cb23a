"""Metrics: perplexity (and its unigram baseline), accuracy, and BLEU."""
from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["perplexity", "unigram_perplexity", "accuracy", "corpus_bleu", "sentence_bleu"]


def perplexity(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int | None = None) -> float:
    """exp(mean negative log-likelihood per target token).

    logits: (..., V) unnormalised scores; targets: (...) ids. Targets equal to
    ignore_index (padding) are left out of the mean. The mean is over all
    tokens of all sequences together, so long sequences weigh more than short
    ones, as in the usual corpus-level definition. A model that spreads its
    probability evenly over V tokens has perplexity exactly V.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits (..., V) and targets (...) must agree on the leading dims: "
            f"got logits {tuple(logits.shape)} and targets {tuple(targets.shape)}"
        )
    logits = logits.reshape(-1, logits.shape[-1]).float()
    targets = targets.reshape(-1)
    if ignore_index is not None:
        keep = targets != ignore_index
        if not keep.any():
            raise ValueError(f"every target equals ignore_index={ignore_index}: nothing to average")
        logits, targets = logits[keep], targets[keep]
    nll = F.cross_entropy(logits, targets)  # mean over tokens, natural log
    return math.exp(nll.item())


def unigram_perplexity(
    train_ids: Sequence[int] | torch.Tensor,
    eval_ids: Sequence[int] | torch.Tensor,
    vocab_size: int,
    smoothing: float = 1.0,
) -> float:
    """Perplexity on eval_ids of the model that ignores context: p(token) = its frequency.

    Frequencies are counted on train_ids with add-`smoothing` (Laplace)
    smoothing, so a token unseen in training still gets some probability
    (with smoothing=0 an unseen eval token makes the perplexity infinite).
    This is the baseline a sequence model must beat to show it uses context.
    """
    train_ids = torch.as_tensor(train_ids, dtype=torch.long).reshape(-1)
    eval_ids = torch.as_tensor(eval_ids, dtype=torch.long).reshape(-1)
    if len(eval_ids) == 0:
        raise ValueError("eval_ids is empty")
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + smoothing
    if len(counts) > vocab_size:
        raise ValueError(f"train_ids contains id {int(train_ids.max())} >= vocab_size={vocab_size}")
    log_probs = torch.log(counts / counts.sum())
    return math.exp(-log_probs[eval_ids].mean().item())


def accuracy(pred: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None) -> float:
    """Fraction of positions where the prediction equals the target.

    pred: either class ids with target's shape, or scores (..., C) whose argmax
    over the last dim is taken. Positions where target == ignore_index do not
    count.
    """
    if pred.dim() == target.dim() + 1:
        pred = pred.argmax(dim=-1)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred must have target's shape {tuple(target.shape)} (ids) or that shape plus "
            f"a class dim (scores); got {tuple(pred.shape)}"
        )
    correct = pred == target
    if ignore_index is not None:
        keep = target != ignore_index
        if not keep.any():
            raise ValueError(f"every target equals ignore_index={ignore_index}: nothing to count")
        correct = correct[keep]
    return correct.float().mean().item()


# ---------------------------------------------------------------------------
# BLEU (chapter 3; used again in chapter 5)
# ---------------------------------------------------------------------------


def _ngram_counts(tokens: Sequence[str], max_n: int) -> Counter:
    """Counts of every n-gram of `tokens`, 1 <= n <= max_n, keyed by tuple."""
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_n + 1)
                   for i in range(len(tokens) - n + 1))


def _closest_ref_len(hyp_len: int, ref_lens: Sequence[int]) -> int:
    # the reference length closest to the hypothesis; on a tie the shorter
    # one (as sacrebleu does), which gives the milder brevity penalty
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _check_bleu_args(hypotheses, references, max_n: int) -> None:
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} reference "
                         "lists; each hypothesis needs its own list of references")
    for i, (hyp, refs) in enumerate(zip(hypotheses, references)):
        if isinstance(hyp, str):
            raise TypeError(f"hypothesis {i} is a string; pass token lists (e.g. text.split())")
        if isinstance(refs, str) or len(refs) == 0:
            raise ValueError(f"hypothesis {i} needs a non-empty list of references (token lists)")
        if isinstance(refs[0], str):
            raise TypeError(
                f"references[{i}] is a list of strings: one reference per hypothesis must "
                "still be wrapped in a list, e.g. references=[[ref] for ref in refs]")


def corpus_bleu(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    max_n: int = 4,
) -> float:
    """Corpus-level BLEU (Papineni et al. 2002) in [0, 1], without smoothing.

    hypotheses: one token list per sentence.
    references: for each hypothesis, a LIST of reference token lists (one or more).

    BLEU = BP * exp(mean over n = 1..max_n of log p_n), where
      p_n = clipped n-gram matches / hypothesis n-grams, summed over the corpus;
            a hypothesis n-gram counts at most as often as it occurs in the
            reference where it occurs most (clipping: "the the the" earns no
            more than the references allow);
      BP  = 1 if c >= r else exp(1 - r / c), the brevity penalty, with c the
            total hypothesis length and r the sum of the reference lengths
            closest to each hypothesis (ties: the shorter one). Without it,
            outputting only the few words one is sure of would score high
            precision.
    Returns 0.0 when some p_n is 0 (no smoothing), e.g. when no hypothesis has
    max_n tokens. Equals sacrebleu.corpus_bleu(..., tokenize="none",
    smooth_method="none").score / 100 on the space-joined tokens.
    """
    _check_bleu_args(hypotheses, references, max_n)
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        hyp_counts = _ngram_counts(hyp, max_n)
        max_ref_counts: Counter = Counter()
        for ref in refs:
            for gram, count in _ngram_counts(ref, max_n).items():
                max_ref_counts[gram] = max(max_ref_counts[gram], count)
        for gram, count in hyp_counts.items():
            totals[len(gram) - 1] += count
            matches[len(gram) - 1] += min(count, max_ref_counts[gram])
        hyp_len += len(hyp)
        ref_len += _closest_ref_len(len(hyp), [len(r) for r in refs])
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity_penalty = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return brevity_penalty * math.exp(log_precision)


def sentence_bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]],
                  max_n: int = 4) -> float:
    """BLEU of one hypothesis against its references: corpus_bleu on a one-sentence corpus.

    Unsmoothed, so any sentence with no matching max_n-gram scores 0; prefer
    corpus_bleu to compare systems.
    """
    return corpus_bleu([hypothesis], [references], max_n)
