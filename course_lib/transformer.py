"""The encoder-decoder Transformer of Vaswani et al., "Attention Is All You Need" (chapter 5).

Read top to bottom: positions, LayerNorm, the feed-forward block, encoder and
decoder layers, the stacks, the full model, then the training pieces (label
smoothing) and a helper that collects attention maps. The paper's warm-up
schedule is with the course's other schedules in course_lib/training.py, and
importable from here.

Conventions: batch first, ``(batch, seq, d_model)``; masks are boolean with
True = may attend (see ``course_lib.attention``). Every layer is post-LN,
``LayerNorm(x + Sublayer(x))`` as in the paper, unless ``norm_first=True``
(pre-LN, ``x + Sublayer(LayerNorm(x))``), which trains more stably when deep.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn

from course_lib.attention import MultiHeadAttention, causal_mask, padding_mask
from course_lib.data.vocab import EOS_ID, PAD_ID, SOS_ID
from course_lib.decoding import greedy_decode
from course_lib.training import warmup_inverse_sqrt_lr, warmup_inverse_sqrt_scheduler

__all__ = [
    "positional_encoding",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "LayerNorm",
    "PositionwiseFeedForward",
    "EncoderLayer",
    "DecoderLayer",
    "Encoder",
    "Decoder",
    "Transformer",
    "TransformerState",
    "attention_maps",
    "warmup_inverse_sqrt_lr",
    "warmup_inverse_sqrt_scheduler",
    "label_smoothed_cross_entropy",
    "LabelSmoothingLoss",
]


# --------------------------------------------------------------------------- positions


def positional_encoding(max_len: int, d_model: int, base: float = 10000.0) -> Tensor:
    """Sinusoidal position codes, (max_len, d_model).

    PE[pos, 2i] = sin(pos / base^(2i/d_model)),  PE[pos, 2i+1] = cos(pos / base^(2i/d_model)).
    Each sin/cos pair is a clock at its own frequency, so PE[pos + k] is a fixed
    rotation of PE[pos]: relative offsets are easy for attention to read off.
    """
    # float64 so that large positions keep their precision before the cast.
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # 0, 2, 4, ...
    angle = position / base ** (two_i / d_model)  # (max_len, ceil(d_model / 2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # odd d_model: one sin more than cos
    return pe.to(torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """x + PE[:seq]: positions are *added* to the token embeddings, not concatenated."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        # Not persistent: it is a fixed function of (max_len, d_model), no need to save it.
        self.register_buffer("pe", positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, seq, d_model) -> (batch, seq, d_model)."""
        _check_length(x.shape[1], self.pe.shape[0])
        return x + self.pe[: x.shape[1]].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """x + P[:seq] with a trained table P (as in GPT and BERT); cannot extrapolate past max_len."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, seq, d_model) -> (batch, seq, d_model)."""
        _check_length(x.shape[1], self.weight.shape[0])
        return x + self.weight[: x.shape[1]]


def _check_length(seq_len: int, max_len: int) -> None:
    if seq_len > max_len:
        raise ValueError(f"sequence of length {seq_len} is longer than max_len={max_len}")


# --------------------------------------------------------------------------- building blocks


class LayerNorm(nn.Module):
    """Normalise each position over its features (the last dim), then scale and shift.

    Unlike BatchNorm it does not mix examples or positions, so it behaves the
    same in training and inference and for any sequence length. Uses the biased
    variance, like torch.nn.LayerNorm; parameters are named ``weight`` and ``bias``
    so state dicts are interchangeable with nn.LayerNorm.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., d_model) -> (..., d_model)."""
        mean = x.mean(dim=-1, keepdim=True)
        centered = x - mean
        # Biased variance (divide by d, not d - 1), as torch does. Written as a
        # mean of squares: on CPU this is also much faster than Tensor.var.
        var = (centered * centered).mean(dim=-1, keepdim=True)
        x_hat = centered * torch.rsqrt(var + self.eps)  # eps keeps constant inputs finite
        x_hat = x_hat * self.weight
        return x_hat if self.bias is None else x_hat + self.bias


