"""course_lib.metrics: perplexity, unigram baseline, accuracy."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.metrics import accuracy, perplexity, unigram_perplexity


def test_uniform_logits_give_vocab_size():
    V = 13
    targets = torch.randint(V, (4, 9), generator=torch.Generator().manual_seed(0))
    assert perplexity(torch.zeros(4, 9, V), targets) == pytest.approx(V, rel=1e-6)
    assert perplexity(torch.full((36, V), 3.7), targets.flatten()) == pytest.approx(V, rel=1e-6)


def test_perplexity_is_exp_of_mean_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 6, 5, generator=gen)
    targets = torch.randint(5, (2, 6), generator=gen)
    expected = math.exp(F.cross_entropy(logits.reshape(-1, 5), targets.reshape(-1)).item())
    assert perplexity(logits, targets) == pytest.approx(expected, rel=1e-6)
    confident = F.one_hot(targets, 5).float() * 50
    assert perplexity(confident, targets) == pytest.approx(1.0, abs=1e-6)


def test_perplexity_ignore_index():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 5, generator=gen)
    targets = torch.randint(1, 5, (2, 6), generator=gen)
    targets[1, 4:] = 0
    keep = targets != 0
    expected = math.exp(F.cross_entropy(logits[keep], targets[keep]).item())
    assert perplexity(logits, targets, ignore_index=0) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="ignore_index"):
        perplexity(logits, torch.zeros(2, 6, dtype=torch.long), ignore_index=0)


def test_perplexity_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 6, 5\).*\(2, 5\)"):
        perplexity(torch.zeros(2, 6, 5), torch.zeros(2, 5, dtype=torch.long))


def test_unigram_perplexity():
    # uniform counts -> perplexity V
    assert unigram_perplexity([0, 1, 2, 3] * 5, [3, 2, 1, 0], 4) == pytest.approx(4.0)
    # without smoothing: probabilities are the frequencies
    train = [0, 0, 0, 1]
    expected = math.exp(-(math.log(0.75) + math.log(0.25)) / 2)
    assert unigram_perplexity(train, [0, 1], 2, smoothing=0.0) == pytest.approx(expected)
    assert unigram_perplexity(train, [2], 3, smoothing=0.0) == math.inf
    assert math.isfinite(unigram_perplexity(train, [2], 3, smoothing=1.0))


def test_accuracy_from_ids_and_scores():
    target = torch.tensor([1, 2, 3, 0])
    assert accuracy(torch.tensor([1, 2, 0, 0]), target) == pytest.approx(0.75)
    scores = F.one_hot(torch.tensor([1, 0, 0, 0]), 4).float()
    assert accuracy(scores, target) == pytest.approx(0.5)
    assert accuracy(torch.tensor([1, 2, 0, 1]), target, ignore_index=0) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="shape"):
        accuracy(torch.zeros(3), target)
