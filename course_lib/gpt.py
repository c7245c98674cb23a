"""GPT: a decoder-only Transformer language model (chapter 6).

One stack of pre-LN blocks reads tokens left to right and predicts the next
one at every position. Compared with the decoder of chapter 5 there is no
encoder and so no cross-attention; positions are a learned table, the
activation is GPT-2's tanh-approximated GELU, and the output projection is the
token embedding itself (weight tying). The layout and names follow GPT-2
closely enough that its weights load one to one (course_lib.interop.gpt_from_hf).

Read top to bottom: the config, the pieces chapter 6 asks for as exercises
(causal LM loss, top-k / top-p filtering, one attention step with a KV cache),
the attention layer, the block, the model, generation.

Shapes: batch first; B batch, T sequence, C = n_embd, H heads, D = C // H.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.transformer import PositionwiseFeedForward

__all__ = [
    "GPTConfig",
    "GPT",
    "Block",
    "CausalSelfAttention",
    "KVCache",
    "causal_lm_loss",
    "top_k_filter",
    "top_p_filter",
    "cached_attention",
]

# One layer's cache: (keys, values), each (B, H, T_past, D).
KVCache = tuple[Tensor, Tensor]


@dataclass
class GPTConfig:
    """The model's shape. GPT-2 small is (50257, 1024, 12, 12, 768).

    vocab_size: number of token ids.
    block_size: the longest context the model can read (the position table's size).
    n_layer, n_head, n_embd: depth, heads per layer, width (n_embd % n_head == 0).
    dropout: on embeddings, attention weights and each residual branch (training only).
    bias: biases in the Linear and LayerNorm layers (GPT-2 has them).
    """

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) "
                             "so that every head gets n_embd // n_head dims")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


# --------------------------------------------------------------------------- exercises of chapter 6


def causal_lm_loss(logits: Tensor, idx: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean cross-entropy of predicting each token from the ones before it.

    logits: (B, T, V), the model's output for the input ids idx: (B, T).
    Position t predicts token t + 1, so the last position has no target and the
    first token is never predicted: logits[:, :-1] are scored against idx[:, 1:].
    Targets equal to ignore_index (e.g. padding) are skipped.
    """
    if logits.dim() != 3 or idx.dim() != 2 or logits.shape[:2] != idx.shape:
        raise ValueError(f"expected logits (B, T, V) and idx (B, T) with the same B, T; "
                         f"got {tuple(logits.shape)} and {tuple(idx.shape)}")
    if idx.shape[1] < 2:
        raise ValueError("need at least 2 tokens per sequence: one to read and one to predict")
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten(), ignore_index=ignore_index)


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of each row (ties with the k-th are kept too); the rest become -inf.

    logits: (..., V). k >= V leaves the logits unchanged; k = 1 makes sampling greedy.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive int, got {k!r}")
    if k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probabilities sum to >= p.

    logits: (..., V); p in (0, 1]. The most likely token is always kept (so a
    tiny p means greedy); p = 1 keeps everything. Among tokens with equal
    probability the one with the lower id ranks first. Removed tokens get -inf.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)
    probs = _at_least_float32(sorted_logits).softmax(dim=-1)
    # Probability of the tokens ranked strictly above each one: a token is
    # needed as long as those have not reached p yet. The first is always kept.
    before = probs.cumsum(dim=-1) - probs
    remove_sorted = before >= p
    remove_sorted[..., 0] = False
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def _at_least_float32(x: Tensor) -> Tensor:
    # probabilities in half precision lose the small ones top-p and sampling depend on
    return x.to(torch.promote_types(x.dtype, torch.float32))


