"""Tokenizers: turn text into integer ids and back.

Chapter 1 works at the character level, so the vocabulary is just the set of
characters in the training text. Word and BPE tokenizers join this module in
later chapters.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an id in [0, vocab_size).

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.itos
    ['e', 'h', 'l', 'o']
    >>> tok.encode("hole")
    [1, 3, 2, 0]
    >>> tok.decode([1, 0, 2, 2, 3])
    'hello'
    """

    def __init__(self, vocab: Iterable[str]):
        itos = list(vocab)
        bad = [ch for ch in itos if not isinstance(ch, str) or len(ch) != 1]
        if bad:
            raise ValueError(f"vocab must hold single characters; got {bad[:5]!r}")
        duplicates = sorted({ch for ch in itos if itos.count(ch) > 1})
        if duplicates:
            raise ValueError(f"vocab has duplicate characters: {duplicates!r}")
        if not itos:
            raise ValueError("vocab is empty")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(itos)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """Vocabulary = the distinct characters of `text`, sorted.

        Sorting makes the ids depend only on the set of characters, not on the
        order they first appear, so the same corpus always gives the same ids.
        """
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """str of length T -> list of T ids."""
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError:
            unknown = sorted({ch for ch in text if ch not in self.stoi})
            raise ValueError(
                f"text contains {len(unknown)} character(s) not in the vocabulary: "
                f"{''.join(unknown)!r} ({', '.join(repr(c) for c in unknown[:10])}). "
                "Build the tokenizer from text that includes them, or remove them first."
            ) from None

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """ids: list of ints or a 1-D tensor -> str."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode expects a 1-D tensor of ids, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is outside the vocabulary [0, {len(self.itos)})")
            out.append(self.itos[i])
        return "".join(out)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, vocab={''.join(self.itos)!r})"
