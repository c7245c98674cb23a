"""BERT's word-level tokenizer, and the padded batches BERT reads (chapters 7 and 8).

Beside chapter 1's characters and chapter 6's bytes (course_lib/data/tokenizers.py):
whole words, plus the special tokens a BERT input is built from. A batch is a
dict of (batch, seq) tensors, "input_ids", "token_type_ids" (which sentence of
a pair) and "attention_mask" (1 = real token, 0 = padding), as HuggingFace's.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import Tensor

from .tokenizers import read_tokenizer_file

__all__ = ["PAD", "CLS", "SEP", "MASK", "UNK", "SPECIAL_TOKENS", "BertTokenizer", "pad_batch", "trim_padding"]


PAD, CLS, SEP, MASK, UNK = "[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"
SPECIAL_TOKENS = (PAD, CLS, SEP, MASK, UNK)


class BertTokenizer:
    """Word-level tokenizer with BERT's special tokens at fixed ids.

    [PAD]=0 fills batches, [CLS]=1 starts every input (its final vector is what
    the classifier reads), [SEP]=2 ends each segment, [MASK]=3 hides the words to
    predict, [UNK]=4 stands for words not in the vocabulary. Text is lower-cased
    and split into words and punctuation ("didn't" -> "didn", "'t").

    (Real BERT splits rare words into WordPiece sub-words; on the course's
    generated text every word is frequent, so whole words are enough.)
    """

    pad_id, cls_id, sep_id, mask_id, unk_id = range(5)
    # special tokens written in the text ("anna [MASK] .") stay whole
    _pattern = re.compile(r"\[(?:pad|cls|sep|mask|unk)\]|[a-z]+|'[a-z]+|[^\sa-z]")

    def __init__(self, words: Iterable[str]):
        ordinary = sorted(set(words) - set(SPECIAL_TOKENS))
        self.itos: list[str] = list(SPECIAL_TOKENS) + ordinary
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def tokenize(cls, text: str) -> list[str]:
        return [w.upper() if w.startswith("[") and len(w) > 1 else w for w in cls._pattern.findall(text.lower())]

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1) -> "BertTokenizer":
        """Vocabulary of the words occurring at least `min_freq` times in `texts`, sorted."""
        counts: dict[str, int] = {}
        for text in texts:
            for w in cls.tokenize(text):
                counts[w] = counts.get(w, 0) + 1  # (specials are dropped by __init__)
        return cls(w for w, c in counts.items() if c >= min_freq)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def special_ids(self) -> list[int]:
        return [self.stoi[t] for t in SPECIAL_TOKENS]

    def encode(self, text_a: str, text_b: str | None = None) -> tuple[list[int], list[int]]:
        """[CLS] a [SEP] (b [SEP]) -> (ids, token_type_ids), segment 0 for a, 1 for b."""
        a = [self.stoi.get(w, self.unk_id) for w in self.tokenize(text_a)]
        ids = [self.cls_id] + a + [self.sep_id]
        types = [0] * len(ids)
        if text_b is not None:
            b = [self.stoi.get(w, self.unk_id) for w in self.tokenize(text_b)]
            ids += b + [self.sep_id]
            types += [1] * (len(b) + 1)
        return ids, types

    def decode(self, ids: Sequence[int] | Tensor, skip_special: bool = False) -> str:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        words = [self.itos[i] for i in ids if not (skip_special and i in (self.pad_id, self.cls_id, self.sep_id))]
        return " ".join(words)

    def batch(self, texts_a: Sequence[str], texts_b: Sequence[str] | None = None,
              max_len: int | None = None) -> dict[str, Tensor]:
        """Encode and right-pad: {"input_ids", "token_type_ids", "attention_mask"}, each (batch, seq).

        Inputs longer than max_len are cut (keeping [CLS] at the front).
        """
        pairs = [self.encode(a, None if texts_b is None else texts_b[i]) for i, a in enumerate(texts_a)]
        if max_len is not None:
            pairs = [(ids[:max_len], types[:max_len]) for ids, types in pairs]
        return pad_batch([p[0] for p in pairs], [p[1] for p in pairs], self.pad_id)

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (never pickle): {"kind": "word", "vocab": [...]}."""
        Path(path).write_text(json.dumps({"kind": "word", "vocab": self.itos}, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BertTokenizer":
        data = read_tokenizer_file(path)
        if not isinstance(data, dict) or data.get("kind") != "word" or not isinstance(data.get("vocab"), list):
            raise ValueError(f"{os.fspath(path)!r} was not written by BertTokenizer.save")
        tokenizer = cls(data["vocab"])
        if tokenizer.itos != data["vocab"]:
            raise ValueError(f"{os.fspath(path)!r}: the vocabulary is not in BertTokenizer's order "
                             "(special tokens first, then the words sorted)")
        return tokenizer

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BertTokenizer) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"BertTokenizer(vocab_size={len(self)}, words={self.itos[5:10]}...)"


def pad_batch(ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]], pad_id: int) -> dict[str, Tensor]:
    """Right-pad encoded inputs into {"input_ids", "token_type_ids", "attention_mask"}, each (batch, seq)."""
    seq = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), seq), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((len(ids), seq), dtype=torch.long)
    attention_mask = torch.zeros((len(ids), seq), dtype=torch.long)
    for i, (x, t) in enumerate(zip(ids, types)):
        input_ids[i, : len(x)] = torch.tensor(x)
        token_type_ids[i, : len(t)] = torch.tensor(t)
        attention_mask[i, : len(x)] = 1
    return {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask}


def trim_padding(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the columns that are padding in every row (shorter batches, faster steps)."""
    seq = int(batch["attention_mask"].sum(1).max())
    return {k: v[:, :seq] for k, v in batch.items()}
