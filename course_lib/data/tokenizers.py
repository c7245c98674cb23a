"""Tokenizers: turn text into integer ids and back.

Chapter 1 works at the character level, so the vocabulary is just the set of
characters in the training text. Chapter 6 adds byte-level BPE (byte-pair
encoding, as in GPT-2): start from the 256 byte values and repeatedly merge
the most frequent adjacent pair into a new token, so frequent words become
single tokens while any text at all can still be written as bytes.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import torch

__all__ = ["CharTokenizer", "BPETokenizer", "count_pairs", "merge", "most_frequent_pair", "SPLIT_PATTERN",
           "read_tokenizer_file"]


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


# ---------------------------------------------------------------------------
# Byte-level BPE
#
# Ids 0..255 are the raw bytes of the UTF-8 encoding; merge number r creates id
# 256 + r from a pair of existing ids. Because every byte has an id, encode()
# never meets an unknown character: text unlike anything seen in training just
# falls back to shorter tokens, down to single bytes.

# Before merging, text is cut into chunks (a word with its leading space, a run
# of digits, of punctuation, or of whitespace) and merges never cross a chunk
# boundary, as in GPT-2. Otherwise frequent word pairs like " said" + "." would
# get tokens of their own and the vocabulary would fill with near-duplicates.
# `[^\W\d_]` is "a letter" in any script (Python's re has no \p{L}).
SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
_FORMAT = "course_lib.byte_bpe"


def count_pairs(ids: Sequence[int], counts: dict[tuple[int, int], int] | None = None,
                weight: int = 1) -> dict[tuple[int, int], int]:
    """How often each adjacent pair occurs in `ids`: {(a, b): count}.

    Pairs overlap: [1, 1, 1] holds the pair (1, 1) twice. Pass `counts` to add
    to an existing dict (it is updated and returned) and `weight` to count each
    pair that many times (a chunk that occurs `weight` times in the text).

    >>> count_pairs([5, 6, 5, 6, 7])
    {(5, 6): 2, (6, 5): 1, (6, 7): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids` by `new_id`, scanning left to right.

    Occurrences do not overlap: merging (1, 1) in [1, 1, 1] gives [new, 1].

    >>> merge([5, 6, 5, 6, 7], (5, 6), 300)
    [300, 300, 7]
    """
    out: list[int] = []
    i, n = 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def most_frequent_pair(counts: dict[tuple[int, int], int]) -> tuple[int, int]:
    """The pair with the highest count; among equal counts, the smallest pair (a, b).

    Breaking ties by the ids themselves, not by which pair was counted first,
    makes training depend only on the counts: the same text always gives the
    same merges, however it was iterated.
    """
    if not counts:
        raise ValueError("no pairs to merge: every sequence has fewer than 2 tokens")
    return min(counts, key=lambda pair: (-counts[pair], pair))


class BPETokenizer:
    """Byte-level BPE: merges learned from a text, then used to encode any text.

    >>> tok = BPETokenizer.train("low lower lowest " * 20, vocab_size=262)
    >>> tok.merges[:3]                      # 'l'+'o', then 'lo'+'w', then ' '+'low'
    [(108, 111), (256, 119), (32, 257)]
    >>> tok.tokens(" lowest"), tok.tokens("slower")
    ([' lowe', 'st'], ['s', 'low', 'e', 'r'])
    >>> tok.decode(tok.encode("slower, héllo! 日本"))   # unseen characters: bytes
    'slower, héllo! 日本'

    merges: list of pairs; merge r turns the pair merges[r] into id 256 + r.
    special_tokens: strings such as "<|endoftext|>" that get the ids after the
        merges. encode() never produces them from text (so a user's text cannot
        inject one); models insert their ids directly; decode() writes them out.
    pattern: the regex that cuts text into chunks before merging (None: no
        cutting, merges may then span spaces and punctuation).
    """

    def __init__(self, merges: Sequence[tuple[int, int]], special_tokens: Sequence[str] = (),
                 pattern: str | None = SPLIT_PATTERN):
        self.merges: list[tuple[int, int]] = []
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]  # id -> the bytes it stands for
        for rank, pair in enumerate(merges):
            pair = tuple(pair)
            new_id = 256 + rank
            if (len(pair) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
                    or not all(0 <= i < new_id for i in pair)):
                raise ValueError(f"merge {rank} is {pair!r}: it must be a pair of ids that exist "
                                 f"before it, i.e. in [0, {new_id})")
            self.merges.append(pair)
            self.vocab.append(self.vocab[pair[0]] + self.vocab[pair[1]])
        self.ranks: dict[tuple[int, int], int] = {pair: rank for rank, pair in enumerate(self.merges)}
        if len(self.ranks) != len(self.merges):
            raise ValueError("the same pair is merged twice")
        specials = list(special_tokens)
        if len(set(specials)) != len(specials) or not all(isinstance(t, str) and t for t in specials):
            raise ValueError(f"special tokens must be distinct non-empty strings, got {specials!r}")
        self.special_tokens: dict[str, int] = {t: len(self.vocab) + i for i, t in enumerate(specials)}
        self.pattern = pattern
        self._split = re.compile(pattern) if pattern is not None else None
        self._cache: dict[str, list[int]] = {}  # chunk -> ids: real text repeats its words a lot

    # ----------------------------------------------------------------- training

    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens: Sequence[str] = (),
              pattern: str | None = SPLIT_PATTERN) -> "BPETokenizer":
        """Learn vocab_size - 256 - len(special_tokens) merges from `text`.

        Each step counts the adjacent pairs over the whole text, merges the most
        frequent one (ties: the smallest pair, see most_frequent_pair) into a
        new id, and repeats. Stops early, with a smaller vocabulary, if every
        chunk has become a single token.
        """
        if not isinstance(text, str) or not text:
            raise ValueError("BPETokenizer.train needs a non-empty string")
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size must be at least 256 (the bytes) + {len(special_tokens)} "
                             f"(special tokens), got {vocab_size}")
        # Count each distinct chunk once, with its frequency: far fewer
        # sequences to scan than the text has chunks.
        chunks = Counter(re.findall(pattern, text)) if pattern is not None else Counter([text])
        words = [list(chunk.encode("utf-8")) for chunk in chunks]
        freqs = list(chunks.values())
        merges: list[tuple[int, int]] = []
        for rank in range(num_merges):
            counts: dict[tuple[int, int], int] = {}
            for ids, freq in zip(words, freqs):
                count_pairs(ids, counts, weight=freq)
            if not counts:
                break
            pair = most_frequent_pair(counts)
            new_id = 256 + rank
            words = [merge(ids, pair, new_id) if len(ids) > 1 else ids for ids in words]
            merges.append(pair)
        return cls(merges, special_tokens, pattern)

    # ----------------------------------------------------------------- using it

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def __len__(self) -> int:
        return self.vocab_size

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        ids = list(chunk.encode("utf-8"))
        # Apply the merges in the order they were learned: always the
        # earliest-learned pair present next. This gives exactly the tokens
        # training produced for the same chunk.
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            rank = self.ranks.get(pair)
            if rank is None:
                break  # no learned pair left in this chunk
            ids = merge(ids, pair, 256 + rank)
        if len(self._cache) < 100_000:
            self._cache[chunk] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """str -> list of ids. Works for any text: unseen characters become bytes."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        chunks = self._split.findall(text) if self._split is not None else [text]
        out: list[int] = []
        for chunk in chunks:
            out.extend(self._encode_chunk(chunk))
        return out

    def _token_bytes(self, i: int) -> bytes:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"ids must be ints, got {i!r}")
        if 0 <= i < len(self.vocab):
            return self.vocab[i]
        for token, special_id in self.special_tokens.items():
            if i == special_id:
                return token.encode("utf-8")
        raise ValueError(f"id {i} is outside the vocabulary [0, {self.vocab_size})")

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """ids (list of ints or a 1-D tensor) -> str.

        The bytes are joined before decoding, so a character split over several
        tokens comes back whole. A sequence that ends in the middle of a
        character (as a model's sample can) gets the replacement character.
        """
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode expects a 1-D tensor of ids, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        return b"".join(self._token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """The text of each token of encode(text), to see how a text is cut."""
        return [self._token_bytes(i).decode("utf-8", errors="replace") for i in self.encode(text)]

    # ----------------------------------------------------------------- files (JSON, never pickle)

    def to_dict(self) -> dict:
        return {"format": _FORMAT, "version": 1, "pattern": self.pattern,
                "merges": [list(pair) for pair in self.merges],
                "special_tokens": list(self.special_tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> "BPETokenizer":
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"not a course_lib BPE tokenizer (expected \"format\": \"{_FORMAT}\")")
        if data.get("version") != 1:
            raise ValueError(f"unsupported tokenizer file version {data.get('version')!r} (this code reads 1)")
        return cls([tuple(pair) for pair in data["merges"]], data.get("special_tokens", ()), data["pattern"])

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as JSON (merges, special tokens, split pattern)."""
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BPETokenizer":
        return cls.from_dict(read_tokenizer_file(path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BPETokenizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")


def read_tokenizer_file(path: str | os.PathLike):
    """The JSON a tokenizer's save() wrote (never pickle); a file that is not JSON is refused."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{os.fspath(path)!r} is not a JSON tokenizer file: {err}") from None