_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,  # the paper's choice
    "gelu": nn.GELU,  # exact GELU, torch's "gelu"
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),  # GPT-2's approximation
}


def _make_activation(activation: str | nn.Module) -> nn.Module:
    if isinstance(activation, nn.Module):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)} or an nn.Module, got {activation!r}")
    return _ACTIVATIONS[activation]()


class PositionwiseFeedForward(nn.Module):
    """linear2(dropout(act(linear1(x)))), applied to each position independently.

    Attention only mixes positions (a weighted average); this is where each
    position gets a non-linear transformation of its own features.
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str | nn.Module = "relu",
        bias: bool = True,
    ):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.activation = _make_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., d_model) -> (..., d_model)."""
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


def _feed_forward(
    d_model: int, d_ff: int, dropout: float, activation: str | nn.Module, bias: bool
) -> PositionwiseFeedForward | None:
    if d_ff < 0:
        raise ValueError(f"d_ff must be >= 0 (0 = no feed-forward sublayer), got {d_ff}")
    return PositionwiseFeedForward(d_model, d_ff, dropout, activation, bias=bias) if d_ff > 0 else None


# --------------------------------------------------------------------------- layers


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and LayerNorm.

    Set ``record_attention = True`` (or use ``attention_maps``) to keep the last
    attention weights in ``self_attn_weights``, (batch, heads, seq, seq).
    ``d_ff=0`` builds the layer without its feed-forward sublayer (``ff`` is None).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str | nn.Module = "relu",
        eps: float = 1e-5,
        bias: bool = True,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias)
        # d_ff = 0 leaves the feed-forward sublayer out (the ablation of chapter 5).
        self.ff = _feed_forward(d_model, d_ff, dropout, activation, bias)
        self.norm1 = LayerNorm(d_model, eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps, bias=bias) if self.ff is not None else None
        self.dropout = nn.Dropout(dropout)  # on each sublayer's output, before the residual add
        self.record_attention = False
        self.self_attn_weights: Tensor | None = None

    def _self_attention(self, x: Tensor, mask: Tensor | None) -> Tensor:
        out, weights = self.self_attn(x, x, x, mask, need_weights=self.record_attention)
        if self.record_attention:
            self.self_attn_weights = weights.detach()
        return self.dropout(out)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x: (batch, seq, d_model); mask broadcastable to (batch, heads, seq, seq),
        usually padding_mask(...) of shape (batch, 1, 1, seq). Returns (batch, seq, d_model)."""
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), mask)
            if self.ff is not None:
                x = x + self.dropout(self.ff(self.norm2(x)))
        else:
            x = self.norm1(x + self._self_attention(x, mask))
            if self.ff is not None:
                x = self.norm2(x + self.dropout(self.ff(x)))
        return x


class DecoderLayer(nn.Module):
    """Masked self-attention, encoder-decoder (cross) attention, feed-forward.

    In cross-attention the queries come from the decoder and the keys and values
    from the encoder's output ("memory"): each target position looks up the
    source positions it needs. With ``record_attention = True`` the last weights
    are kept in ``self_attn_weights`` (batch, heads, tgt, tgt) and
    ``cross_attn_weights`` (batch, heads, tgt, src). ``d_ff=0``: no feed-forward sublayer.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str | nn.Module = "relu",
        eps: float = 1e-5,
        bias: bool = True,
    ):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, bias=bias)
        self.ff = _feed_forward(d_model, d_ff, dropout, activation, bias)  # None when d_ff = 0
        self.norm1 = LayerNorm(d_model, eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps, bias=bias) if self.ff is not None else None
        self.dropout = nn.Dropout(dropout)
        self.record_attention = False
        self.self_attn_weights: Tensor | None = None
        self.cross_attn_weights: Tensor | None = None

    def _self_attention(self, x: Tensor, mask: Tensor | None) -> Tensor:
        out, weights = self.self_attn(x, x, x, mask, need_weights=self.record_attention)
        if self.record_attention:
            self.self_attn_weights = weights.detach()
        return self.dropout(out)

    def _cross_attention(self, x: Tensor, memory: Tensor, mask: Tensor | None) -> Tensor:
        out, weights = self.cross_attn(x, memory, memory, mask, need_weights=self.record_attention)
        if self.record_attention:
            self.cross_attn_weights = weights.detach()
        return self.dropout(out)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        """
        Args:
            x: (batch, tgt, d_model) decoder input.
            memory: (batch, src, d_model) encoder output.
            tgt_mask: broadcastable to (batch, heads, tgt, tgt); pass causal_mask(tgt)
                (this layer does not add it: it is a plain building block).
            memory_mask: broadcastable to (batch, heads, tgt, src), usually the
                source padding mask (batch, 1, 1, src).

        Returns: (batch, tgt, d_model).
        """
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), tgt_mask)
            x = x + self._cross_attention(self.norm2(x), memory, memory_mask)
            if self.ff is not None:
                x = x + self.dropout(self.ff(self.norm3(x)))
        else:
            x = self.norm1(x + self._self_attention(x, tgt_mask))
            x = self.norm2(x + self._cross_attention(x, memory, memory_mask))
            if self.ff is not None:
                x = self.norm3(x + self.dropout(self.ff(x)))
        return x


