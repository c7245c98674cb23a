"""Word embeddings: from one-hot vectors to word2vec's skip-gram with negative sampling (chapter 00).

Read top to bottom:
1. a vocabulary ordered by frequency, one-hot vectors, and why an embedding lookup is a one-hot
   vector times a matrix;
2. a next-word model: embeddings learned as a side effect of a task;
3. skip-gram (Mikolov et al., 2013): predict the words around each word, with a softmax over the
   whole vocabulary, then with negative sampling (a few binary decisions instead), plus word2vec's
   sub-sampling of frequent words and its unigram^0.75 noise distribution;
4. what the vectors know: cosine neighbours, analogies (a : b :: c : ?), a 2-D projection.

The trainer works on mini-batches of (center, context) pairs with plain SGD and word2vec's linearly
decaying learning rate. The original updates the vectors pair by pair in C threads; a batch sums the
same per-pair gradients, so the learning rate keeps word2vec's meaning (0.025 per pair).
"""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Vocabulary", "one_hot", "one_hot_embed", "NextWordModel", "skipgram_pairs", "corpus_pairs",
           "keep_probabilities", "subsample", "noise_distribution", "negative_sampling_loss",
           "full_softmax_loss", "SkipGram", "Word2VecConfig", "train_skipgram", "cosine_similarities",
           "nearest_neighbours", "analogy", "analogy_accuracy", "neighbour_overlap", "project_2d"]


# ---------------------------------------------------------------------------------------------------
# 1. Words to ids to vectors

