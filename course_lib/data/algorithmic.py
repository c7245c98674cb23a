"""Synthetic tasks whose difficulty is known exactly, to isolate one ability of a model."""
from __future__ import annotations

import torch

__all__ = ["long_range_recall_task"]


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
