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


# ----------------------------------------------------------------- HuggingFace GPT-2 -> course_lib.gpt.GPT

import os  # noqa: E402 (imports kept in this section: they concern GPT only)

from course_lib.gpt import GPT, GPTConfig  # noqa: E402

__all__ += ["gpt_from_hf", "load_gpt2"]

# GPT-2's tanh-approximated GELU goes by three names in transformers.
_GPT2_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def gpt_from_hf(hf_model) -> GPT:
    """Our GPT with the weights of a ``transformers.GPT2LMHeadModel``: the same logits.

    GPT-2 stores its projections as ``Conv1D`` layers whose weight is
    (in_features, out_features), the transpose of ``nn.Linear``'s, so every
    matrix is transposed on the way. The names otherwise line up: ``wte`` is our
    ``tok_emb``, ``wpe`` our ``pos_emb``, ``h[i]`` our ``blocks[i]``, and
    ``mlp.c_fc``/``mlp.c_proj`` our ``mlp.linear1``/``mlp.linear2``. Our single
    dropout rate is GPT-2's ``resid_pdrop`` (all three rates are 0.1 in GPT-2).

    Configurations our GPT does not implement are refused with a ValueError
    (another activation, n_inner != 4 * n_embd, LayerNorm eps != 1e-5, scaled
    or cross attention, an untied output layer) rather than converted
    approximately. The result has the source's dtype, device and train/eval mode.
    """
    where = "gpt_from_hf"
    cfg = getattr(hf_model, "config", None)
    if getattr(cfg, "model_type", None) != "gpt2" or not hasattr(hf_model, "lm_head"):
        raise ValueError(f"{where}: expected a transformers.GPT2LMHeadModel, got {type(hf_model).__name__}")
    problems = []
    if cfg.activation_function not in _GPT2_TANH_GELUS:
        problems.append(f"activation_function={cfg.activation_function!r} (ours is GPT-2's tanh GELU)")
    if cfg.n_inner is not None and cfg.n_inner != 4 * cfg.n_embd:
        problems.append(f"n_inner={cfg.n_inner} (ours is 4 * n_embd = {4 * cfg.n_embd})")
    if cfg.layer_norm_epsilon != 1e-5:
        problems.append(f"layer_norm_epsilon={cfg.layer_norm_epsilon} (ours is 1e-5)")
    if not cfg.scale_attn_weights or cfg.scale_attn_by_inverse_layer_idx:
        problems.append("attention scaled other than by 1/sqrt(head_dim)")
    if getattr(cfg, "add_cross_attention", False):
        problems.append("add_cross_attention=True")
    wte = hf_model.transformer.wte.weight
    if hf_model.lm_head.weight is not wte and not torch.equal(hf_model.lm_head.weight, wte):
        problems.append("lm_head is not tied to the token embedding")
    if problems:
        raise ValueError(f"{where}: not supported: " + "; ".join(problems))

    config = GPTConfig(vocab_size=cfg.vocab_size, block_size=cfg.n_positions, n_layer=cfg.n_layer,
                       n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.resid_pdrop, bias=True)
    ours = GPT(config).to(device=wte.device, dtype=wte.dtype)
    hf = hf_model.transformer
    _copy(ours.tok_emb.weight, hf.wte.weight)  # also the output layer (tied)
    _copy(ours.pos_emb.weight, hf.wpe.weight)
    for mine, theirs in zip(ours.blocks, hf.h):
        for dst, src in ((mine.attn.c_attn, theirs.attn.c_attn), (mine.attn.c_proj, theirs.attn.c_proj),
                         (mine.mlp.linear1, theirs.mlp.c_fc), (mine.mlp.linear2, theirs.mlp.c_proj)):
            _copy(dst.weight, src.weight.T)  # Conv1D (in, out) -> Linear (out, in)
            _copy(dst.bias, src.bias)
        _copy_norm(mine.ln_1, theirs.ln_1)
        _copy_norm(mine.ln_2, theirs.ln_2)
    _copy_norm(ours.ln_f, hf.ln_f)
    ours.train(hf_model.training)
    return ours


def load_gpt2(local_dir: str | os.PathLike) -> GPT:
    """Our GPT with GPT-2 weights from a folder on disk; never downloads.

    The folder is one written by ``GPT2LMHeadModel.save_pretrained(folder)``
    (config.json and model.safetensors), e.g. a copy of the "gpt2" model
    fetched once on a machine with internet access::

        from course_lib.interop import load_gpt2
        model = load_gpt2("models/gpt2")             # 124M parameters, eval mode
        from transformers import GPT2TokenizerFast      # GPT-2's own BPE, not ours
        tok = GPT2TokenizerFast.from_pretrained("models/gpt2", local_files_only=True)
        idx = torch.tensor([tok.encode("The meaning of life is")])
        print(tok.decode(model.generate(idx, 20, top_k=1)[0]))

    which is the same as ``gpt_from_hf(GPT2LMHeadModel.from_pretrained(folder))``.
    """
    try:  # an optional extra: imported only when used
        from transformers import GPT2LMHeadModel
    except ImportError:
        raise ImportError("load_gpt2 needs the optional package transformers: "
                          "pip install -e '.[hf]'") from None
    folder = os.path.expanduser(os.fspath(local_dir))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no folder {folder!r}: save GPT-2 there with GPT2LMHeadModel.save_pretrained")
    hf_model = GPT2LMHeadModel.from_pretrained(folder, local_files_only=True)
    return gpt_from_hf(hf_model.eval())