class Vocabulary:
    """Words ordered by count, most frequent first (ties alphabetically), with their counts.

    Frequency order is word2vec's: the noise distribution and sub-sampling both read the counts,
    and the most frequent ids are the ones worth looking at first.
    """

    def __init__(self, counts: Counter, min_count: int = 1):
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if not kept:
            raise ValueError(f"no word occurs at least min_count={min_count} times")
        self.words: list[str] = [w for w, _ in kept]
        self.counts = torch.tensor([c for _, c in kept], dtype=torch.long)
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_sentences(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        return cls(Counter(w for sentence in sentences for w in sentence), min_count)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        if word not in self.index:
            raise KeyError(f"{word!r} is not in the vocabulary (rare words below min_count are dropped)")
        return self.index[word]

    def encode(self, sentence: Sequence[str]) -> torch.Tensor:
        """The ids of the sentence's known words (unknown words are skipped, as word2vec does)."""
        return torch.tensor([self.index[w] for w in sentence if w in self.index], dtype=torch.long)


def one_hot(ids: torch.Tensor, vocab_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(...,) ids -> (..., vocab_size) vectors with a single 1 at each id."""
    return F.one_hot(ids, vocab_size).to(dtype)


def one_hot_embed(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(...,) ids and a (V, d) matrix -> (..., d): the one-hot vectors times the matrix.

    Each one-hot vector picks one row, so this equals weight[ids], which is what nn.Embedding
    computes without ever building the (..., V) one-hot tensor.
    """
    return one_hot(ids, weight.shape[0], weight.dtype) @ weight


# ---------------------------------------------------------------------------------------------------
# 2. Embeddings learned as part of a task

class NextWordModel(nn.Module):
    """Predict the next word from the current one through a d-dimensional embedding.

    Nothing asks the embedding to mean anything; words that are followed by the same words end up
    with similar vectors anyway, because that is what makes the prediction work.
    """

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.output = nn.Linear(dim, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.output(self.embedding(ids))


# ---------------------------------------------------------------------------------------------------
# 3. Skip-gram

def skipgram_pairs(ids: torch.Tensor, window: int) -> torch.Tensor:
    """Every (center, context) pair of one sentence: the words up to `window` positions away on
    either side, within the sentence. ids: (T,) -> (N, 2) with N = 2 * sum over offsets of (T - offset)."""
    return corpus_pairs([ids], window)


def corpus_pairs(sentences: Sequence[torch.Tensor], window: int) -> torch.Tensor:
    """skipgram_pairs of every sentence, computed for all sentences at once (no pair crosses the
    end of a sentence)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not sentences:
        return torch.empty(0, 2, dtype=torch.long)
    ids = torch.cat(list(sentences))
    sentence = torch.repeat_interleave(torch.arange(len(sentences)), torch.tensor([len(s) for s in sentences]))
    pairs = []
    for offset in range(1, window + 1):
        same = sentence[:-offset] == sentence[offset:]
        pairs.append(torch.stack([ids[:-offset][same], ids[offset:][same]], dim=1))
    right = torch.cat(pairs)
    return torch.cat([right, right.flip(1)])  # a context on the right is a center's left context too


def keep_probabilities(counts: torch.Tensor, sample: float = 1e-3) -> torch.Tensor:
    """word2vec's sub-sampling: a word making up a fraction f of the corpus is kept with probability
    (sqrt(f / sample) + 1) * sample / f (capped at 1). "the" is dropped most of the time; words
    rarer than about `sample` are always kept. Frequent words carry little information per
    occurrence, and dropping them also brings the other words closer together in the window."""
    f = counts.double() / counts.sum()
    return ((f / sample).sqrt() + 1).mul(sample / f).clamp(max=1.0)


def subsample(sentences: Sequence[torch.Tensor], keep: torch.Tensor, generator: torch.Generator | None = None
              ) -> list[torch.Tensor]:
    """Drop each occurrence of word w with probability 1 - keep[w]."""
    return [s[torch.rand(len(s), generator=generator, dtype=torch.float64) < keep[s]] for s in sentences]


def noise_distribution(counts: torch.Tensor, power: float = 0.75) -> torch.Tensor:
    """The distribution negatives are drawn from: unigram counts to the power 3/4, normalised.
    The power flattens the unigram distribution, so rare words are drawn as negatives more often
    than their counts alone would make them (Mikolov et al. found 3/4 works best)."""
    weights = counts.double() ** power
    return weights / weights.sum()


def negative_sampling_loss(center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """The mean over the batch of  -log s(context . center) - sum_k log s(-negative_k . center).

    center, context: (B, d)   negatives: (B, k, d)   -> a scalar tensor
    One binary decision for the true context word (is it a real neighbour? yes) and one for each of
    the k noise words (no), instead of a softmax over the whole vocabulary.
    """
    positive = F.logsigmoid((context * center).sum(-1))
    negative = F.logsigmoid(-torch.bmm(negatives, center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(positive + negative).mean()


def full_softmax_loss(center: torch.Tensor, context_weight: torch.Tensor, context_ids: torch.Tensor) -> torch.Tensor:
    """Skip-gram with a softmax over the vocabulary: -log p(context | center), averaged.
    center: (B, d)   context_weight: (V, d), a context vector per word   context_ids: (B,)
    Every step scores all V words for every pair: the cost negative sampling removes."""
    return F.cross_entropy(center @ context_weight.T, context_ids)


class SkipGram(nn.Module):
    """Two vectors per word: one for the word as a center, one as a context (word2vec's syn0 and
    syn1neg). The center vectors are the embeddings people keep.

    Initialised as word2vec does: center vectors uniform in +-0.5/d, context vectors zero, so at the
    start every score is 0 and every decision is a coin flip.
    """

    def __init__(self, vocab_size: int, dim: int, sparse: bool = True):
        super().__init__()
        self.center = nn.Embedding(vocab_size, dim, sparse=sparse)
        self.context = nn.Embedding(vocab_size, dim, sparse=sparse)
        with torch.no_grad():
            self.center.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.context.weight.zero_()

    def loss(self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor | None = None) -> torch.Tensor:
        """Negative sampling when `negatives` (B, k) ids are given, else the full softmax."""
        if negatives is None:
            return full_softmax_loss(self.center(centers), self.context.weight, contexts)
        return negative_sampling_loss(self.center(centers), self.context(contexts), self.context(negatives))

    @property
    def vectors(self) -> torch.Tensor:
        return self.center.weight.detach()


@dataclass
class Word2VecConfig:
    dim: int = 50
    window: int = 3                 # words on each side
    negatives: int | None = 5      # None: the full softmax
    epochs: int = 5
    lr: float = 0.025              # per pair, decayed linearly to min_lr (word2vec's alpha)
    min_lr: float = 0.0001
    batch_size: int = 256
    sample: float = 1e-3           # sub-sampling threshold; 0 keeps every word
    seed: int = 0


@dataclass
class TrainingRun:
    model: SkipGram
    losses: list[float] = field(default_factory=list)   # mean loss per logged batch group
    pairs_seen: int = 0
    seconds: float = 0.0


def train_skipgram(sentences: Sequence[torch.Tensor], vocab: Vocabulary, config: Word2VecConfig | None = None,
                   progress: bool = True, log_every: int = 50) -> TrainingRun:
    """Train skip-gram on encoded sentences; every epoch draws a new sub-sample of the corpus."""
    from tqdm.auto import tqdm

    config = config or Word2VecConfig()
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = SkipGram(len(vocab), config.dim, sparse=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    keep = keep_probabilities(vocab.counts, config.sample) if config.sample else None
    noise = noise_distribution(vocab.counts)
    # the learning rate decays over the run; its length is estimated from the first epoch's sub-sample
    draw = lambda: subsample(sentences, keep, generator) if keep is not None else sentences  # noqa: E731
    kept = draw()
    total_steps = max(1, config.epochs * math.ceil(len(corpus_pairs(kept, config.window)) / config.batch_size))
    run, step, running = TrainingRun(model), 0, []
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="skip-gram" + (" (negative sampling)" if config.negatives else " (full softmax)"),
               disable=not progress)
    for epoch in range(config.epochs):
        if epoch > 0:
            kept = draw()  # a new sub-sample every epoch
        pairs = corpus_pairs(kept, config.window)
        pairs = pairs[torch.randperm(len(pairs), generator=generator)]
        for batch in pairs.split(config.batch_size):
            lr = max(config.min_lr, config.lr - (config.lr - config.min_lr) * step / total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            negatives = None
            if config.negatives:
                negatives = torch.multinomial(noise, len(batch) * config.negatives, replacement=True,
                                              generator=generator).view(len(batch), config.negatives)
            loss = model.loss(batch[:, 0], batch[:, 1], negatives)
            optimizer.zero_grad()
            # sum, not mean, over the batch: each pair moves its vectors as far as in word2vec
            (loss * len(batch)).backward()
            optimizer.step()
            running.append(loss.item())
            if len(running) == log_every:
                run.losses.append(sum(running) / len(running))
                running = []
            run.pairs_seen += len(batch)
            step += 1
            bar.update()
    bar.close()
    run.seconds = time.perf_counter() - start
    return run


# ---------------------------------------------------------------------------------------------------
# 4. What the vectors know

def cosine_similarities(vectors: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """(V, d) vectors and a (d,) query -> (V,) cosine similarities."""
    return F.normalize(vectors, dim=-1) @ F.normalize(query, dim=-1)


def nearest_neighbours(vectors: torch.Tensor, word_id: int, k: int = 5) -> list[int]:
    """The k words most cosine-similar to word `word_id`, itself left out."""
    similarities = cosine_similarities(vectors, vectors[word_id])
    similarities[word_id] = -math.inf
    return similarities.topk(k).indices.tolist()


def analogy(vectors: torch.Tensor, a: int, b: int, c: int) -> int:
    """a is to b as c is to ?: the word whose vector is most cosine-similar to b - a + c, with the
    unit-length vectors of a, b and c, leaving out a, b and c themselves (word2vec's 3CosAdd)."""
    unit = F.normalize(vectors, dim=-1)
    similarities = unit @ F.normalize(unit[b] - unit[a] + unit[c], dim=-1)
    similarities[[a, b, c]] = -math.inf
    return int(similarities.argmax())


def analogy_accuracy(vectors: torch.Tensor, vocab: Vocabulary, questions) -> dict[str, float]:
    """The fraction of questions (relation, a, b, c, d) whose analogy(a, b, c) is d, per relation and
    "all"; all questions are answered in one matrix product."""
    asked = [q for q in questions if all(w in vocab for w in q[1:])]
    if not asked:
        raise ValueError("no question has all four words in the vocabulary")
    ids = torch.tensor([[vocab[w] for w in q[1:]] for q in asked])
    unit = F.normalize(vectors, dim=-1)
    target = F.normalize(unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]], dim=-1)
    similarities = target @ unit.T
    similarities.scatter_(1, ids[:, :3], -math.inf)
    right = similarities.argmax(dim=1) == ids[:, 3]
    accuracy = {}
    for relation in dict.fromkeys(q[0] for q in asked):
        chosen = torch.tensor([q[0] == relation for q in asked])
        accuracy[relation] = right[chosen].double().mean().item()
    accuracy["all"] = right.double().mean().item()
    return accuracy


def neighbour_overlap(vectors_a: torch.Tensor, vectors_b: torch.Tensor, word_ids: Sequence[int], k: int = 10) -> float:
    """The mean fraction of each word's k nearest neighbours that two sets of vectors (same word
    order) agree on: 1 means the same neighbourhoods, whatever the coordinates."""
    shared = [len(set(nearest_neighbours(vectors_a, i, k)) & set(nearest_neighbours(vectors_b, i, k))) / k
              for i in word_ids]
    return sum(shared) / len(shared)


def project_2d(vectors: torch.Tensor) -> torch.Tensor:
    """(N, d) -> (N, 2): the two principal components (PCA), the directions of most variance."""
    centred = vectors - vectors.mean(dim=0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T
