"""Synthetic tasks whose difficulty is known exactly, to isolate one ability of a model."""
from __future__ import annotations

import random
from typing import Callable

import torch

from .vocab import Vocab

__all__ = [
    "long_range_recall_task",
    "SYMBOLS", "sequence_task", "sequence_task_splits", "copy_task", "reverse_task", "sort_task",
    "symbol_vocab",
]


def long_range_recall_task(
    num_examples: int, seq_len: int, vocab_size: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remember the first token through seq_len - 1 random distractors.

    Returns x: (num_examples, seq_len) ids in [0, vocab_size) and
    y: (num_examples,) with y = x[:, 0]. The distractors come from the same
    vocabulary and carry no information about the label, so the only way to
    beat chance (1 / vocab_size) is to carry the first token across all
    seq_len steps: a test of memory over exactly that distance.
    """
    if seq_len < 1 or num_examples < 1:
        raise ValueError(f"need seq_len >= 1 and num_examples >= 1, got {seq_len}, {num_examples}")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(vocab_size, (num_examples, seq_len), generator=gen)
    return x, x[:, 0].clone()


# --------------------------------------------------------------------------- sequence-to-sequence tasks
#
# Copy, reverse and sort a random string of symbols. The answer is a fixed
# function of the input, so a model either learns the rule or it does not,
# and each task asks for a different pattern of attention: copying looks at
# the same position (a diagonal), reversing at the mirrored one (the
# anti-diagonal), sorting at wherever the next-smallest symbol is.

SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"

_RULES: dict[str, Callable[[list[str]], list[str]]] = {
    "copy": lambda s: list(s),
    "reverse": lambda s: s[::-1],
    "sort": lambda s: sorted(s, key=SYMBOLS.index),  # by symbol id, so "9" < "a"
}

SequencePair = tuple[list[str], list[str]]


def sequence_task(
    task: str,
    n: int,
    min_len: int = 3,
    max_len: int = 10,
    num_symbols: int = 10,
    seed: int = 0,
) -> list[SequencePair]:
    """`n` distinct (source, target) pairs of the task "copy", "reverse" or "sort".

    Sources are strings of min_len..max_len symbols (uniform length, then
    uniform symbols) drawn from the first `num_symbols` of SYMBOLS, as lists
    of one-character tokens; the target is the source copied, reversed or
    sorted. Deterministic in `seed`. Build the vocabulary with `symbol_vocab`.
    """
    if task not in _RULES:
        raise ValueError(f"task must be one of {sorted(_RULES)}, got {task!r}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if not 2 <= num_symbols <= len(SYMBOLS):
        raise ValueError(f"num_symbols must be in 2..{len(SYMBOLS)}, got {num_symbols}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    possible = sum(num_symbols**length for length in range(min_len, max_len + 1))
    if n > possible // 2:  # rejection sampling would crawl near the end
        raise ValueError(f"asked for {n} distinct sequences, but lengths {min_len}..{max_len} over "
                         f"{num_symbols} symbols allow only {possible}; use longer or more varied sequences")
    rng = random.Random(seed)
    symbols = SYMBOLS[:num_symbols]
    seen: set[str] = set()
    pairs: list[SequencePair] = []
    while len(pairs) < n:
        source = "".join(rng.choice(symbols) for _ in range(rng.randint(min_len, max_len)))
        if source in seen:
            continue
        seen.add(source)
        pairs.append((list(source), _RULES[task](list(source))))
    return pairs


def sequence_task_splits(
    task: str, n_train: int, n_val: int, n_test: int, seed: int = 0, **kwargs
) -> tuple[list[SequencePair], list[SequencePair], list[SequencePair]]:
    """Train, validation and test lists of `sequence_task` with no source in common.

    Cut from one call (which never repeats a source), so a test sequence is
    never seen in training: a model must have learned the rule, not the examples.
    Keyword arguments (min_len, max_len, num_symbols) are passed on.
    """
    pairs = sequence_task(task, n_train + n_val + n_test, seed=seed, **kwargs)
    return pairs[:n_train], pairs[n_train:n_train + n_val], pairs[n_train + n_val:]


def copy_task(n: int, min_len: int = 3, max_len: int = 10, num_symbols: int = 10,
              seed: int = 0) -> list[SequencePair]:
    """sequence_task("copy", ...): the target is the source."""
    return sequence_task("copy", n, min_len, max_len, num_symbols, seed)


def reverse_task(n: int, min_len: int = 3, max_len: int = 10, num_symbols: int = 10,
                 seed: int = 0) -> list[SequencePair]:
    """sequence_task("reverse", ...): the target is the source backwards."""
    return sequence_task("reverse", n, min_len, max_len, num_symbols, seed)


def sort_task(n: int, min_len: int = 3, max_len: int = 10, num_symbols: int = 10,
              seed: int = 0) -> list[SequencePair]:
    """sequence_task("sort", ...): the target is the source's symbols in order."""
    return sequence_task("sort", n, min_len, max_len, num_symbols, seed)


def symbol_vocab(num_symbols: int = 10) -> Vocab:
    """The vocabulary of the sequence tasks: the four special tokens, then the symbols."""
    if not 2 <= num_symbols <= len(SYMBOLS):
        raise ValueError(f"num_symbols must be in 2..{len(SYMBOLS)}, got {num_symbols}")
    return Vocab(SYMBOLS[:num_symbols])
