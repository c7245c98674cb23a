"""Scaled dot-product attention, masks and multi-head attention (chapter 4).

Attention is a soft dictionary lookup: each query scores every key, the scores
become weights with a softmax, and the output is the weighted average of the
values:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Masks are boolean with **True = may attend**, the convention of
``torch.nn.functional.scaled_dot_product_attention``. (``nn.MultiheadAttention``
uses the opposite, True = ignore: give it ``~mask``.) A mask
broadcasts against the scores, ``(..., seq_q, seq_k)``; for multi-head attention
that is ``(batch, heads, seq_q, seq_k)``, so a padding mask has shape
``(batch, 1, 1, seq_k)`` and a causal mask ``(seq_q, seq_k)``; combine them with ``&``.

A query whose keys are all masked (say, an empty sequence) gets all-zero weights
and a zero output, as torch's ``scaled_dot_product_attention`` does, instead of
the NaN a plain softmax over ``-inf`` gives.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
    "local_attention",
    "MultiHeadAttention",
]


def _check_mask(mask: Tensor, scores_shape: torch.Size) -> None:
    if mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a boolean tensor (True = may attend), got dtype {mask.dtype}. "
            "Build it with comparisons, e.g. `tokens != pad_id`, or causal_mask()/padding_mask()."
        )
    try:
        broadcast = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        broadcast = None
    if broadcast != scores_shape:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast against the attention "
            f"scores (..., seq_q, seq_k) = {tuple(scores_shape)}. A padding mask for "
            "(batch, heads, seq_q, seq_k) scores has shape (batch, 1, 1, seq_k); "
            "a causal mask has shape (seq_q, seq_k)."
        )


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(d_k)) v, with the attention weights.

    Args:
        q: (..., seq_q, d_k) queries.
        k: (..., seq_k, d_k) keys.
        v: (..., seq_k, d_v) values.
        mask: optional boolean, True = may attend, broadcastable to (..., seq_q, seq_k).

    Returns:
        output: (..., seq_q, d_v).
        weights: (..., seq_q, seq_k); each row sums to 1 over the keys, masked
            entries are exactly 0, and a fully masked row is all zeros.
    """
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(
            f"q, k, v must be (..., seq, d); got shapes {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"queries and keys must have the same last dim d_k to be compared: "
            f"q {tuple(q.shape)} vs k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"every key needs a value: k has {k.shape[-2]} positions, v has {v.shape[-2]} "
            f"(k {tuple(k.shape)}, v {tuple(v.shape)})"
        )
    d_k = q.shape[-1]
    # Dividing by sqrt(d_k) keeps the scores' variance near 1 whatever d_k is;
    # without it large d_k saturates the softmax and its gradients vanish.
    # (Scaling q rather than the scores is the same maths on seq_k/d_k times fewer numbers.)
    scores = (q / math.sqrt(d_k)) @ k.transpose(-2, -1)
    if mask is None:
        weights = scores.softmax(dim=-1)
    else:
        _check_mask(mask, scores.shape)
        # -inf makes exp() exactly 0, so masked keys get no weight at all.
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        # A fully masked row is softmax of all -inf = NaN; refill masked entries
        # with 0 so such rows become zeros (and their gradients stay finite).
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> Tensor:
    """(seq_len, seq_len) boolean, True on and below the diagonal.

    Position i may attend to positions 0..i: the decoder must not peek at the
    tokens it is trained to predict. Broadcasts against (batch, heads, q, k).
    """
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def local_attention(q: Tensor, k: Tensor, v: Tensor, radius: int, causal: bool = False) -> Tensor:
    """Restricted self-attention: each position attends only to the keys within `radius` positions
    (before it only, if causal). q, k, v: (..., n, d) -> (..., n, d).

    The same result as scaled_dot_product_attention with a band mask, but the (n x n) score matrix
    is never built: every query scores its own window of at most 2 * radius + 1 keys, so the work
    is O(n r d) instead of O(n^2 d). The price is reach: information travels at most `radius`
    positions per layer, so connecting tokens n apart takes about n / radius layers.
    """
    n, d = q.shape[-2], q.shape[-1]
    left, right = radius, 0 if causal else radius
    width = left + right + 1
    # windows of keys and values: (..., n, d, width), a strided view of the padded sequence
    keys = F.pad(k, (0, 0, left, right)).unfold(-2, width, 1)
    values = F.pad(v, (0, 0, left, right)).unfold(-2, width, 1)
    scores = torch.einsum("...nd,...ndw->...nw", q, keys) / math.sqrt(d)
    position = torch.arange(n, device=q.device)[:, None] + torch.arange(width, device=q.device) - left
    scores = scores.masked_fill((position < 0) | (position >= n), float("-inf"))  # the padding
    return torch.einsum("...nw,...ndw->...nd", scores.softmax(dim=-1), values)


