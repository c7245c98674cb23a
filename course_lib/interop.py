"""Build course_lib modules from other libraries' modules, with the same weights.

Each ``*_from_torch`` function returns our module with the same dtype, device
and parameters as the given torch.nn module, so both compute the same outputs
(the tests check to 1e-6 in float64). Two conventions differ and are worth
knowing when comparing:

* masks: ours are True = may attend; nn.MultiheadAttention's ``attn_mask`` and
  ``key_padding_mask`` are True = NOT allowed, so pass ``~mask`` to torch;
* weights: torch stacks the query, key and value projections in one
  ``in_proj_weight`` of shape (3 * d_model, d_model), in that order.

Configurations our modules do not implement are refused with a ValueError
rather than converted approximately.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import MultiHeadAttention
from course_lib.transformer import DecoderLayer, EncoderLayer

__all__ = ["mha_from_torch", "encoder_layer_from_torch", "decoder_layer_from_torch"]


# --------------------------------------------------------------------------- torch.nn


def _copy(dst: torch.Tensor, src: torch.Tensor) -> None:
    with torch.no_grad():
        dst.copy_(src)


def _check_mha(theirs: nn.MultiheadAttention, where: str) -> None:
    if not theirs.batch_first:
        raise ValueError(
            f"{where}: batch_first=False is not supported; course_lib is batch first. "
            "Build the torch module with batch_first=True."
        )
    if not theirs._qkv_same_embed_dim:
        raise ValueError(f"{where}: kdim/vdim different from embed_dim are not supported")
    if theirs.bias_k is not None or theirs.add_zero_attn:
        raise ValueError(f"{where}: add_bias_kv=True and add_zero_attn=True are not supported")


def _load_mha(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    q_w, k_w, v_w = theirs.in_proj_weight.chunk(3, dim=0)
    for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), (q_w, k_w, v_w)):
        _copy(proj.weight, w)
    if theirs.in_proj_bias is not None:
        for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
            _copy(proj.bias, b)
    _copy(ours.out_proj.weight, theirs.out_proj.weight)
    if theirs.out_proj.bias is not None:
        _copy(ours.out_proj.bias, theirs.out_proj.bias)


def mha_from_torch(mha: nn.MultiheadAttention) -> MultiHeadAttention:
    """Our MultiHeadAttention with the weights of ``mha`` (which must be batch_first=True).

    Call ours with ``mask`` (True = may attend) where torch gets
    ``attn_mask=~mask`` or ``key_padding_mask=~keep``; torch averages the weights
    over heads unless ``average_attn_weights=False``.
    """
    _check_mha(mha, "mha_from_torch")
    bias = mha.in_proj_bias is not None
    ours = MultiHeadAttention(mha.embed_dim, mha.num_heads, dropout=mha.dropout, bias=bias)
    ours.to(device=mha.in_proj_weight.device, dtype=mha.in_proj_weight.dtype)
    _load_mha(ours, mha)
    ours.train(mha.training)
    return ours


def _activation_name(layer: nn.Module, where: str) -> str:
    act = layer.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        return "relu"
    if act is F.gelu:
        return "gelu"
    if isinstance(act, nn.GELU):
        return "gelu" if act.approximate == "none" else "gelu_tanh"
    raise ValueError(f"{where}: only ReLU and GELU activations are supported, got {act!r}")


def _layer_config(layer: nn.Module, where: str) -> dict:
    _check_mha(layer.self_attn, where)
    if hasattr(layer, "multihead_attn"):
        _check_mha(layer.multihead_attn, where)
    if not isinstance(layer.norm1, nn.LayerNorm):
        raise ValueError(f"{where}: expected nn.LayerNorm norms, got {type(layer.norm1).__name__}")
    if not layer.norm1.elementwise_affine:
        raise ValueError(f"{where}: LayerNorm without elementwise_affine is not supported")
    return dict(
        d_model=layer.linear1.in_features,
        num_heads=layer.self_attn.num_heads,
        d_ff=layer.linear1.out_features,
        dropout=layer.dropout.p,
        norm_first=layer.norm_first,
        activation=_activation_name(layer, where),
        eps=layer.norm1.eps,
        bias=layer.linear1.bias is not None,
    )


def _copy_linear(ours: nn.Linear, theirs: nn.Linear) -> None:
    _copy(ours.weight, theirs.weight)
    if theirs.bias is not None:
        _copy(ours.bias, theirs.bias)


def _copy_norm(ours: nn.Module, theirs: nn.LayerNorm) -> None:
    _copy(ours.weight, theirs.weight)
    if theirs.bias is not None:
        _copy(ours.bias, theirs.bias)


def encoder_layer_from_torch(layer: nn.TransformerEncoderLayer) -> EncoderLayer:
    """Our EncoderLayer with the weights and configuration (post-/pre-LN, ReLU/GELU) of ``layer``.

    Pass ours ``mask=padding_mask(key_padding=pad)`` where torch gets
    ``src_key_padding_mask=pad``.
    """
    where = "encoder_layer_from_torch"
    ours = EncoderLayer(**_layer_config(layer, where))
    weight = layer.linear1.weight
    ours.to(device=weight.device, dtype=weight.dtype)
    _load_mha(ours.self_attn, layer.self_attn)
    _copy_linear(ours.ff.linear1, layer.linear1)
    _copy_linear(ours.ff.linear2, layer.linear2)
    _copy_norm(ours.norm1, layer.norm1)
    _copy_norm(ours.norm2, layer.norm2)
    ours.train(layer.training)
    return ours


def decoder_layer_from_torch(layer: nn.TransformerDecoderLayer) -> DecoderLayer:
    """Our DecoderLayer with the weights and configuration of ``layer``.

    torch's ``multihead_attn`` becomes our ``cross_attn``. Pass ours
    ``tgt_mask=causal_mask(tgt)`` where torch gets ``tgt_mask=~causal_mask(tgt)``
    (or ``nn.Transformer.generate_square_subsequent_mask``, a float -inf mask).
    """
    where = "decoder_layer_from_torch"
    ours = DecoderLayer(**_layer_config(layer, where))
    weight = layer.linear1.weight
    ours.to(device=weight.device, dtype=weight.dtype)
    _load_mha(ours.self_attn, layer.self_attn)
    _load_mha(ours.cross_attn, layer.multihead_attn)
    _copy_linear(ours.ff.linear1, layer.linear1)
    _copy_linear(ours.ff.linear2, layer.linear2)
    _copy_norm(ours.norm1, layer.norm1)
    _copy_norm(ours.norm2, layer.norm2)
    _copy_norm(ours.norm3, layer.norm3)
    ours.train(layer.training)
    return ours


# --------------------------------------------------------------------------- HuggingFace
#
# gpt_from_hf(transformers.GPT2LMHeadModel) -> course_lib.gpt.GPT and
# bert_from_hf(transformers.BertForMaskedLM) -> course_lib.bert.BertForMaskedLM
# go here. transformers is an optional extra: import it inside those functions,
# never at module level, so that this module imports without it.
