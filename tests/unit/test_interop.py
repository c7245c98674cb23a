"""course_lib.interop: modules built from torch.nn ones compute the same outputs (float64, 1e-6)."""
from __future__ import annotations

import pytest
import torch
from helpers.tensors import DT, TOL, randn
from torch import nn

from course_lib.attention import MultiHeadAttention, causal_mask, padding_mask
from course_lib.interop import decoder_layer_from_torch, encoder_layer_from_torch, mha_from_torch
from course_lib.transformer import DecoderLayer, EncoderLayer


def randomise_(module: nn.Module, seed: int = 0) -> nn.Module:
    """torch zero-initialises biases and sets norms to 1/0; random values make every copy count."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return module


LENGTHS = torch.tensor([6, 4, 1])
PAD = ~padding_mask(LENGTHS)[:, 0, 0]  # torch's convention: True = padding


@pytest.mark.parametrize("bias", [True, False])
def test_mha_from_torch(bias):
    theirs = randomise_(nn.MultiheadAttention(16, 4, bias=bias, batch_first=True, dtype=DT)).eval()
    ours = mha_from_torch(theirs)
    assert isinstance(ours, MultiHeadAttention) and not ours.training
    assert ours.q_proj.weight.dtype == DT
    x, memory = randn(3, 6, 16, seed=1), randn(3, 6, 16, seed=2)
    keep = padding_mask(LENGTHS)
    # Self-attention with padding and causal masks.
    out, weights = ours(x, x, x, mask=keep & causal_mask(6))
    exp_out, exp_w = theirs(x, x, x, key_padding_mask=PAD, attn_mask=~causal_mask(6), average_attn_weights=False)
    torch.testing.assert_close(out, exp_out, **TOL)
    torch.testing.assert_close(weights, exp_w, **TOL)
    # Cross-attention through the fast path.
    out, _ = ours(x[:, :4], memory, memory, mask=keep, need_weights=False)
    exp_out, _ = theirs(x[:, :4], memory, memory, key_padding_mask=PAD, need_weights=False)
    torch.testing.assert_close(out, exp_out, **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", nn.GELU(approximate="tanh")])
def test_encoder_layer_from_torch(norm_first, activation):
    theirs = nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True, dtype=DT
    )
    theirs = randomise_(theirs).eval()
    ours = encoder_layer_from_torch(theirs)
    assert isinstance(ours, EncoderLayer) and ours.norm_first == norm_first
    x = randn(3, 6, 16, seed=1)
    out = ours(x, padding_mask(LENGTHS))
    expected = theirs(x, src_key_padding_mask=PAD)
    real = ~PAD  # torch's inference fast path may zero padded positions; compare real tokens
    torch.testing.assert_close(out[real], expected[real], **TOL)
    # The same with gradients, through torch's regular path, and param grads too.
    theirs.train()
    ours.train()
    out = ours(x, padding_mask(LENGTHS))
    expected = theirs(x, src_key_padding_mask=PAD)
    torch.testing.assert_close(out[real], expected[real], **TOL)
    out[real].sum().backward()
    expected[real].sum().backward()
    torch.testing.assert_close(ours.ff.linear1.weight.grad, theirs.linear1.weight.grad, **TOL)
    torch.testing.assert_close(ours.self_attn.k_proj.weight.grad, theirs.self_attn.in_proj_weight.grad[16:32], **TOL)


def test_encoder_layer_from_torch_without_bias():
    theirs = randomise_(nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, bias=False, batch_first=True, dtype=DT))
    theirs.eval()
    ours = encoder_layer_from_torch(theirs)
    assert ours.norm1.bias is None and ours.ff.linear1.bias is None
    x = randn(2, 5, 16, seed=1)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_from_torch(norm_first, activation):
    theirs = nn.TransformerDecoderLayer(
        16, 4, 32, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True, dtype=DT
    )
    theirs = randomise_(theirs).eval()
    ours = decoder_layer_from_torch(theirs)
    assert isinstance(ours, DecoderLayer) and ours.norm_first == norm_first
    x, memory = randn(3, 5, 16, seed=1), randn(3, 6, 16, seed=2)
    out = ours(x, memory, tgt_mask=causal_mask(5), memory_mask=padding_mask(LENGTHS))
    expected = theirs(x, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=PAD)
    torch.testing.assert_close(out, expected, **TOL)
    # torch's float -inf causal mask means the same.
    float_mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=DT)
    expected = theirs(x, memory, tgt_mask=float_mask, memory_key_padding_mask=PAD)
    torch.testing.assert_close(out, expected, **TOL)


def test_interop_refuses_unsupported_configs():
    with pytest.raises(ValueError, match="batch_first=True"):
        mha_from_torch(nn.MultiheadAttention(16, 4))
    with pytest.raises(ValueError, match="batch_first=True"):
        encoder_layer_from_torch(nn.TransformerEncoderLayer(16, 4, 32))
    with pytest.raises(ValueError, match="batch_first=True"):
        decoder_layer_from_torch(nn.TransformerDecoderLayer(16, 4, 32))
    with pytest.raises(ValueError, match="kdim"):
        mha_from_torch(nn.MultiheadAttention(16, 4, kdim=8, vdim=8, batch_first=True))
    with pytest.raises(ValueError, match="add_bias_kv"):
        mha_from_torch(nn.MultiheadAttention(16, 4, add_bias_kv=True, batch_first=True))
    with pytest.raises(ValueError, match="ReLU and GELU"):
        encoder_layer_from_torch(nn.TransformerEncoderLayer(16, 4, 32, activation=torch.tanh, batch_first=True))


def test_interop_keeps_dropout_and_mode():
    theirs = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.2, batch_first=True)
    ours = encoder_layer_from_torch(theirs)
    assert ours.training and ours.self_attn.dropout == 0.2 and ours.dropout.p == 0.2
    assert ours.ff.linear1.weight.dtype == torch.float32