def padding_mask(
    lengths: Tensor | None = None,
    max_len: int | None = None,
    *,
    key_padding: Tensor | None = None,
) -> Tensor:
    """(batch, 1, 1, seq_k) boolean, True at real tokens, False at padding.

    Give either the true ``lengths`` (batch,) of right-padded sequences, or
    ``key_padding`` (batch, seq_k) in torch.nn's convention (True = padding,
    e.g. ``tokens == pad_id``). The two singleton dims let the mask broadcast
    over heads and over queries: padded *keys* are hidden from every query.

    Args:
        lengths: (batch,) integer lengths.
        max_len: padded length; defaults to ``lengths.max()``.
        key_padding: (batch, seq_k) boolean, True = padding.
    """
    if (lengths is None) == (key_padding is None):
        raise ValueError("give exactly one of `lengths` or `key_padding=`")
    if key_padding is not None:
        if key_padding.dtype != torch.bool or key_padding.dim() != 2:
            raise ValueError(
                "key_padding must be a boolean (batch, seq_k) tensor, True = padding; "
                f"got dtype {key_padding.dtype}, shape {tuple(key_padding.shape)}"
            )
        keep = ~key_padding
    else:
        if lengths.dim() != 1 or lengths.is_floating_point():
            raise ValueError(
                f"lengths must be a 1-D integer tensor (batch,), got dtype {lengths.dtype}, "
                f"shape {tuple(lengths.shape)}"
            )
        if max_len is None:
            max_len = int(lengths.max())
        positions = torch.arange(max_len, device=lengths.device)
        keep = positions[None, :] < lengths[:, None]
    return keep[:, None, None, :]


class MultiHeadAttention(nn.Module):
    """Multi-head attention, batch first.

    Each head attends in its own d_model / num_heads dimensional subspace, so
    heads can look for different things at the cost of one full-size attention.
    The weights of all heads are returned for plotting, (batch, heads, q, k).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model ({d_model}) must be divisible by num_heads ({num_heads}) "
                "so that every head gets d_model // num_heads dims"
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(batch, seq, d_model) -> (batch, heads, seq, d_head)."""
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_heads, self.d_head).transpose(1, 2)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        mask: Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``.

        Args:
            query: (batch, seq_q, d_model).
            key: (batch, seq_k, d_model).
            value: (batch, seq_k, d_model).
            mask: boolean, True = may attend; (seq_q, seq_k) or 4-D, broadcastable
                to (batch, heads, seq_q, seq_k), e.g. padding_mask() & causal_mask().
            need_weights: if False, skip materialising the weights and use
                torch's fused scaled_dot_product_attention (faster, less memory);
                the second return value is then None.

        Returns:
            output: (batch, seq_q, d_model).
            weights: (batch, heads, seq_q, seq_k), before dropout, or None.
        """
        if query.dim() != 3 or key.dim() != 3 or value.dim() != 3:
            raise ValueError(
                "query, key, value must be (batch, seq, d_model) (batch first); got "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.shape[-1] != self.d_model:
                raise ValueError(f"{name} has last dim {x.shape[-1]}, expected d_model={self.d_model}")
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"key {tuple(key.shape)} and value {tuple(value.shape)} must share (batch, seq_k)"
            )
        if mask is not None and mask.dim() not in (2, 4):
            # A (batch, q, k) mask would silently line up with (heads, q, k).
            raise ValueError(
                f"mask must be 2-D (seq_q, seq_k) or 4-D (batch|1, heads|1, seq_q|1, seq_k), "
                f"got shape {tuple(mask.shape)}; for a (batch, seq_q, seq_k) mask use mask[:, None]"
            )

        q = self._split_heads(self.q_proj(query))
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        dropout_p = self.dropout if self.training else 0.0

        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask)
            if dropout_p > 0:
                # Attention dropout (as torch does) randomly cuts query-key links;
                # the returned weights stay undropped so that they plot cleanly.
                out = F.dropout(weights, dropout_p) @ v
        else:
            if mask is not None:
                _check_mask(mask, torch.Size((q.shape[0], self.num_heads, q.shape[2], k.shape[2])))
            # Fused kernel: same maths (and same zeros for fully masked rows),
            # but never stores the (batch, heads, q, k) weights.
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            weights = None

        # Concatenate the heads back: (batch, heads, seq_q, d_head) -> (batch, seq_q, d_model).
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], self.d_model)
        return self.out_proj(out), weights