# ----------------------------------------------------------------- HuggingFace BERT -> course_lib.bert.BertForMaskedLM

from course_lib.bert import BertConfig, BertForMaskedLM  # noqa: E402

__all__ += ["bert_from_hf"]


def bert_from_hf(hf_model) -> BertForMaskedLM:
    """Our BertForMaskedLM with the weights of a ``transformers.BertForMaskedLM``.

    Call ours with the same ``input_ids``, ``token_type_ids`` and
    ``attention_mask`` (both use 1 = real token, 0 = padding) to get the same
    logits. Names map one to one: HuggingFace's ``attention.self.query`` is our
    ``self_attn.q_proj``, ``attention.output`` our ``self_attn.out_proj`` and
    ``norm1``, ``intermediate``/``output`` our ``ff.linear1``/``ff.linear2`` and
    ``norm2``, ``cls.predictions.transform`` our ``mlm_head``. HuggingFace has
    two dropout rates (hidden and attention probabilities); ours uses the
    hidden one for both, which only matters in training mode.

    Configurations our BERT does not implement (relative position embeddings,
    a decoder, activations other than GELU, untied output embeddings) are
    refused with a ValueError rather than converted approximately.
    """
    where = "bert_from_hf"
    if type(hf_model).__name__ != "BertForMaskedLM" or not hasattr(hf_model, "bert") or not hasattr(hf_model, "cls"):
        raise TypeError(f"{where}: expected a transformers.BertForMaskedLM, got {type(hf_model).__name__}")
    cfg = hf_model.config
    activations = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
    if not isinstance(cfg.hidden_act, str) or cfg.hidden_act not in activations:
        raise ValueError(f"{where}: hidden_act must be one of {sorted(activations)}, got {cfg.hidden_act!r}")
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{where}: only absolute position embeddings are supported, "
                         f"got {cfg.position_embedding_type!r}")
    if getattr(cfg, "is_decoder", False) or getattr(cfg, "add_cross_attention", False):
        raise ValueError(f"{where}: decoder / cross-attention BERTs are not supported")
    hf = hf_model.bert
    word = hf.embeddings.word_embeddings.weight
    decoder = hf_model.cls.predictions.decoder
    if decoder.weight is not word and not torch.equal(decoder.weight, word):
        raise ValueError(f"{where}: the output layer is not tied to the word embeddings "
                         "(tie_word_embeddings=False); our BertForMaskedLM always ties them")

    config = BertConfig(
        vocab_size=cfg.vocab_size,
        max_position=cfg.max_position_embeddings,
        n_layer=cfg.num_hidden_layers,
        n_head=cfg.num_attention_heads,
        d_model=cfg.hidden_size,
        d_ff=cfg.intermediate_size,
        type_vocab_size=cfg.type_vocab_size,
        dropout=cfg.hidden_dropout_prob,
        layer_norm_eps=cfg.layer_norm_eps,
        activation=activations[cfg.hidden_act],
        pad_id=cfg.pad_token_id if cfg.pad_token_id is not None else 0,
        init_std=cfg.initializer_range,
    )
    ours = BertForMaskedLM(config).to(device=word.device, dtype=word.dtype)

    def copy(dst: torch.Tensor, src: torch.Tensor) -> None:
        if dst.shape != src.shape:
            raise ValueError(f"{where}: shape mismatch {tuple(dst.shape)} vs {tuple(src.shape)}")
        with torch.no_grad():
            dst.copy_(src)

    def copy_module(dst: torch.nn.Module, src: torch.nn.Module) -> None:  # Linear or LayerNorm
        copy(dst.weight, src.weight)
        copy(dst.bias, src.bias)

    emb, hf_emb = ours.bert.embeddings, hf.embeddings
    copy(emb.word_embeddings.weight, hf_emb.word_embeddings.weight)  # also the tied decoder weight
    copy(emb.position_embeddings.weight, hf_emb.position_embeddings.weight)
    copy(emb.token_type_embeddings.weight, hf_emb.token_type_embeddings.weight)
    copy_module(emb.norm, hf_emb.LayerNorm)
    for layer, hf_layer in zip(ours.bert.layers, hf.encoder.layer):
        attn, hf_attn = layer.self_attn, hf_layer.attention
        copy_module(attn.q_proj, hf_attn.self.query)
        copy_module(attn.k_proj, hf_attn.self.key)
        copy_module(attn.v_proj, hf_attn.self.value)
        copy_module(attn.out_proj, hf_attn.output.dense)
        copy_module(layer.norm1, hf_attn.output.LayerNorm)
        copy_module(layer.ff.linear1, hf_layer.intermediate.dense)
        copy_module(layer.ff.linear2, hf_layer.output.dense)
        copy_module(layer.norm2, hf_layer.output.LayerNorm)
    head, hf_head = ours.mlm_head, hf_model.cls.predictions
    copy_module(head.dense, hf_head.transform.dense)
    copy_module(head.norm, hf_head.transform.LayerNorm)
    copy(head.decoder.bias, hf_head.decoder.bias if hf_head.decoder.bias is not None else hf_head.bias)
    ours.train(hf_model.training)
    return ours
