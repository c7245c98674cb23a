"""metrics.corpus_bleu / sentence_bleu against sacrebleu, plus mutants that must differ."""
from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from course_lib.metrics import corpus_bleu, sentence_bleu

sacrebleu = pytest.importorskip("sacrebleu")
from sacrebleu.metrics import BLEU  # noqa: E402


def sacre(hyps, refs, max_n=4) -> float:
    """sacrebleu's score in [0, 1] for token-list inputs.

    sacrebleu wants reference *streams*: stream j holds the j-th reference of
    every sentence. Sentences with fewer references get None in the missing
    streams, which sacrebleu skips (an empty string would count as an empty
    reference).
    """
    k = max(len(r) for r in refs)
    streams = [[" ".join(r[j]) if j < len(r) else None for r in refs] for j in range(k)]
    metric = BLEU(tokenize="none", smooth_method="none", max_ngram_order=max_n)
    return metric.corpus_score([" ".join(h) for h in hyps], streams).score / 100


def perturb(ref, words, rng):
    """A plausible system output: the reference with some edits."""
    out = list(ref)
    for _ in range(rng.randint(0, 3)):
        op = rng.random()
        if op < 0.3 and out:
            out.pop(rng.randrange(len(out)))
        elif op < 0.6 and out:
            out[rng.randrange(len(out))] = rng.choice(words)
        elif op < 0.8:
            out.insert(rng.randint(0, len(out)), rng.choice(words))
        elif out:
            i = rng.randrange(len(out))
            out.insert(i, out[i])  # repeated word: exercises clipping
    if rng.random() < 0.2:
        out = out[: rng.randint(0, len(out))]  # short output: exercises the brevity penalty
    return out


def random_corpus(rng, max_refs=3):
    words = [f"w{i}" for i in range(rng.randint(3, 8))]
    hyps, refs = [], []
    for _ in range(rng.randint(1, 8)):
        rs = [[rng.choice(words) for _ in range(rng.randint(1, 12))]
              for _ in range(rng.randint(1, max_refs))]
        refs.append(rs)
        hyps.append(perturb(rng.choice(rs), words, rng))
    return hyps, refs


def corpora(n=250, seed=0):
    rng = random.Random(seed)
    return [random_corpus(rng) for _ in range(n)]


CORPORA = corpora()


# ----------------------------------------------------------------------------- mutants

def _counts(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))



def _closest_length(lengths: list[int], hyp_len: int, tie: str) -> int:
    """The reference length the brevity penalty uses: the closest to the hypothesis, a tie going to the
    shorter one or the longer one."""
    return min(lengths, key=lambda x: (abs(x - hyp_len), x if tie == "shorter" else -x))


def mutant_bleu(hyps, refs, max_n=4, clip=True, brevity=True, tie="shorter", geometric=True):
    """A configurable BLEU for common wrong implementations."""
    m, t = [0] * max_n, [0] * max_n
    c = r = 0
    for h, rs in zip(hyps, refs):
        for n in range(1, max_n + 1):
            hc = _counts(h, n)
            mx = Counter()
            for ref in rs:
                for g, k in _counts(ref, n).items():
                    mx[g] = max(mx[g], k)
            t[n - 1] += sum(hc.values())
            m[n - 1] += sum(min(k, mx[g]) if clip else (k if g in mx else 0) for g, k in hc.items())
        c += len(h)
        lens = [len(x) for x in rs]
        r += _closest_length(lens, len(h), tie)
    if c == 0 or min(m) == 0:
        return 0.0
    ps = [a / b for a, b in zip(m, t)]
    mean = math.exp(sum(map(math.log, ps)) / max_n) if geometric else sum(ps) / max_n
    bp = 1.0 if (c >= r or not brevity) else math.exp(1 - r / c)
    return bp * mean


# ----------------------------------------------------------------------------- tests

@pytest.mark.parametrize("max_n", [1, 2, 3, 4])
def test_matches_sacrebleu_on_random_corpora(max_n):
    nonzero = 0
    for hyps, refs in CORPORA:
        ours, theirs = corpus_bleu(hyps, refs, max_n=max_n), sacre(hyps, refs, max_n)
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (hyps, refs)
        assert 0.0 <= ours <= 1.0
        nonzero += ours > 0
    assert nonzero > len(CORPORA) // 3, "the corpora should mostly give non-zero BLEU"