class Encoder(nn.Module):
    """A stack of EncoderLayers; pre-LN stacks end with a LayerNorm since their
    residual stream is otherwise never normalised."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str | nn.Module = "relu",
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first, activation) for _ in range(num_layers)
        )
        self.norm = LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x: (batch, src, d_model) -> (batch, src, d_model)."""
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    """A stack of DecoderLayers, all attending to the same encoder memory."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str | nn.Module = "relu",
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first, activation) for _ in range(num_layers)
        )
        self.norm = LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        """x: (batch, tgt, d_model), memory: (batch, src, d_model) -> (batch, tgt, d_model)."""
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask)
        return self.norm(x)


# --------------------------------------------------------------------------- the model


class TransformerState(NamedTuple):
    """What ``Transformer.step`` carries between decoding steps; every field is batch first,
    so ``course_lib.decoding.reorder_state`` can select and repeat hypotheses."""

    tokens: Tensor  # (batch, t) decoder inputs so far: <sos> and the tokens generated after it
    memory: Tensor  # (batch, src, d_model) the encoder output, computed once
    src_mask: Tensor | None  # (batch, 1, 1, src) source padding mask, or None


class Transformer(nn.Module):
    """Encoder-decoder Transformer from token ids to next-token logits.

    With ``share_embeddings`` the target embedding and the output projection
    share one matrix (a token's input vector is also its output score template).
    The source embedding shares it too when ``share_source`` is True, or, by
    default (None), when ``src_vocab == tgt_vocab``: one joint vocabulary, as the
    paper's shared BPE vocabulary. Pass ``share_source=False`` for two languages
    whose vocabularies merely happen to have the same size. Embeddings are scaled
    by sqrt(d_model) so that they are not drowned by the positional encoding.

    If ``pad_id`` is given and no ``src_mask`` is passed, the source padding mask
    is built from ``src == pad_id``. ``start_state`` and ``step`` plug the model
    into ``course_lib.decoding`` (greedy decoding, beam search); ``generate``
    decodes a batch greedily. ``d_ff=0`` leaves out every feed-forward sublayer.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 512,
        num_heads: int = 8,
        num_layers: int = 6,
        d_ff: int = 2048,
        dropout: float = 0.1,
        max_len: int = 512,
        share_embeddings: bool = True,
        norm_first: bool = False,
        activation: str | nn.Module = "relu",
        positional: str = "sinusoidal",
        pad_id: int | None = None,
        share_source: bool | None = None,
    ):
        super().__init__()
        self.d_model = d_model
        self.pad_id = pad_id
        if share_source and not (share_embeddings and src_vocab == tgt_vocab):
            raise ValueError(
                f"share_source=True needs share_embeddings=True and one vocabulary size, "
                f"got src_vocab={src_vocab}, tgt_vocab={tgt_vocab}"
            )
        self.src_embed = nn.Embedding(src_vocab, d_model)
        share_src = share_embeddings and src_vocab == tgt_vocab and share_source is not False
        self.tgt_embed = self.src_embed if share_src else nn.Embedding(tgt_vocab, d_model)
        if positional == "sinusoidal":
            self.pos = SinusoidalPositionalEncoding(max_len, d_model)
        elif positional == "learned":
            self.pos = LearnedPositionalEmbedding(max_len, d_model)
        else:
            raise ValueError(f"positional must be 'sinusoidal' or 'learned', got {positional!r}")
        self.dropout = nn.Dropout(dropout)  # on embedding + position, as in the paper
        self.encoder = Encoder(num_layers, d_model, num_heads, d_ff, dropout, norm_first, activation)
        self.decoder = Decoder(num_layers, d_model, num_heads, d_ff, dropout, norm_first, activation)
        self.lm_head = nn.Linear(d_model, tgt_vocab, bias=False)
        self._init_weights()
        if share_embeddings:
            self.lm_head.weight = self.tgt_embed.weight

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                # std d_model^-0.5: times sqrt(d_model) gives unit-variance inputs,
                # and as the tied output matrix gives logits of order 1.
                nn.init.normal_(module.weight, std=self.d_model**-0.5)

    def _embed(self, embedding: nn.Embedding, tokens: Tensor) -> Tensor:
        return self.dropout(self.pos(embedding(tokens) * math.sqrt(self.d_model)))

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        """src: (batch, src) token ids -> memory (batch, src, d_model).

        src_mask: (batch, 1, 1, src), True at real tokens (see padding_mask)."""
        if src_mask is None and self.pad_id is not None:
            src_mask = padding_mask(key_padding=src == self.pad_id)
        return self.encoder(self._embed(self.src_embed, src), src_mask)

    def decode(
        self,
        tgt_in: Tensor,
        memory: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
    ) -> Tensor:
        """Logits for the token after each position of ``tgt_in``.

        Args:
            tgt_in: (batch, tgt) decoder input ids (BOS + target, shifted right).
            memory: (batch, src, d_model) from ``encode``.
            src_mask: (batch, 1, 1, src) source padding mask, or None.
            tgt_mask: extra mask broadcastable to (batch, heads, tgt, tgt). The
                decoder is always causal: this is combined with causal_mask(tgt),
                so forgetting the causal part cannot leak the answer.

        Returns: (batch, tgt, tgt_vocab) logits.
        """
        causal = causal_mask(tgt_in.shape[1], device=tgt_in.device)
        tgt_mask = causal if tgt_mask is None else tgt_mask & causal
        x = self.decoder(self._embed(self.tgt_embed, tgt_in), memory, tgt_mask, src_mask)
        return self.lm_head(x)

    def forward(
        self,
        src: Tensor,
        tgt_in: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
    ) -> Tensor:
        """src: (batch, src), tgt_in: (batch, tgt) token ids -> (batch, tgt, tgt_vocab) logits."""
        if src_mask is None and self.pad_id is not None:
            src_mask = padding_mask(key_padding=src == self.pad_id)
        memory = self.encode(src, src_mask)
        return self.decode(tgt_in, memory, src_mask, tgt_mask)

    # The course_lib.decoding interface: step_fn(prev_tokens, state) -> (logits, state).

    def start_state(self, src: Tensor, src_lengths: Tensor | None = None) -> TransformerState:
        """Encode ``src`` (batch, src) once; the state for ``step``.

        The source padding mask comes from ``src_lengths`` (batch,) when given,
        else from ``pad_id``, else there is none.
        """
        if src_lengths is not None:
            src_mask = padding_mask(src_lengths.to(src.device), src.shape[1])
        elif self.pad_id is not None:
            src_mask = padding_mask(key_padding=src == self.pad_id)
        else:
            src_mask = None
        memory = self.encode(src, src_mask)
        return TransformerState(src.new_zeros(src.shape[0], 0), memory, src_mask)

    def step(self, prev_tokens: Tensor, state: TransformerState) -> tuple[Tensor, TransformerState]:
        """prev_tokens: (batch,) the last token of each sequence (<sos> first) -> logits (batch, tgt_vocab).

        The decoder is re-run over the whole prefix at every step: simple, and
        cheap for the short outputs of this chapter. (Chapter 6 keeps the keys
        and values of earlier positions in a cache instead.)
        """
        tokens = torch.cat([state.tokens, prev_tokens[:, None]], dim=1)
        logits = self.decode(tokens, state.memory, state.src_mask)[:, -1]
        return logits, state._replace(tokens=tokens)

    @torch.no_grad()
    def generate(
        self,
        src: Tensor,
        src_lengths: Tensor | None = None,
        max_len: int = 50,
        sos_id: int = SOS_ID,
        eos_id: int = EOS_ID,
    ) -> Tensor:
        """Greedy decoding of a batch: (batch, T <= max_len) ids, each row ending with
        <eos> then padding (see ``course_lib.decoding.greedy_decode``).

        Same call as the seq2seq models', so ``course_lib.seq2seq.predict`` and
        ``evaluate_exact_match`` work with a Transformer too. Switch to eval mode
        first if the model has dropout.
        """
        pad_id = PAD_ID if self.pad_id is None else self.pad_id
        return greedy_decode(self.step, self.start_state(src, src_lengths), sos_id, eos_id,
                             max_len, batch_size=src.shape[0], pad_id=pad_id, device=src.device)