def cached_attention(q: Tensor, k: Tensor, v: Tensor, cache: KVCache | None = None,
                     dropout_p: float = 0.0) -> tuple[Tensor, KVCache]:
    """Causal attention for new positions, reusing the keys and values of earlier ones.

    q, k, v: (B, H, T_new, D) for the T_new newest positions.
    cache: (k_past, v_past), each (B, H, T_past, D), or None at the start.
    Returns the output (B, H, T_new, D) and the new cache: the past keys and
    values with the new ones appended along the sequence axis (dim 2).

    The new query i sits at position T_past + i, so it may see every cached
    key and the new keys 0..i. Without a cache (T_past = 0) this is ordinary
    causal self-attention.
    """
    if q.dim() != 4 or q.shape != k.shape or k.shape != v.shape:
        raise ValueError(f"q, k, v must all be (B, H, T_new, D); got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if cache is not None:
        k_past, v_past = cache
        if k_past.shape[:2] != k.shape[:2] or k_past.shape[3] != k.shape[3] or v_past.shape != k_past.shape:
            raise ValueError(f"cache (B, H, T_past, D) {tuple(k_past.shape)} / {tuple(v_past.shape)} "
                             f"does not fit the new keys {tuple(k.shape)}")
        k = torch.cat([k_past, k], dim=2)
        v = torch.cat([v_past, v], dim=2)
    t_new, t_all = q.shape[2], k.shape[2]
    if t_new == t_all:
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    elif t_new == 1:
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)  # the newest token sees all
    else:
        # is_causal aligns the triangle to the top-left corner; with a past the
        # queries are the *last* t_new rows of the full square, so shift it.
        mask = torch.ones(t_new, t_all, dtype=torch.bool, device=q.device).tril(diagonal=t_all - t_new)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    return out, (k, v)


