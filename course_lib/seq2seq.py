"""Encoder-decoder models with GRUs: chapter 2 (seq2seq) and chapter 3 (attention).

Chapter 2: `Encoder` reads the source into one vector per layer (its last
hidden state); `Decoder` starts from that vector and writes the target one
token at a time. `Seq2Seq` joins them. Everything the decoder knows about the
source has to squeeze through that fixed-size vector: the bottleneck.

Chapter 3: `AttentionDecoder` looks back at *all* encoder states at every
step. Its previous hidden state is the query, the encoder states are keys and
values, and the weighted average of the values (the context) is fed into the
GRU with the previous token. `Seq2SeqAttention` joins it with the same
`Encoder` and can return the attention weights for heatmaps.

Shapes: B batch, S source length, T target length, E embedding size,
H hidden size, L GRU layers, V vocabulary size. Padding id is 0 (see
course_lib.data.vocab). All tensors are batch first.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab, make_seq2seq_batch
from .decoding import greedy_decode

__all__ = [
    "length_mask", "masked_cross_entropy",
    "Encoder", "Decoder", "Seq2Seq",
    "attention_context", "AdditiveAttention", "DotAttention", "GeneralAttention",
    "AttentionDecoder", "AttentionState", "Seq2SeqAttention",
    "predict", "evaluate_exact_match",
]


# ---------------------------------------------------------------------------
# Masks and loss
# ---------------------------------------------------------------------------

def length_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B, max_len) bool, True at real positions: mask[b, s] = s < lengths[b].

    True means "may attend / counts", the convention of
    torch.nn.functional.scaled_dot_product_attention used across the course.
    """
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """Mean cross-entropy over the real (non-pad) target tokens.

    logits:  (B, T, V) unnormalised scores
    targets: (B, T) long, pad_id where there is no token
    Returns a scalar.

    Averaging over real tokens, not over B*T, keeps the loss of a sentence
    from depending on how long the other sentences in its batch were.
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"expected logits (B, T, V) and targets (B, T); got logits "
                         f"{tuple(logits.shape)} and targets {tuple(targets.shape)}")
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                targets.reshape(-1), reduction="none")
    mask = (targets.reshape(-1) != pad_id).float()
    # clamp: a batch of pure padding gives 0, not 0/0
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


def _check_src(src: torch.Tensor, src_lengths: torch.Tensor | None) -> torch.Tensor:
    if src.dim() != 2:
        raise ValueError(f"src must be (batch, src_len) token ids, got shape {tuple(src.shape)}")
    if src_lengths is None:
        return torch.full((src.shape[0],), src.shape[1], dtype=torch.long)
    if src_lengths.shape != (src.shape[0],):
        raise ValueError(f"src_lengths must be ({src.shape[0]},), got {tuple(src_lengths.shape)}")
    if src_lengths.numel() and (int(src_lengths.min()) < 1 or int(src_lengths.max()) > src.shape[1]):
        raise ValueError(f"src_lengths must lie in 1..{src.shape[1]} (the padded length), "
                         f"got {src_lengths.tolist()}")
    return src_lengths


# ---------------------------------------------------------------------------
# Chapter 2: encoder, decoder, seq2seq
# ---------------------------------------------------------------------------

class Encoder(nn.Module):
    """Embedding + GRU over the source.

    Padded positions are skipped with a packed sequence, so the final hidden
    state of each sequence is the one after its last real token, and the
    padding cannot change anything.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int,
                 num_layers: int = 1, dropout: float = 0.0, pad_id: int = PAD_ID):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(emb_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        src:         (B, S) long
        src_lengths: (B,) long, real lengths; None means no padding
        Returns
            outputs: (B, S, H) top-layer state at every position, zeros at padding
            hidden:  (L, B, H) state after each sequence's last real token
        """
        src_lengths = _check_src(src, src_lengths)
        emb = self.dropout(self.embedding(src))
        # pack_padded_sequence wants lengths on the CPU, whatever the device
        packed = pack_padded_sequence(emb, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, hidden = self.rnn(packed)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.shape[1])
        return outputs, hidden


class Decoder(nn.Module):
    """Embedding + GRU + linear output layer; starts from the encoder's last state."""

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int,
                 num_layers: int = 1, dropout: float = 0.0, pad_id: int = PAD_ID):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(emb_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def step(self, token: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step.

        token:  (B,) long, the previous output token (<sos> first)
        hidden: (L, B, H)
        Returns logits (B, V) for the next token and the new hidden (L, B, H).
        """
        emb = self.dropout(self.embedding(token)).unsqueeze(1)   # (B, 1, E)
        output, hidden = self.rnn(emb, hidden)                  # (B, 1, H)
        return self.out(output.squeeze(1)), hidden

    def forward(self, tgt_in: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """All steps at once under teacher forcing.

        tgt_in: (B, T) long, <sos> followed by the target shifted right
        hidden: (L, B, H) initial state (the encoder's final state)
        Returns logits (B, T, V) and the final hidden (L, B, H).

        Equal to calling `step` T times on tgt_in[:, t]; one GRU call over the
        whole sequence is just much faster, which teacher forcing allows
        because every input token is known in advance.
        """
        emb = self.dropout(self.embedding(tgt_in))
        output, hidden = self.rnn(emb, hidden)
        return self.out(output), hidden


def _check_hidden_sizes(encoder: nn.Module, decoder: nn.Module) -> None:
    for name in ("hidden_dim", "num_layers"):
        e, d = getattr(encoder, name, None), getattr(decoder, name, None)
        if e is not None and d is not None and e != d:
            raise ValueError(f"the decoder starts from the encoder's final state, so their "
                             f"{name} must match (encoder {e}, decoder {d})")


class Seq2Seq(nn.Module):
    """Encoder-decoder without attention (Sutskever et al. 2014; Cho et al. 2014)."""

    def __init__(self, encoder: Encoder, decoder: Decoder):
        super().__init__()
        _check_hidden_sizes(encoder, decoder)
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def create(cls, src_vocab_size: int, tgt_vocab_size: int, emb_dim: int = 32,
               hidden_dim: int = 128, num_layers: int = 1, dropout: float = 0.0,
               pad_id: int = PAD_ID) -> "Seq2Seq":
        """Build encoder and decoder with matching sizes."""
        return cls(Encoder(src_vocab_size, emb_dim, hidden_dim, num_layers, dropout, pad_id),
                   Decoder(tgt_vocab_size, emb_dim, hidden_dim, num_layers, dropout, pad_id))

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor | None,
                tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing. src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V)."""
        _, hidden = self.encoder(src, src_lengths)
        logits, _ = self.decoder(tgt_in, hidden)
        return logits

    # The decoding interface of course_lib.decoding: a state whose dim 0 is
    # the batch, so beam search can reorder it without knowing the model.
    def start_state(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Encode; returns the decoder's initial state, (B, L, H) (batch first)."""
        _, hidden = self.encoder(src, src_lengths)
        return hidden.transpose(0, 1)

    def step(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B,), state (B, L, H) -> logits (B, V), state (B, L, H)."""
        logits, hidden = self.decoder.step(tokens, state.transpose(0, 1).contiguous())
        return logits, hidden.transpose(0, 1)

    @torch.no_grad()
    def generate(self, src: torch.Tensor, src_lengths: torch.Tensor | None, max_len: int,
                 sos_id: int = SOS_ID, eos_id: int = EOS_ID) -> torch.Tensor:
        """Greedy decoding: (B, T <= max_len) token ids, each row ending in <eos> then <pad>."""
        return greedy_decode(self.step, self.start_state(src, src_lengths), sos_id, eos_id,
                             max_len, batch_size=src.shape[0], device=src.device)


# The two pieces chapter 2's exercises write, as functions of injected modules
# (the reference answers; Encoder.forward and Decoder.step do the same, plus dropout).

def encode(src: torch.Tensor, src_lengths: torch.Tensor, embedding: nn.Embedding,
           gru: nn.GRU) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed a padded batch and run a batch-first GRU over the real tokens only.

    src (B, S) long, src_lengths (B,) -> outputs (B, S, H) (zeros at padding)
    and hidden (L, B, H), the state after each sequence's last real token.
    """
    packed = pack_padded_sequence(embedding(src), src_lengths.cpu(), batch_first=True,
                                  enforce_sorted=False)
    packed_out, hidden = gru(packed)
    outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.shape[1])
    return outputs, hidden


def decoder_step(token: torch.Tensor, hidden: torch.Tensor, embedding: nn.Embedding, gru: nn.GRU,
                 out: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """token (B,), hidden (L, B, H) -> logits (B, V) for the next token, new hidden (L, B, H)."""
    output, hidden = gru(embedding(token).unsqueeze(1), hidden)   # a sequence of length 1
    return out(output[:, 0]), hidden


__all__ += ["encode", "decoder_step"]


# ---------------------------------------------------------------------------
# Chapter 3: attention
# ---------------------------------------------------------------------------

def attention_context(scores: torch.Tensor, values: torch.Tensor,
                      src_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax the scores over the source and average the values with them.

    scores:   (B, S) one score per source position
    values:   (B, S, Dv)
    src_mask: (B, S) bool, True at real positions; None means no padding
    Returns context (B, Dv) and weights (B, S), which sum to 1 over S and are
    exactly 0 on padding.

    Padding gets -inf before the softmax (not after): zeroing weights after
    the softmax would leave the real ones summing to less than 1.
    """
    if scores.dim() != 2 or values.dim() != 3 or values.shape[:2] != scores.shape:
        raise ValueError(f"expected scores (B, S) and values (B, S, Dv); got scores "
                         f"{tuple(scores.shape)} and values {tuple(values.shape)}")
    if src_mask is not None:
        if src_mask.shape != scores.shape:
            raise ValueError(f"src_mask must have the shape of scores {tuple(scores.shape)}, "
                             f"got {tuple(src_mask.shape)}")
        scores = scores.masked_fill(~src_mask.bool(), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)   # (B, 1, S) @ (B, S, Dv)
    return context, weights


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): score(q, k) = v^T tanh(W_q q + W_k k).

    A small one-hidden-layer network judges how well each key fits the query;
    query and keys may have different sizes.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_q = nn.Linear(query_dim, attn_dim, bias=False)
        self.W_k = nn.Linear(key_dim, attn_dim, bias=False)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def prepare_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """(B, S, Dk) -> (B, S, A). The keys are the same at every decoder step,
        so W_k k is computed once per sentence instead of once per step."""
        return self.W_k(keys)

    def score(self, query: torch.Tensor, prepared_keys: torch.Tensor) -> torch.Tensor:
        """query (B, Dq), prepared_keys (B, S, A) -> scores (B, S)."""
        return self.v(torch.tanh(self.W_q(query).unsqueeze(1) + prepared_keys)).squeeze(-1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, Dq), keys (B, S, Dk) -> scores (B, S)."""
        return self.score(query, self.prepare_keys(keys))


class DotAttention(nn.Module):
    """Luong et al. (2015) "dot": score(q, k) = q . k. No parameters; needs Dq == Dk."""

    def prepare_keys(self, keys: torch.Tensor) -> torch.Tensor:
        return keys

    def score(self, query: torch.Tensor, prepared_keys: torch.Tensor) -> torch.Tensor:
        if query.shape[-1] != prepared_keys.shape[-1]:
            raise ValueError(f"dot attention needs queries and keys of the same size, got "
                             f"{query.shape[-1]} and {prepared_keys.shape[-1]}")
        return torch.bmm(prepared_keys, query.unsqueeze(-1)).squeeze(-1)   # (B, S, D) @ (B, D, 1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, D), keys (B, S, D) -> scores (B, S)."""
        return self.score(query, keys)


class GeneralAttention(nn.Module):
    """Luong et al. (2015) "general": score(q, k) = q^T W k.

    A learned bilinear form: like dot attention, but the model chooses which
    directions of the two spaces should match, and the sizes may differ.
    """

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.W = nn.Linear(key_dim, query_dim, bias=False)

    def prepare_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """(B, S, Dk) -> W k, (B, S, Dq); done once per sentence."""
        return self.W(keys)

    def score(self, query: torch.Tensor, prepared_keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(prepared_keys, query.unsqueeze(-1)).squeeze(-1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, Dq), keys (B, S, Dk) -> scores (B, S)."""
        return self.score(query, self.prepare_keys(keys))


def _make_attention(kind: str, query_dim: int, key_dim: int, attn_dim: int) -> nn.Module:
    if kind == "additive":
        return AdditiveAttention(query_dim, key_dim, attn_dim)
    if kind == "dot":
        if query_dim != key_dim:
            raise ValueError(f"dot attention needs decoder hidden size == encoder size, "
                             f"got {query_dim} and {key_dim}")
        return DotAttention()
    if kind == "general":
        return GeneralAttention(query_dim, key_dim)
    raise ValueError(f"unknown attention {kind!r}; choose 'additive', 'dot' or 'general'")


class AttentionDecoder(nn.Module):
    """GRU decoder that reads a fresh context vector from the encoder at every step.

    Step t: query = previous hidden state s_{t-1} (top layer); scores against
    the encoder states; context c_t = weighted average of the encoder states;
    GRU input = [embedding(y_{t-1}); c_t]; logits from [GRU output; c_t].
    Feeding c_t to the output layer as well lets a step that copies a source
    token use what it just read directly, without routing it through the GRU.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_dim: int,
                 attention: nn.Module | str = "additive", enc_dim: int | None = None,
                 num_layers: int = 1, dropout: float = 0.0, pad_id: int = PAD_ID,
                 attn_dim: int | None = None):
        """attention: a module, or "additive" / "dot" / "general" to build one.
        A module needs forward(query (B, Dq), keys (B, S, Dk)) -> scores (B, S);
        if it also has prepare_keys/score (like the classes above), the key
        projection is computed once per sentence."""
        super().__init__()
        enc_dim = hidden_dim if enc_dim is None else enc_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.enc_dim = enc_dim
        if isinstance(attention, str):
            attention = _make_attention(attention, hidden_dim, enc_dim, attn_dim or hidden_dim)
        self.attention = attention
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(emb_dim + enc_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.out = nn.Linear(hidden_dim + enc_dim, vocab_size)

    def prepare_keys(self, enc_outputs: torch.Tensor) -> torch.Tensor:
        """Whatever the attention can precompute from the encoder states (B, S, ...)."""
        prepare = getattr(self.attention, "prepare_keys", None)
        return prepare(enc_outputs) if prepare is not None else enc_outputs

    def _scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        score = getattr(self.attention, "score", None)
        return score(query, keys) if score is not None else self.attention(query, keys)

    def step(self, token: torch.Tensor, hidden: torch.Tensor, enc_outputs: torch.Tensor,
             src_mask: torch.Tensor | None, keys: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step.

        token:       (B,) long, previous output token
        hidden:      (L, B, H) previous decoder state
        enc_outputs: (B, S, He) encoder states, the keys and values
        src_mask:    (B, S) bool, True at real source positions
        keys:        prepare_keys(enc_outputs), to skip recomputing it each step
        Returns logits (B, V), new hidden (L, B, H), attention weights (B, S).
        """
        if keys is None:
            keys = self.prepare_keys(enc_outputs)
        # the previous state is what the decoder knows before choosing the
        # next word, so it is the natural question to ask of the source
        query = hidden[-1]
        context, weights = attention_context(self._scores(query, keys), enc_outputs, src_mask)
        emb = self.dropout(self.embedding(token))
        output, hidden = self.rnn(torch.cat([emb, context], dim=-1).unsqueeze(1), hidden)
        logits = self.out(torch.cat([output.squeeze(1), context], dim=-1))
        return logits, hidden, weights

    def forward(self, tgt_in: torch.Tensor, hidden: torch.Tensor, enc_outputs: torch.Tensor,
                src_mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher forcing, step by step (each query depends on the previous step).

        tgt_in (B, T), hidden (L, B, H), enc_outputs (B, S, He), src_mask (B, S)
        Returns logits (B, T, V), final hidden (L, B, H), weights (B, T, S).
        """
        keys = self.prepare_keys(enc_outputs)
        all_logits, all_weights = [], []
        for t in range(tgt_in.shape[1]):
            logits, hidden, weights = self.step(tgt_in[:, t], hidden, enc_outputs, src_mask, keys)
            all_logits.append(logits)
            all_weights.append(weights)
        return torch.stack(all_logits, 1), hidden, torch.stack(all_weights, 1)


class AttentionState(NamedTuple):
    """Decoding state of Seq2SeqAttention; every field is batch first."""
    hidden: torch.Tensor       # (B, L, H)
    enc_outputs: torch.Tensor  # (B, S, He)
    keys: torch.Tensor         # (B, S, ...) precomputed key projection
    src_mask: torch.Tensor     # (B, S) bool


class Seq2SeqAttention(nn.Module):
    """Encoder-decoder with attention (Bahdanau et al. 2015, Luong et al. 2015)."""

    def __init__(self, encoder: Encoder, decoder: AttentionDecoder):
        super().__init__()
        _check_hidden_sizes(encoder, decoder)
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def create(cls, src_vocab_size: int, tgt_vocab_size: int, emb_dim: int = 32,
               hidden_dim: int = 128, attention: str = "additive", num_layers: int = 1,
               dropout: float = 0.0, pad_id: int = PAD_ID,
               attn_dim: int | None = None) -> "Seq2SeqAttention":
        """Build encoder and attention decoder with matching sizes."""
        enc = Encoder(src_vocab_size, emb_dim, hidden_dim, num_layers, dropout, pad_id)
        dec = AttentionDecoder(tgt_vocab_size, emb_dim, hidden_dim, attention, hidden_dim,
                               num_layers, dropout, pad_id, attn_dim)
        return cls(enc, dec)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor | None, tgt_in: torch.Tensor,
                return_attention: bool = False):
        """Teacher forcing. src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V),
        or (logits, weights (B, T, S)) with return_attention. Same call as Seq2Seq,
        so one training loop serves both."""
        enc_outputs, hidden = self.encoder(src, src_lengths)
        mask = length_mask(_check_src(src, src_lengths).to(src.device), src.shape[1])
        logits, _, weights = self.decoder(tgt_in, hidden, enc_outputs, mask)
        return (logits, weights) if return_attention else logits

    def start_state(self, src: torch.Tensor, src_lengths: torch.Tensor | None = None) -> AttentionState:
        enc_outputs, hidden = self.encoder(src, src_lengths)
        mask = length_mask(_check_src(src, src_lengths).to(src.device), src.shape[1])
        return AttentionState(hidden.transpose(0, 1), enc_outputs,
                              self.decoder.prepare_keys(enc_outputs), mask)

    def step_with_attention(self, tokens: torch.Tensor, state: AttentionState
                            ) -> tuple[torch.Tensor, AttentionState, torch.Tensor]:
        """tokens (B,) -> logits (B, V), new state, weights (B, S)."""
        logits, hidden, weights = self.decoder.step(
            tokens, state.hidden.transpose(0, 1).contiguous(), state.enc_outputs,
            state.src_mask, state.keys)
        return logits, state._replace(hidden=hidden.transpose(0, 1)), weights

    def step(self, tokens: torch.Tensor, state: AttentionState) -> tuple[torch.Tensor, AttentionState]:
        """The course_lib.decoding interface: tokens (B,) -> logits (B, V), state."""
        logits, state, _ = self.step_with_attention(tokens, state)
        return logits, state

    @torch.no_grad()
    def generate(self, src: torch.Tensor, src_lengths: torch.Tensor | None, max_len: int,
                 sos_id: int = SOS_ID, eos_id: int = EOS_ID, return_attention: bool = False):
        """Greedy decoding: tokens (B, T <= max_len), and with return_attention the
        weights (B, T, S) each output step put on the source (for heatmaps)."""
        recorded: list[torch.Tensor] = []

        def step_fn(tokens, state):
            logits, state, weights = self.step_with_attention(tokens, state)
            recorded.append(weights)
            return logits, state

        tokens = greedy_decode(step_fn, self.start_state(src, src_lengths), sos_id, eos_id,
                               max_len, batch_size=src.shape[0], device=src.device)
        if not return_attention:
            return tokens
        weights = (torch.stack(recorded, 1) if recorded
                   else src.new_zeros(src.shape[0], 0, src.shape[1], dtype=torch.float))
        return tokens, weights


# ---------------------------------------------------------------------------
# Evaluation helpers shared by chapters 2 and 3
# ---------------------------------------------------------------------------

def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, sources: Sequence[Sequence[str]], src_vocab: Vocab,
            tgt_vocab: Vocab, max_len: int, batch_size: int = 512) -> list[list[str]]:
    """Greedy outputs of `model` (anything with .generate(src, lengths, max_len))
    for a list of sources (token lists or strings), as token lists."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    out: list[list[str]] = []
    try:
        for i in range(0, len(sources), batch_size):
            chunk = [(s, ()) for s in sources[i:i + batch_size]]
            src, lengths, _, _ = make_seq2seq_batch(chunk, src_vocab, tgt_vocab, device=device)
            ids = model.generate(src, lengths, max_len)
            out.extend(tgt_vocab.decode(row) for row in ids.cpu())
    finally:
        model.train(was_training)
    return out


def evaluate_exact_match(model: nn.Module, pairs: Sequence[Sequence], src_vocab: Vocab,
                         tgt_vocab: Vocab, max_len: int | None = None,
                         batch_size: int = 512) -> float:
    """Fraction of pairs whose greedy output equals the target exactly.

    max_len defaults to the longest target + 2, so that an output that runs
    on past its target is generated far enough to be counted wrong.
    """
    if len(pairs) == 0:
        raise ValueError("evaluate_exact_match needs at least one pair")
    if max_len is None:
        max_len = max(len(p[1]) for p in pairs) + 2
    preds = predict(model, [p[0] for p in pairs], src_vocab, tgt_vocab, max_len, batch_size)
    return sum(list(pred) == list(p[1]) for pred, p in zip(preds, pairs)) / len(pairs)