def attention_maps(model: nn.Module, *args, **kwargs) -> dict[str, Tensor]:
    """Run ``model(*args, **kwargs)`` without gradients and collect every layer's attention.

    Returns ``{"<layer name>.self_attn": (batch, heads, q, k), "<layer name>.cross_attn": ...}``,
    e.g. ``"decoder.layers.0.cross_attn"``, in the order of the layers.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (EncoderLayer, DecoderLayer))]
    for _, layer in layers:
        layer.record_attention = True
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for _, layer in layers:
            layer.record_attention = False
    maps: dict[str, Tensor] = {}
    for name, layer in layers:
        prefix = f"{name}." if name else ""
        maps[prefix + "self_attn"] = layer.self_attn_weights
        if isinstance(layer, DecoderLayer):
            maps[prefix + "cross_attn"] = layer.cross_attn_weights
    return maps


# --------------------------------------------------------------------------- training pieces


def label_smoothed_cross_entropy(
    logits: Tensor,
    target: Tensor,
    smoothing: float = 0.1,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy against (1 - smoothing) * one_hot(target) + smoothing / vocab.

    Equals ``F.cross_entropy(logits.flatten(0, -2), target.flatten(), label_smoothing=smoothing,
    ignore_index=ignore_index)``. Smoothing stops the model from pushing the true
    logit to infinity: it hurts perplexity a little but helps accuracy and BLEU.

    Args:
        logits: (..., vocab), e.g. (batch, tgt, vocab).
        target: (...) class ids; positions equal to ``ignore_index`` (padding) are skipped.
        reduction: "mean" (over kept positions), "sum" or "none".
    """
    if logits.shape[:-1] != target.shape:
        raise ValueError(
            f"logits (..., vocab) {tuple(logits.shape)} and target (...) {tuple(target.shape)} "
            "must agree on the leading dims"
        )
    log_probs = logits.log_softmax(dim=-1)
    keep = target != ignore_index
    safe_target = target.masked_fill(~keep, 0)  # ignore_index may not be a valid class id
    nll = -log_probs.gather(-1, safe_target.unsqueeze(-1)).squeeze(-1)
    uniform = -log_probs.mean(dim=-1)  # cross-entropy against the uniform distribution
    loss = ((1.0 - smoothing) * nll + smoothing * uniform).masked_fill(~keep, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / keep.sum()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class LabelSmoothingLoss(nn.Module):
    """Module form of ``label_smoothed_cross_entropy``: loss_fn(logits (..., vocab), target (...))."""

    def __init__(self, smoothing: float = 0.1, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.smoothing = smoothing
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return label_smoothed_cross_entropy(logits, target, self.smoothing, self.ignore_index, self.reduction)
