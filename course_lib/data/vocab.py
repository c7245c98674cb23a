"""Token <-> id vocabularies and seq2seq batching.

One `Vocab` class serves both character-level data (dates: tokens are single
characters, so a plain string can be passed wherever a token list is expected)
and word-level data (the toy translation pair: tokens are words).

The special tokens always get the same ids, so that code written for one
vocabulary (masking, decoding) works for every other one:

    <pad> = 0   fills sequences up to the batch's longest; masked out everywhere
    <sos> = 1   the first decoder input ("start of sequence")
    <eos> = 2   the last decoder target; generation stops when it is produced
    <unk> = 3   any token that was not seen when the vocabulary was built
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import torch

from .batching import pad_sequences

__all__ = [
    "PAD", "SOS", "EOS", "UNK", "PAD_ID", "SOS_ID", "EOS_ID", "UNK_ID",
    "SPECIAL_TOKENS", "Vocab", "make_seq2seq_batch",
]

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


class Vocab:
    """A mapping between tokens and integer ids with fixed special tokens.

    Ordinary tokens follow the four specials in sorted order, so the same data
    always gives the same ids, whatever order it was read in.

    >>> v = Vocab.build(["abc", "cab"])          # character level
    >>> v.encode("cab")
    [6, 4, 5, 2]
    >>> "".join(v.decode([6, 4, 5, 2]))
    'cab'
    """

    pad_id = PAD_ID
    sos_id = SOS_ID
    eos_id = EOS_ID
    unk_id = UNK_ID

    def __init__(self, tokens: Iterable[str] = ()):
        """tokens: the ordinary tokens (duplicates and specials are ignored)."""
        ordinary = sorted(set(tokens) - set(SPECIAL_TOKENS))
        for tok in ordinary:
            if not isinstance(tok, str):
                raise TypeError(f"tokens must be strings, got {tok!r} ({type(tok).__name__})")
        self.itos: list[str] = list(SPECIAL_TOKENS) + ordinary
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1) -> "Vocab":
        """A vocabulary of every token that occurs at least `min_freq` times.

        sequences: token lists (or strings, for a character vocabulary).
        Rare tokens left out become <unk>, which keeps the model from
        memorising typos and gives it something to say about unseen words.
        """
        counts = Counter(tok for seq in sequences for tok in seq)
        return cls(tok for tok, c in counts.items() if c >= min_freq)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self.itos[4:12])
        more = ", ..." if len(self.itos) > 12 else ""
        return f"Vocab(size={len(self)}, tokens=[{preview}{more}])"

    def encode(self, tokens: Sequence[str], add_sos: bool = False,
               add_eos: bool = True) -> list[int]:
        """Token ids for `tokens`, unknown tokens mapped to <unk>.

        The defaults suit both encoder inputs and decoder targets: the <eos>
        tells the encoder where the input ends and teaches the decoder when to
        stop. `add_sos` is for decoder inputs built by hand.
        """
        if isinstance(tokens, torch.Tensor):
            raise TypeError("encode expects tokens (strings); did you mean decode?")
        ids = [self.stoi.get(tok, UNK_ID) for tok in tokens]
        if add_sos:
            ids.insert(0, SOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int] | torch.Tensor, strip_special: bool = True) -> list[str]:
        """Tokens for `ids` (a list or a 1-d tensor).

        With strip_special, <pad> and <sos> are dropped and everything from the
        first <eos> on is cut: a decoder keeps producing tokens after it
        finished (in a batch, some sequences end before others), and those are
        not part of its answer. <unk> is kept: it stands for real content.
        """
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise ValueError(f"decode expects a 1-d sequence of ids, got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        out: list[str] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise IndexError(f"id {i} is outside the vocabulary (size {len(self.itos)})")
            if strip_special:
                if i == EOS_ID:
                    break
                if i in (PAD_ID, SOS_ID):
                    continue
            out.append(self.itos[i])
        return out


def make_seq2seq_batch(
    pairs: Sequence[Sequence],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    src_eos: bool = True,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad a list of (source tokens, target tokens) pairs into tensors.

    pairs: (src, tgt) or (src, tgt, anything...) items; src/tgt are token
        lists, or strings for character-level data.
    src_eos: append <eos> to each source, so the encoder sees where it ends.

    Returns
        src:         (B, S) long, right-padded with <pad>
        src_lengths: (B,) long, real source lengths (with the <eos>)
        tgt_in:      (B, T) long, <sos> y1 ... yn, then <pad>
        tgt_out:     (B, T) long, y1 ... yn <eos>, then <pad>

    tgt_in is tgt_out shifted right by one: under teacher forcing the decoder
    reads the true previous token at step t and must predict the token at t.
    """
    if len(pairs) == 0:
        raise ValueError("make_seq2seq_batch needs at least one pair")
    srcs, tgts = [], []
    for k, pair in enumerate(pairs):
        if len(pair) < 2:
            raise ValueError(f"pair {k} should be (source, target), got {pair!r}")
        src = src_vocab.encode(pair[0], add_eos=src_eos)
        if len(src) == 0:
            raise ValueError(f"pair {k} has an empty source; the encoder needs at least one token")
        srcs.append(src)
        tgts.append(tgt_vocab.encode(pair[1], add_eos=False))
    src, src_lengths = pad_sequences(srcs, PAD_ID)
    tgt_in, _ = pad_sequences([[SOS_ID] + t for t in tgts], PAD_ID)
    tgt_out, _ = pad_sequences([t + [EOS_ID] for t in tgts], PAD_ID)
    if device is not None:
        src, src_lengths, tgt_in, tgt_out = (x.to(device) for x in (src, src_lengths, tgt_in, tgt_out))
    return src, src_lengths, tgt_in, tgt_out
