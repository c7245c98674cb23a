"""Batches for language models and padded batches of variable-length sequences."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch

__all__ = ["random_lm_batch", "sequential_lm_batches", "pad_sequences"]


def _check_lm_data(data: torch.Tensor, block_size: int) -> None:
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a 1-D tensor of token ids, got {shape}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if len(data) < block_size + 1:
        raise ValueError(
            f"data has {len(data)} tokens, too short for block_size={block_size}: "
            f"need at least block_size + 1 = {block_size + 1} (inputs plus the shifted targets)"
        )


def random_lm_batch(
    data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the token stream for next-token prediction.

    data: (N,) token ids. Returns x, y: (batch_size, block_size), with
    y[b, t] = x[b, t + 1], i.e. the target of each position is the next token.
    Pass a seeded `generator` (a CPU torch.Generator) for reproducible batches.
    """
    _check_lm_data(data, block_size)
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    # unfold is a view of all windows of length block_size + 1: one gather, no Python loop
    windows = data.unfold(0, block_size + 1, 1)[starts.to(data.device)]
    return windows[:, :-1], windows[:, 1:]


def sequential_lm_batches(
    data: torch.Tensor, batch_size: int, block_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """All non-overlapping windows of the stream, in order, for evaluation.

    data: (N,). Yields x, y: (b, block_size) with b = batch_size except possibly
    in the last batch. Every token after the first is a target exactly once,
    except a final partial window shorter than block_size, which is dropped.
    """
    _check_lm_data(data, block_size)  # checked now, not at the first next()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    num_windows = (len(data) - 1) // block_size
    inputs = data[: num_windows * block_size].reshape(num_windows, block_size)
    targets = data[1 : num_windows * block_size + 1].reshape(num_windows, block_size)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(0, num_windows, batch_size):
            yield inputs[i : i + batch_size], targets[i : i + batch_size]

    return batches()


def pad_sequences(
    seqs: Sequence[Sequence[int] | torch.Tensor], pad_id: int, batch_first: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences of different lengths, filling the tail of short ones with pad_id.

    Returns padded: (B, T_max) if batch_first else (T_max, B), dtype long, and
    lengths: (B,) the true length of each sequence.
    """
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    tensors = [torch.as_tensor(s, dtype=torch.long) for s in seqs]
    for i, t in enumerate(tensors):
        if t.dim() != 1:
            raise ValueError(f"sequence {i} has shape {tuple(t.shape)}; each sequence must be 1-D")
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    padded = torch.full((len(tensors), int(lengths.max())), pad_id, dtype=torch.long)
    for i, t in enumerate(tensors):
        padded[i, : len(t)] = t
    return (padded if batch_first else padded.T.contiguous()), lengths
