"""course_lib.transformer: building blocks against torch, masks as properties, a quick training run."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers.tensors import DT, TOL, randn
from torch import nn

from course_lib.attention import causal_mask, padding_mask
from course_lib.transformer import (
    DecoderLayer,
    EncoderLayer,
    LabelSmoothingLoss,
    LayerNorm,
    LearnedPositionalEmbedding,
    PositionwiseFeedForward,
    SinusoidalPositionalEncoding,
    Transformer,
    attention_maps,
    label_smoothed_cross_entropy,
    positional_encoding,
    warmup_inverse_sqrt_lr,
    warmup_inverse_sqrt_scheduler,
)

# --------------------------------------------------------------------------- positions


@pytest.mark.parametrize("d_model", [16, 7])
def test_positional_encoding_known_values(d_model):
    pe = positional_encoding(50, d_model)
    assert pe.shape == (50, d_model)
    for pos in (0, 1, 13, 49):
        for i in range(0, d_model, 2):  # i is the even dim 2k
            angle = pos / 10000 ** (i / d_model)
            assert pe[pos, i].item() == pytest.approx(math.sin(angle), abs=1e-6), f"PE[{pos}, {i}] should be sin"
            if i + 1 < d_model:
                assert pe[pos, i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6), f"PE[{pos}, {i + 1}] should be cos"
    assert torch.equal(pe[0, 0::2], torch.zeros_like(pe[0, 0::2])) and torch.equal(pe[0, 1::2], torch.ones_like(pe[0, 1::2]))


def test_positional_modules_add_positions():
    x = torch.zeros(2, 5, 8)
    torch.testing.assert_close(SinusoidalPositionalEncoding(10, 8)(x), positional_encoding(10, 8)[:5].expand(2, 5, 8))
    learned = LearnedPositionalEmbedding(10, 8)
    torch.testing.assert_close(learned(x), learned.weight[:5].expand(2, 5, 8))
    with pytest.raises(ValueError, match="longer than max_len=4"):
        SinusoidalPositionalEncoding(4, 8)(x)
    assert "pe" not in SinusoidalPositionalEncoding(4, 8).state_dict()


# --------------------------------------------------------------------------- LayerNorm, FFN


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_matches_torch(bias):
    ours = LayerNorm(12, eps=1e-5, bias=bias).to(DT)
    theirs = nn.LayerNorm(12, eps=1e-5, bias=bias, dtype=DT)
    with torch.no_grad():
        theirs.weight.copy_(randn(12, seed=1))
        if bias:
            theirs.bias.copy_(randn(12, seed=2))
    ours.load_state_dict(theirs.state_dict())
    x = (randn(3, 4, 12, seed=3) * 5 + 2).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    out, expected = ours(x), theirs(x2)
    torch.testing.assert_close(out, expected, **TOL)
    out.pow(3).sum().backward()
    expected.pow(3).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, **TOL)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **TOL)


def test_layernorm_normalises_each_position_not_the_batch():
    x = randn(2, 3, 8) * torch.arange(1, 4, dtype=DT)[None, :, None]
    y = LayerNorm(8).to(DT)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 3, dtype=DT), **TOL)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(2, 3, dtype=DT), atol=1e-4, rtol=0)


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_feed_forward(activation):
    ff = PositionwiseFeedForward(8, 32, activation=activation).to(DT)
    x = randn(2, 5, 8)
    act = {"relu": F.relu, "gelu": F.gelu, "gelu_tanh": lambda h: F.gelu(h, approximate="tanh")}[activation]
    torch.testing.assert_close(ff(x), ff.linear2(act(ff.linear1(x))), **TOL)
    # Position-wise: each position is transformed on its own.
    torch.testing.assert_close(ff(x[:, 2:3]), ff(x)[:, 2:3], **TOL)
    with pytest.raises(ValueError, match="activation"):
        PositionwiseFeedForward(8, 32, activation="swish")


# --------------------------------------------------------------------------- layers, masks as properties


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_padding_property(norm_first):
    torch.manual_seed(0)
    layer = EncoderLayer(16, 4, 32, norm_first=norm_first).to(DT).eval()
    x = randn(2, 6, 16, seed=1)
    lengths = torch.tensor([4, 6])
    x_changed = x.clone()
    x_changed[0, 4:] = randn(2, 16, seed=5) * 10
    mask = padding_mask(lengths)
    out, out_changed = layer(x, mask), layer(x_changed, mask)
    torch.testing.assert_close(out[0, :4], out_changed[0, :4], **TOL)
    torch.testing.assert_close(out[1], out_changed[1], **TOL)
    # Without the mask, padding leaks into real positions.
    assert not torch.allclose(layer(x)[0, :4], layer(x_changed)[0, :4])


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_causal_property(norm_first):
    torch.manual_seed(0)
    layer = DecoderLayer(16, 4, 32, norm_first=norm_first).to(DT).eval()
    x, memory = randn(2, 6, 16, seed=1), randn(2, 5, 16, seed=2)
    x_changed = x.clone()
    x_changed[:, 3:] = randn(2, 3, 16, seed=3)
    memory_changed = memory.clone()
    memory_changed[1, 3:] = 50.0  # padding of example 1
    tgt_mask = causal_mask(6)
    memory_mask = padding_mask(torch.tensor([5, 3]))
    out = layer(x, memory, tgt_mask, memory_mask)
    out_changed = layer(x_changed, memory_changed, tgt_mask, memory_mask)
    torch.testing.assert_close(out[:, :3], out_changed[:, :3], **TOL)
    assert not torch.allclose(out[:, 3:], out_changed[:, 3:])


def test_decoder_layer_queries_come_from_decoder_and_keys_from_memory():
    torch.manual_seed(0)
    layer = DecoderLayer(16, 4, 32).to(DT).eval()
    layer.record_attention = True
    layer(randn(2, 6, 16), randn(2, 9, 16), causal_mask(6))
    assert layer.self_attn_weights.shape == (2, 4, 6, 6)
    assert layer.cross_attn_weights.shape == (2, 4, 6, 9)


# --------------------------------------------------------------------------- the model


def tiny_model(**kwargs):
    torch.manual_seed(0)
    config = dict(src_vocab=11, tgt_vocab=11, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0, max_len=20)
    config.update(kwargs)
    return Transformer(**config).eval()


def test_transformer_shapes_and_weight_sharing():
    model = tiny_model()
    src, tgt_in = torch.randint(0, 11, (3, 7)), torch.randint(0, 11, (3, 5))
    assert model(src, tgt_in).shape == (3, 5, 11)
    assert model.src_embed.weight is model.tgt_embed.weight is model.lm_head.weight
    other = tiny_model(tgt_vocab=13)
    assert other(src, tgt_in).shape == (3, 5, 13)
    assert other.tgt_embed.weight is other.lm_head.weight and other.src_embed is not other.tgt_embed
    unshared = tiny_model(share_embeddings=False)
    assert unshared.lm_head.weight is not unshared.tgt_embed.weight
    assert sum(p.numel() for p in unshared.parameters()) > sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("norm_first,positional", [(False, "sinusoidal"), (True, "learned")])
def test_transformer_decoder_is_causal_and_ignores_source_padding(norm_first, positional):
    model = tiny_model(norm_first=norm_first, positional=positional, pad_id=0)
    src = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    tgt_in = torch.tensor([[1, 4, 5, 6], [1, 2, 3, 4]])
    logits = model(src, tgt_in)  # no tgt_mask: the decoder is causal anyway
    future = tgt_in.clone()
    future[:, 2:] = 10
    torch.testing.assert_close(model(src, future)[:, :2], logits[:, :2])
    # Explicit masks give the same as the pad_id default ...
    keep = padding_mask(key_padding=src == 0)
    torch.testing.assert_close(model(src, tgt_in, keep, causal_mask(4)), logits)
    # ... and under the mask, what sits in the padded positions is irrelevant.
    other_padding = src.clone()
    other_padding[0, 3:] = 9
    torch.testing.assert_close(model(other_padding, tgt_in, keep)[0], logits[0])
    # encode + decode is forward.
    torch.testing.assert_close(model.decode(tgt_in, model.encode(src, keep), keep), logits)


def test_attention_maps_per_layer_and_head():
    model = tiny_model()
    src, tgt_in = torch.randint(1, 11, (2, 7)), torch.randint(1, 11, (2, 5))
    maps = attention_maps(model, src, tgt_in)
    assert list(maps) == [
        "encoder.layers.0.self_attn",
        "encoder.layers.1.self_attn",
        "decoder.layers.0.self_attn",
        "decoder.layers.0.cross_attn",
        "decoder.layers.1.self_attn",
        "decoder.layers.1.cross_attn",
    ]
    assert maps["encoder.layers.0.self_attn"].shape == (2, 2, 7, 7)
    assert maps["decoder.layers.1.cross_attn"].shape == (2, 2, 5, 7)
    assert (maps["decoder.layers.0.self_attn"][..., ~causal_mask(5)] == 0).all()
    assert not any(layer.record_attention for layer in model.encoder.layers)


# --------------------------------------------------------------------------- training pieces


def test_warmup_schedule_formula_and_peak():
    d_model, warmup = 512, 4000
    lrs = [warmup_inverse_sqrt_lr(s, d_model, warmup) for s in range(1, 3 * warmup)]
    assert max(range(len(lrs)), key=lrs.__getitem__) + 1 == warmup, "peak must be at step == warmup"
    assert lrs[0] == pytest.approx(d_model**-0.5 * warmup**-1.5)
    assert lrs[warmup - 1] == pytest.approx(d_model**-0.5 * warmup**-0.5)
    assert warmup_inverse_sqrt_lr(4 * warmup, d_model, warmup) == pytest.approx(lrs[warmup - 1] / 2)
    with pytest.raises(ValueError, match="from 1"):
        warmup_inverse_sqrt_lr(0, d_model, warmup)


def test_warmup_scheduler_drives_the_optimizer():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_inverse_sqrt_scheduler(opt, d_model=64, warmup=10, factor=2.0)
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [2.0 * warmup_inverse_sqrt_lr(s, 64, 10) for s in range(1, 21)]
    assert seen == pytest.approx(expected)


@pytest.mark.parametrize("ignore_index", [-100, 0])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_torch(smoothing, ignore_index):
    logits = randn(3, 6, 9, seed=1).requires_grad_()
    target = torch.randint(1, 9, (3, 6), generator=torch.Generator().manual_seed(2))
    target[0, 4:] = ignore_index
    target[2, 1:] = ignore_index
    for reduction in ("mean", "sum", "none"):
        ours = label_smoothed_cross_entropy(logits, target, smoothing, ignore_index, reduction)
        theirs = F.cross_entropy(
            logits.flatten(0, 1), target.flatten(), label_smoothing=smoothing, ignore_index=ignore_index,
            reduction=reduction,
        )
        torch.testing.assert_close(ours.flatten(), theirs.flatten(), **TOL)
    loss_fn = LabelSmoothingLoss(smoothing, ignore_index)
    (grad,) = torch.autograd.grad(loss_fn(logits, target), logits)
    (expected,) = torch.autograd.grad(
        F.cross_entropy(logits.flatten(0, 1), target.flatten(), label_smoothing=smoothing, ignore_index=ignore_index),
        logits,
    )
    torch.testing.assert_close(grad, expected, **TOL)


def test_tiny_transformer_learns_to_copy():
    """A sanity check that all the pieces train together: copy 8 digits."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    vocab, length, bos = 12, 8, 1  # 0 = pad, 1 = BOS, 2..11 = symbols
    model = Transformer(vocab, vocab, d_model=32, num_heads=2, num_layers=1, d_ff=64, dropout=0.0, max_len=16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def batch(n):
        src = torch.randint(2, vocab, (n, length), generator=g)
        tgt_in = torch.cat([torch.full((n, 1), bos), src[:, :-1]], dim=1)  # teacher forcing: shift right
        return src, tgt_in, src

    accuracy = 0.0
    for step in range(1, 401):
        src, tgt_in, tgt = batch(64)
        loss = label_smoothed_cross_entropy(model(src, tgt_in), tgt, smoothing=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            model.eval()
            with torch.no_grad():
                src, tgt_in, tgt = batch(256)
                accuracy = (model(src, tgt_in).argmax(-1) == tgt).float().mean().item()
            model.train()
            if accuracy >= 0.97:
                break
    assert accuracy >= 0.95, f"copy task token accuracy {accuracy:.3f} after {step} steps"


# --------------------------------------------------------------------------- ablation: no feed-forward sublayer


@pytest.mark.parametrize("norm_first", [False, True])
def test_d_ff_zero_leaves_the_feed_forward_sublayer_out(norm_first):
    torch.manual_seed(0)
    enc = EncoderLayer(16, 4, 0, norm_first=norm_first).to(DT).eval()
    dec = DecoderLayer(16, 4, 0, norm_first=norm_first).to(DT).eval()
    assert enc.ff is None and enc.norm2 is None and dec.ff is None and dec.norm3 is None
    x, memory = randn(2, 5, 16, seed=1), randn(2, 6, 16, seed=2)
    if norm_first:
        expected_enc = x + enc.self_attn(enc.norm1(x), enc.norm1(x), enc.norm1(x))[0]
        h = x + dec.self_attn(dec.norm1(x), dec.norm1(x), dec.norm1(x), causal_mask(5))[0]
        expected_dec = h + dec.cross_attn(dec.norm2(h), memory, memory)[0]
    else:
        expected_enc = enc.norm1(x + enc.self_attn(x, x, x)[0])
        h = dec.norm1(x + dec.self_attn(x, x, x, causal_mask(5))[0])
        expected_dec = dec.norm2(h + dec.cross_attn(h, memory, memory)[0])
    torch.testing.assert_close(enc(x), expected_enc, **TOL)
    torch.testing.assert_close(dec(x, memory, causal_mask(5)), expected_dec, **TOL)
    full = tiny_model(d_ff=32)
    ablated = tiny_model(d_ff=0)
    assert sum(p.numel() for p in ablated.parameters()) < sum(p.numel() for p in full.parameters())
    assert ablated(torch.randint(0, 11, (2, 4)), torch.randint(0, 11, (2, 3))).shape == (2, 3, 11)
    with pytest.raises(ValueError, match="d_ff"):
        EncoderLayer(16, 4, -1)


# --------------------------------------------------------------------------- decoding interface


def test_step_by_step_logits_equal_the_full_decoder():
    model = tiny_model(pad_id=0).to(DT)
    src = torch.tensor([[5, 6, 7, 2, 0, 0], [4, 9, 8, 7, 6, 2]])
    tgt_in = torch.tensor([[1, 4, 5, 6, 7], [1, 8, 8, 3, 9]])
    full = model(src, tgt_in)
    state = model.start_state(src)
    assert state.tokens.shape == (2, 0) and state.memory.shape == (2, 6, 16)
    for t in range(tgt_in.shape[1]):
        logits, state = model.step(tgt_in[:, t], state)
        torch.testing.assert_close(logits, full[:, t], **TOL)
    assert torch.equal(state.tokens, tgt_in)
    # Lengths give the same source mask as pad_id.
    by_lengths = model.start_state(src, torch.tensor([4, 6]))
    torch.testing.assert_close(by_lengths.memory, model.start_state(src).memory, **TOL)
    assert torch.equal(by_lengths.src_mask, model.start_state(src).src_mask)
    no_pad = tiny_model()  # no pad_id, no lengths: no mask at all
    assert no_pad.start_state(src).src_mask is None


def test_generate_is_greedy_decoding_and_beam_search_drives_the_model():
    from course_lib.decoding import beam_search, greedy_decode

    model = tiny_model(pad_id=0)
    src = torch.tensor([[5, 6, 7, 2, 0], [4, 9, 8, 7, 2]])
    out = model.generate(src, max_len=6)
    assert out.shape[0] == 2 and out.shape[1] <= 6
    torch.testing.assert_close(out, greedy_decode(model.step, model.start_state(src), 1, 2, 6, 2))
    # By hand: argmax of the full decoder on the growing prefix (until <eos>).
    for row in range(2):
        prefix = torch.tensor([[1]])
        for t in range(out.shape[1]):
            token = model(src[row:row + 1], prefix)[0, -1].argmax()
            assert out[row, t] == token
            if token == 2:
                break
            prefix = torch.cat([prefix, token.view(1, 1)], dim=1)
    # Beam search reorders the state (the prefix grows per hypothesis); beam 1 with alpha 0 is greedy.
    for row in range(2):
        best = beam_search(model.step, model.start_state(src[row:row + 1]), 1, 2, 6, beam_size=1, length_penalty=0.0)
        greedy = out[row].tolist()
        greedy = greedy[: greedy.index(2) + 1] if 2 in greedy else greedy
        assert best.tokens == greedy
    wide = beam_search(model.step, model.start_state(src[:1]), 1, 2, 6, beam_size=4)
    assert wide.score >= beam_search(model.step, model.start_state(src[:1]), 1, 2, 6, beam_size=1).score - 1e-6


def test_share_source_is_explicit_for_two_vocabularies_of_one_size():
    default = tiny_model()  # 11 and 11: one joint vocabulary by default
    assert default.src_embed.weight is default.tgt_embed.weight is default.lm_head.weight
    two_languages = tiny_model(share_source=False)
    assert two_languages.tgt_embed.weight is two_languages.lm_head.weight
    assert two_languages.src_embed.weight is not two_languages.tgt_embed.weight
    with pytest.raises(ValueError, match="share_source"):
        tiny_model(tgt_vocab=13, share_source=True)