def test_multiple_references_with_different_counts():
    hyps = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran", "in", "the", "park"]]
    refs = [[["the", "cat", "is", "on", "the", "mat"], ["there", "is", "a", "cat", "on", "the", "mat"]],
            [["a", "dog", "ran", "in", "the", "park", "today"]]]
    assert corpus_bleu(hyps, refs) == pytest.approx(sacre(hyps, refs), rel=1e-12)
    assert corpus_bleu(hyps, refs) > 0
    # an extra reference can only add matches
    more = [refs[0], refs[1] + [["a", "dog", "ran", "in", "the", "park"]]]
    assert corpus_bleu(hyps, more) >= corpus_bleu(hyps, refs)
    assert corpus_bleu(hyps, more) == pytest.approx(sacre(hyps, more), rel=1e-12)


def test_hand_computed_values():
    ref = "the cat sat on the mat".split()
    assert corpus_bleu([ref], [[ref]]) == pytest.approx(1.0)
    # all n-grams match but the output is short: BLEU = BP = exp(1 - 6/2)
    assert corpus_bleu([["the", "cat"]], [[ref]], max_n=2) == pytest.approx(math.exp(-2))
    # clipping: "the" occurs twice in the reference, so 2 of 4 unigrams count
    assert corpus_bleu([["the"] * 4], [[ref]], max_n=1) == pytest.approx(0.5 * math.exp(1 - 6 / 4))
    # no 4-gram matches: 0 without smoothing
    assert corpus_bleu([["the", "cat", "sat", "in", "the", "mat"]], [[ref]]) == 0.0


def test_empty_and_short_hypotheses():
    ref = "a b c d e f".split()
    assert corpus_bleu([[]], [[ref]]) == 0.0 == sacre([[]], [[ref]])
    assert corpus_bleu([[], []], [[[]], [[]]]) == 0.0
    # one empty hypothesis in a corpus: its reference length still counts for the brevity penalty
    hyps, refs = [ref, []], [[ref], [ref]]
    assert corpus_bleu(hyps, refs) == pytest.approx(sacre(hyps, refs), rel=1e-12)
    assert corpus_bleu(hyps, refs) == pytest.approx(math.exp(1 - 12 / 6))
    for cut in range(1, 6):
        h = [ref[:cut]]
        assert corpus_bleu(h, [[ref]], max_n=1) == pytest.approx(sacre(h, [[ref]], 1), rel=1e-12)
        assert corpus_bleu(h, [[ref]], max_n=1) < 1.0, "a short output must pay the brevity penalty"


def test_closest_reference_length_ties_go_to_the_shorter():
    hyp = "a b c d e".split()
    refs = [["a b c d".split(), "a b c d e x".split()]]  # lengths 4 and 6, both 1 away
    ours = corpus_bleu([hyp], refs, max_n=1)
    assert ours == pytest.approx(sacre([hyp], refs, 1), rel=1e-12)
    assert ours == pytest.approx(1.0)  # r = 4 <= c = 5: no penalty
    assert mutant_bleu([hyp], refs, 1, tie="longer") < ours


@pytest.mark.parametrize("mutant,kwargs", [
    ("unclipped counts", dict(clip=False)),
    ("no brevity penalty", dict(brevity=False)),
    ("longest of tied references", dict(tie="longer")),
    ("arithmetic mean of precisions", dict(geometric=False)),
])
def test_mutants_differ_from_sacrebleu(mutant, kwargs):
    assert all(mutant_bleu(h, r) == pytest.approx(sacre(h, r), rel=1e-9, abs=1e-12)
               for h, r in CORPORA), "the reference mutant_bleu must agree with sacrebleu"
    differing = sum(mutant_bleu(h, r, **kwargs) != pytest.approx(sacre(h, r), rel=1e-9, abs=1e-12)
                    for h, r in CORPORA)
    assert differing > 0, f"the {mutant} mutant should give different scores on some corpus"


def test_sentence_bleu():
    ref = "the cat sat on the mat".split()
    hyp = "the cat sat on a mat".split()
    assert sentence_bleu(hyp, [ref], max_n=2) == pytest.approx(sacre([hyp], [[ref]], 2), rel=1e-12)
    assert sentence_bleu(hyp, [ref]) == corpus_bleu([hyp], [[ref]])
    assert sentence_bleu(ref, [hyp, ref]) == pytest.approx(1.0)


def test_clear_errors_for_wrong_input_shapes():
    ref = "a b c".split()
    with pytest.raises(TypeError, match="wrapped in a list"):
        corpus_bleu([ref], [ref])
    with pytest.raises(TypeError, match="token lists"):
        corpus_bleu(["a b c"], [[ref]])
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        corpus_bleu([ref, ref], [[ref]])
    with pytest.raises(ValueError, match="non-empty list of references"):
        corpus_bleu([ref], [[]])
    with pytest.raises(ValueError, match="max_n"):
        corpus_bleu([ref], [[ref]], max_n=0)