# --------------------------------------------------------------------------- layers


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused q/k/v projection (as GPT-2's c_attn)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """x: (B, T, C) -> (B, T, C), and this layer's cache extended by the T new positions."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, H, T, D): each head attends in its own D-dim subspace
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y, cache = cached_attention(q, k, v, cache, self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.c_proj(y), cache


class Block(nn.Module):
    """Pre-LN Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).

    Normalising the input of each branch, not the sum, leaves the residual
    stream an identity path from the embeddings to the output, which is why
    deep GPTs train without warm-up tricks; the model ends with one more
    LayerNorm (ln_f) because the stream itself is never normalised.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        # chapter 5's feed-forward block, 4x wide with GPT-2's GELU; GPT-2 has
        # no dropout inside it, only on its output (self.dropout below)
        self.mlp = PositionwiseFeedForward(config.n_embd, 4 * config.n_embd, dropout=0.0,
                                           activation="gelu_tanh", bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """x: (B, T, C) -> (B, T, C), and the attention's extended cache."""
        a, cache = self.attn(self.ln_1(x), cache)
        x = x + self.dropout(a)
        x = x + self.dropout(self.mlp(self.ln_2(x)))
        return x, cache


# --------------------------------------------------------------------------- the model


class GPT(nn.Module):
    """Token ids in, next-token logits out.

    ``GPT(config)``, or ``GPT(vocab_size=..., block_size=..., ...)`` with the
    config's fields, which is what ``training.load_checkpoint(GPT, path)``
    passes when it rebuilds a model from a checkpoint's stored config.
    """

    def __init__(self, config: GPTConfig | None = None, **fields):
        super().__init__()
        if config is None:
            config = GPTConfig(**fields)
        elif fields:
            raise TypeError("pass either a GPTConfig or its fields as keywords, not both")
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: one matrix both embeds a token and scores it as the next
        # token. Tokens that occur in alike contexts want alike vectors for both
        # jobs, the rarely seen ones learn from both uses, and it saves
        # vocab_size * n_embd parameters (about a third of GPT-2 small's).
        self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2's init: every block adds its two branch outputs to the residual
        # stream, so shrink those projections by 1/sqrt(2 * n_layer) to keep
        # the stream's variance from growing with depth.
        for name, p in self.named_parameters():
            if name.endswith("attn.c_proj.weight") or name.endswith("mlp.linear2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameter count; tied weights count once. non_embedding leaves out the position table
        (the token table stays in: as the output layer it does real work)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.pos_emb.weight.numel() if non_embedding else n

    def _check_idx(self, idx: Tensor, past: int = 0) -> None:
        if not isinstance(idx, Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            what = f"{tuple(idx.shape)} {idx.dtype}" if isinstance(idx, Tensor) else type(idx).__name__
            raise ValueError(f"idx must be a (batch, seq) tensor of torch.long token ids, got {what}")
        if idx.shape[1] == 0:
            raise ValueError("idx is empty: give at least one token")
        if past + idx.shape[1] > self.config.block_size:
            raise ValueError(f"sequence of {past + idx.shape[1]} tokens is longer than block_size="
                             f"{self.config.block_size}; crop it to the last block_size tokens")
        low, high = int(idx.min()), int(idx.max())
        if low < 0 or high >= self.config.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {self.config.vocab_size})")

    def _run(self, idx: Tensor, caches: list[KVCache] | None) -> tuple[Tensor, list[KVCache]]:
        past = 0 if caches is None else caches[0][0].shape[2]
        self._check_idx(idx, past)
        pos = torch.arange(past, past + idx.shape[1], device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C) + (T, C)
        new_caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, None if caches is None else caches[i])
            new_caches.append(cache)
        return self.lm_head(self.ln_f(x)), new_caches

    def forward(self, idx: Tensor, targets: Tensor | None = None,
                ignore_index: int = -100) -> tuple[Tensor, Tensor | None]:
        """idx: (B, T) token ids -> logits (B, T, vocab_size), loss.

        targets: (B, T), the token that follows each position (already shifted:
        targets[:, t] = idx[:, t + 1] for a contiguous text); entries equal to
        ignore_index are skipped. loss is the mean cross-entropy, or None
        without targets.
        """
        logits, _ = self._run(idx, None)
        loss = None
        if targets is not None:
            if targets.shape != idx.shape:
                raise ValueError(f"targets {tuple(targets.shape)} must have the shape of idx "
                                 f"{tuple(idx.shape)}: one next token per position")
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)
        return logits, loss

    def forward_cached(self, idx: Tensor, caches: list[KVCache] | None = None
                       ) -> tuple[Tensor, list[KVCache]]:
        """Run only the new tokens, reading the earlier ones from the KV caches.

        idx: (B, T_new), the tokens after those already cached; caches: one
        (k, v) per layer from the previous call, or None to start. Returns the
        logits (B, T_new, vocab_size) and the caches extended by T_new
        positions. Calling it on a prompt and then one token at a time gives
        the same logits as forward() on the whole sequence, at a fraction of
        the work: each step computes one position instead of all of them.
        """
        if caches is not None and len(caches) != len(self.blocks):
            raise ValueError(f"expected one cache per layer ({len(self.blocks)}), got {len(caches)}")
        return self._run(idx, caches)

    # ----------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample max_new_tokens tokens after idx: (B, T); returns (B, T + max_new_tokens).

        Each step divides the last position's logits by `temperature` (< 1 is
        sharper, > 1 flatter; 0 means greedy), keeps the top_k and/or top_p
        nucleus, and samples (from `generator` if given). top_k=1 is greedy.

        The model reads at most block_size tokens. With use_cache the prompt is
        run once and every new token costs one position per layer. Past
        block_size the window slides, and with learned absolute positions every
        token's position then changes, so no cached key stays valid: from then
        on each step re-runs the last block_size tokens, exactly as without the
        cache. Cached and uncached generation give the same tokens.
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")
        self._check_idx(idx[:, -self.config.block_size:] if idx.dim() == 2 else idx)
        block = self.config.block_size
        was_training = self.training
        self.eval()
        caches = None
        try:
            for _ in range(max_new_tokens):
                if use_cache and caches is not None and idx.shape[1] <= block:
                    logits, caches = self.forward_cached(idx[:, -1:], caches)  # only the newest token
                elif use_cache and idx.shape[1] <= block:
                    logits, caches = self.forward_cached(idx)  # the prompt, once
                else:
                    logits, _ = self(idx[:, -block:])
                idx_next = self._pick(logits[:, -1, :], temperature, top_k, top_p, generator)
                idx = torch.cat([idx, idx_next], dim=1)
        finally:
            self.train(was_training)
        return idx

    @staticmethod
    def _pick(logits: Tensor, temperature: float, top_k: int | None, top_p: float | None,
              generator: torch.Generator | None) -> Tensor:
        """logits: (B, V) -> the next token ids (B, 1)."""
        if temperature == 0 or top_k == 1:  # greedy: no need to build a distribution
            return logits.argmax(dim=-1, keepdim=True)
        logits = _at_least_float32(logits) / temperature
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        if top_p is not None:
            logits = top_p_filter(logits, top_p)
        return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=generator)
