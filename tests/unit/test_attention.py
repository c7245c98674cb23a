"""course_lib.attention against torch's built-ins, and masks tested as properties."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers.tensors import DT, TOL, randn
from torch import nn

from course_lib.attention import (
    MultiHeadAttention,
    causal_mask,
    local_attention,
    padding_mask,
    scaled_dot_product_attention,
)

# --------------------------------------------------------------------------- scaled_dot_product_attention


def test_sdpa_matches_torch_without_mask():
    q, k, v = randn(2, 3, 5, 8, seed=1), randn(2, 3, 7, 8, seed=2), randn(2, 3, 7, 4, seed=3)
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), **TOL)
    assert weights.shape == (2, 3, 5, 7)


@pytest.mark.parametrize(
    "mask_kind", ["causal (q, k)", "padding (b, 1, 1, k)", "per-head (1, h, q, k)", "full (b, h, q, k)"]
)
def test_sdpa_matches_torch_with_broadcast_masks(mask_kind):
    b, h, s, d = 3, 4, 6, 8
    q, k, v = randn(b, h, s, d, seed=1), randn(b, h, s, d, seed=2), randn(b, h, s, d, seed=3)
    g = torch.Generator().manual_seed(4)
    mask = {
        "causal (q, k)": causal_mask(s),
        "padding (b, 1, 1, k)": padding_mask(torch.tensor([6, 4, 1])),
        "per-head (1, h, q, k)": torch.rand(1, h, s, s, generator=g) > 0.3,
        "full (b, h, q, k)": torch.rand(b, h, s, s, generator=g) > 0.3,
    }[mask_kind]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, **TOL)
    assert weights.shape == (b, h, s, s)


def test_weights_sum_to_one_and_masked_weights_are_zero():
    q, k, v = randn(2, 5, 8, seed=1), randn(2, 5, 8, seed=2), randn(2, 5, 8, seed=3)
    mask = causal_mask(5)
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5, dtype=DT), msg="rows must sum to 1 over keys")
    assert (weights[:, ~mask] == 0).all(), "masked (future) keys must get exactly zero weight"
    assert (weights >= 0).all()


def test_scaling_by_sqrt_dk():
    # One query, two keys: the weight ratio must be exp((q.k1 - q.k2) / sqrt(d)).
    d = 16
    q = torch.ones(1, d, dtype=DT)
    k = torch.stack([torch.ones(d, dtype=DT), torch.zeros(d, dtype=DT)])
    _, weights = scaled_dot_product_attention(q, k, k)
    ratio = weights[0, 0] / weights[0, 1]
    torch.testing.assert_close(ratio, torch.exp(torch.tensor(d / d**0.5, dtype=DT)))


def test_fully_masked_rows_give_zeros_and_finite_gradients():
    q = randn(2, 4, 8, seed=1).requires_grad_()
    k, v = randn(2, 5, 8, seed=2), randn(2, 5, 8, seed=3)
    mask = torch.ones(2, 4, 5, dtype=torch.bool)
    mask[0, 1] = False  # query 1 of example 0 may attend to nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert (weights[0, 1] == 0).all() and (out[0, 1] == 0).all()
    assert torch.isfinite(out).all()
    # Same choice as torch's functional sdpa.
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    out.sum().backward()
    assert torch.isfinite(q.grad).all()


def test_sdpa_errors_name_the_shapes():
    q, k, v = randn(2, 5, 8), randn(2, 5, 8), randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"last dim.*\(2, 5, 8\).*\(2, 5, 7\)"):
        scaled_dot_product_attention(q, randn(2, 5, 7), v)
    with pytest.raises(ValueError, match="every key needs a value"):
        scaled_dot_product_attention(q, k, randn(2, 4, 8))
    with pytest.raises(ValueError, match="boolean"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 5))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(2, 5, 5\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(4, 5, dtype=torch.bool))


# --------------------------------------------------------------------------- masks


def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            assert m[i, j] == (j <= i)


def test_padding_mask_from_lengths_and_from_key_padding():
    m = padding_mask(torch.tensor([3, 1]), max_len=4)
    assert m.shape == (2, 1, 1, 4) and m.dtype == torch.bool
    assert m[:, 0, 0].tolist() == [[True, True, True, False], [True, False, False, False]]
    tokens = torch.tensor([[5, 6, 7, 0], [5, 0, 0, 0]])
    assert torch.equal(padding_mask(key_padding=tokens == 0), m)
    assert padding_mask(torch.tensor([2, 3])).shape == (2, 1, 1, 3)  # max_len defaults to the longest
    # Combines with a causal mask into (batch, 1, q, k).
    assert (m & causal_mask(4)).shape == (2, 1, 4, 4)


def test_padding_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        padding_mask()
    with pytest.raises(ValueError, match="boolean"):
        padding_mask(key_padding=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="integer"):
        padding_mask(torch.tensor([1.0, 2.0]))


# --------------------------------------------------------------------------- MultiHeadAttention


def make_pair(d_model=16, heads=4, bias=True, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True, dtype=DT).eval()
    ours = MultiHeadAttention(d_model, heads, bias=bias).to(DT).eval()
    q_w, k_w, v_w = theirs.in_proj_weight.detach().chunk(3)
    with torch.no_grad():
        ours.q_proj.weight.copy_(q_w)
        ours.k_proj.weight.copy_(k_w)
        ours.v_proj.weight.copy_(v_w)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        if bias:
            # torch initialises these to zero; make them count.
            theirs.in_proj_bias.normal_()
            theirs.out_proj.bias.normal_()
            q_b, k_b, v_b = theirs.in_proj_bias.chunk(3)
            ours.q_proj.bias.copy_(q_b)
            ours.k_proj.bias.copy_(k_b)
            ours.v_proj.bias.copy_(v_b)
            ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours, theirs


def test_mha_has_the_stable_children():
    mha = MultiHeadAttention(16, 4)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        assert isinstance(getattr(mha, name), nn.Linear)


@pytest.mark.parametrize("bias", [True, False])
def test_mha_matches_torch_with_padding_and_causal_masks(bias):
    ours, theirs = make_pair(bias=bias)
    x = randn(3, 5, 16, seed=1)
    lengths = torch.tensor([5, 3, 2])
    keep = padding_mask(lengths)  # (3, 1, 1, 5), True = may attend
    causal = causal_mask(5)
    out, weights = ours(x, x, x, mask=keep & causal)
    # torch: True = NOT allowed, for both masks.
    exp_out, exp_w = theirs(
        x, x, x, key_padding_mask=~keep[:, 0, 0], attn_mask=~causal, average_attn_weights=False
    )
    torch.testing.assert_close(out, exp_out, **TOL)
    torch.testing.assert_close(weights, exp_w, **TOL)
    assert weights.shape == (3, 4, 5, 5)


def test_mha_cross_attention_matches_torch():
    ours, theirs = make_pair()
    query, memory = randn(2, 3, 16, seed=1), randn(2, 6, 16, seed=2)
    keep = padding_mask(torch.tensor([6, 4]))
    out, weights = ours(query, memory, memory, mask=keep)
    exp_out, exp_w = theirs(query, memory, memory, key_padding_mask=~keep[:, 0, 0], average_attn_weights=False)
    torch.testing.assert_close(out, exp_out, **TOL)
    torch.testing.assert_close(weights, exp_w, **TOL)
    assert weights.shape == (2, 4, 3, 6)


def test_mha_fast_path_equals_explicit_path_with_gradients():
    ours, _ = make_pair()
    x = randn(2, 5, 16, seed=1)
    mask = padding_mask(torch.tensor([5, 2])) & causal_mask(5)
    grads = []
    for need_weights in (True, False):
        xi = x.clone().requires_grad_()
        out, weights = ours(xi, xi, xi, mask=mask, need_weights=need_weights)
        assert (weights is None) == (not need_weights)
        out.pow(2).sum().backward()
        grads.append((out.detach(), xi.grad, ours.q_proj.weight.grad.clone()))
        ours.zero_grad()
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, **TOL)


def test_mha_causal_mask_property_future_tokens_do_not_matter():
    ours, _ = make_pair()
    x = randn(2, 6, 16, seed=1)
    x_changed = x.clone()
    x_changed[:, 4:] = randn(2, 2, 16, seed=9)
    mask = causal_mask(6)
    for need_weights in (True, False):
        out = ours(x, x, x, mask, need_weights=need_weights)[0]
        out_changed = ours(x_changed, x_changed, x_changed, mask, need_weights=need_weights)[0]
        torch.testing.assert_close(out[:, :4], out_changed[:, :4], **TOL)
        assert not torch.allclose(out[:, 4:], out_changed[:, 4:]), "the changed positions themselves must change"


def test_mha_padding_property_padded_keys_do_not_matter():
    ours, _ = make_pair()
    memory = randn(2, 6, 16, seed=1)
    query = randn(2, 3, 16, seed=2)
    lengths = torch.tensor([4, 6])
    memory_changed = memory.clone()
    memory_changed[0, 4:] = 100.0  # padding of example 0
    mask = padding_mask(lengths)
    out = ours(query, memory, memory, mask)[0]
    out_changed = ours(query, memory_changed, memory_changed, mask)[0]
    torch.testing.assert_close(out, out_changed, **TOL)


def test_mha_weights_in_training_mode_still_sum_to_one():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4, dropout=0.5).train()
    x = torch.randn(2, 5, 16)
    out, weights = mha(x, x, x, causal_mask(5))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
    out_fast, _ = mha(x, x, x, causal_mask(5), need_weights=False)
    assert out.shape == out_fast.shape == (2, 5, 16)


def test_mha_errors():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 4)
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="batch, seq, d_model"):
        mha(x[0], x[0], x[0])
    with pytest.raises(ValueError, match="d_model=16"):
        mha(torch.randn(2, 5, 8), x, x)
    with pytest.raises(ValueError, match=r"mask\[:, None\]"):
        mha(x, x, x, torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean"):
        mha(x, x, x, torch.ones(5, 5), need_weights=False)
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(x, x, x, torch.ones(4, 4, dtype=torch.bool), need_weights=False)


def test_sdpa_keys_hidden_by_the_mask_do_not_matter():
    # Any key masked for every query (here a random key mask, broadcast over heads and
    # queries) can be changed, key and value, without changing any output.
    q, k, v = randn(3, 2, 5, 8, seed=1), randn(3, 2, 7, 8, seed=2), randn(3, 2, 7, 4, seed=3)
    keep = torch.rand(3, 1, 1, 7, generator=torch.Generator().manual_seed(4)) > 0.4
    keep[..., 0] = True  # every query keeps at least one key
    out, weights = scaled_dot_product_attention(q, k, v, keep)
    hidden = ~keep.transpose(-2, -1)  # (3, 1, 7, 1): per key, broadcast over heads and features
    k2 = torch.where(hidden, randn(3, 2, 7, 8, seed=5) * 10, k)
    v2 = torch.where(hidden, randn(3, 2, 7, 4, seed=6) * 10, v)
    out2, weights2 = scaled_dot_product_attention(q, k2, v2, keep)
    torch.testing.assert_close(out2, out, **TOL)
    torch.testing.assert_close(weights2, weights, **TOL)
    assert not torch.equal(k2, k), "the test must change something"


def test_mha_without_positions_is_permutation_equivariant():
    # Self-attention has no notion of order: permuting the tokens permutes the outputs.
    ours, _ = make_pair()
    x = randn(2, 6, 16, seed=1)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out, weights = ours(x, x, x)
    out_p, weights_p = ours(x[:, perm], x[:, perm], x[:, perm])
    torch.testing.assert_close(out_p, out[:, perm], **TOL)
    torch.testing.assert_close(weights_p, weights[:, :, perm][:, :, :, perm], **TOL)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n,radius", [(1, 2), (7, 2), (20, 5), (6, 10)])
def test_local_attention_is_attention_with_a_band_mask(n, radius, causal):
    """Restricted self-attention equals torch's attention with the band mask it implies."""
    g = torch.Generator().manual_seed(n * 31 + radius)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64) for _ in range(3))
    offset = torch.arange(n)[:, None] - torch.arange(n)[None, :]  # query position - key position
    band = (offset <= radius) & (offset >= (0 if causal else -radius))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
    assert torch.allclose(local_attention(q, k, v, radius, causal=causal), expected, atol=1e-12)
