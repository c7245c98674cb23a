"""course_lib.seq2seq: shapes, masking properties, attention, and that the models learn."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.vocab import EOS_ID, PAD_ID, SOS_ID, Vocab, make_seq2seq_batch
from course_lib.decoding import beam_search
from course_lib.seq2seq import (
    AdditiveAttention,
    AttentionDecoder,
    Decoder,
    DotAttention,
    Encoder,
    GeneralAttention,
    Seq2Seq,
    Seq2SeqAttention,
    attention_context,
    evaluate_exact_match,
    length_mask,
    masked_cross_entropy,
    predict,
)

V_SRC, V_TGT = 13, 11


@pytest.fixture(autouse=True)
def _seeded():
    # one thread (tests/conftest.py) and a fixed seed keep results identical across machines
    torch.manual_seed(0)


def padded_batch():
    """src (3, 6) with lengths 6, 3, 1 and random ids >= 4 at real positions."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([6, 3, 1])
    src = torch.randint(4, V_SRC, (3, 6), generator=g)
    src[~length_mask(lengths, 6)] = PAD_ID
    tgt_in = torch.randint(4, V_TGT, (3, 5), generator=g)
    tgt_in[:, 0] = SOS_ID
    return src, lengths, tgt_in


def scramble_padding(src, lengths):
    other = src.clone()
    other[~length_mask(lengths, src.shape[1])] = 7
    return other


# --------------------------------------------------------------------------- chapter 2

@pytest.mark.parametrize("layers", [1, 2])
def test_encoder_shapes_and_padding(layers):
    enc = Encoder(V_SRC, 8, 16, num_layers=layers, dropout=0.1).eval()
    src, lengths, _ = padded_batch()
    out, hidden = enc(src, lengths)
    assert out.shape == (3, 6, 16) and hidden.shape == (layers, 3, 16)
    assert (out[~length_mask(lengths, 6)] == 0).all(), "outputs at padding should be zero"
    # the final state is the state after the LAST REAL token: same as encoding it unpadded
    _, alone = enc(src[1:2, :3], lengths[1:2])
    torch.testing.assert_close(hidden[:, 1], alone[:, 0])
    torch.testing.assert_close(out[1, 2], alone[-1, 0])
    # and changing padded tokens changes nothing
    out2, hidden2 = enc(scramble_padding(src, lengths), lengths)
    torch.testing.assert_close(out, out2)
    torch.testing.assert_close(hidden, hidden2)


def test_encoder_without_lengths_reads_everything():
    enc = Encoder(V_SRC, 8, 16)
    src = torch.randint(4, V_SRC, (2, 5))
    out, hidden = enc(src)
    torch.testing.assert_close(out[:, -1], hidden[-1])


def test_decoder_forward_equals_steps():
    dec = Decoder(V_TGT, 8, 16, num_layers=2)
    _, _, tgt_in = padded_batch()
    h0 = torch.randn(2, 3, 16)
    logits, h_final = dec(tgt_in, h0)
    assert logits.shape == (3, 5, V_TGT)
    h = h0
    for t in range(5):
        step_logits, h = dec.step(tgt_in[:, t], h)
        torch.testing.assert_close(step_logits, logits[:, t], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h, h_final, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("Model", [Seq2Seq, Seq2SeqAttention])
def test_padded_source_tokens_do_not_matter(Model):
    model = Model.create(V_SRC, V_TGT, emb_dim=8, hidden_dim=16)
    src, lengths, tgt_in = padded_batch()
    a = model(src, lengths, tgt_in)
    b = model(scramble_padding(src, lengths), lengths, tgt_in)
    assert a.shape == (3, 5, V_TGT)
    torch.testing.assert_close(a, b)
    ga = model.generate(src, lengths, max_len=6)
    gb = model.generate(scramble_padding(src, lengths), lengths, max_len=6)
    assert torch.equal(ga, gb)


@pytest.mark.parametrize("Model", [Seq2Seq, Seq2SeqAttention])
def test_batch_equals_one_by_one(Model):
    model = Model.create(V_SRC, V_TGT, emb_dim=8, hidden_dim=16)
    src, lengths, tgt_in = padded_batch()
    batch = model(src, lengths, tgt_in)
    for b in range(3):
        n = int(lengths[b])
        single = model(src[b:b + 1, :n], lengths[b:b + 1], tgt_in[b:b + 1])
        torch.testing.assert_close(batch[b:b + 1], single, atol=1e-5, rtol=1e-5)


def test_masked_cross_entropy():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 6)
    targets = torch.tensor([[5, 4, EOS_ID, PAD_ID], [3, EOS_ID, PAD_ID, PAD_ID]])
    loss = masked_cross_entropy(logits, targets, PAD_ID)
    real = targets != PAD_ID
    manual = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)[real].mean()
    torch.testing.assert_close(loss, manual)
    torch.testing.assert_close(loss, F.cross_entropy(logits.view(-1, 6), targets.view(-1), ignore_index=PAD_ID))
    # logits at padded positions do not matter
    other = logits.clone()
    other[~real] = 100.0
    torch.testing.assert_close(masked_cross_entropy(other, targets), loss)
    # a mean over real tokens: not divided by B*T
    assert not torch.isclose(loss, manual * real.sum() / real.numel())
    with pytest.raises(ValueError, match="B, T, V"):
        masked_cross_entropy(logits.view(8, 6), targets.view(8))
    assert masked_cross_entropy(logits, torch.zeros(2, 4, dtype=torch.long)).item() == 0.0


def test_generate_and_beam_search_with_models():
    for Model in (Seq2Seq, Seq2SeqAttention):
        torch.manual_seed(3)
        model = Model.create(V_SRC, V_TGT, emb_dim=8, hidden_dim=16)
        src, lengths, _ = padded_batch()
        out = model.generate(src, lengths, max_len=7)
        assert out.shape[0] == 3 and out.shape[1] <= 7
        for b in range(3):
            # the batch-first decoding state reorders with the default reorder_state
            state = model.start_state(src[b:b + 1], lengths[b:b + 1])
            hyp = beam_search(model.step, state, SOS_ID, EOS_ID, max_len=7, beam_size=1,
                              length_penalty=0.0)
            row = out[b].tolist()
            row = row[: row.index(EOS_ID) + 1] if EOS_ID in row else row
            assert hyp.tokens == row
            best = beam_search(model.step, state, SOS_ID, EOS_ID, max_len=7, beam_size=4,
                               length_penalty=0.0)
            assert best.score >= hyp.score - 1e-5 or not hyp.finished


def test_size_mismatch_is_reported():
    with pytest.raises(ValueError, match="hidden_dim"):
        Seq2Seq(Encoder(V_SRC, 8, 16), Decoder(V_TGT, 8, 32))
    with pytest.raises(ValueError, match="src must be"):
        Seq2Seq.create(V_SRC, V_TGT)(torch.zeros(5, dtype=torch.long), None, torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="src_lengths"):
        Encoder(V_SRC, 8, 16)(torch.ones(2, 3, dtype=torch.long), torch.tensor([4, 1]))


# --------------------------------------------------------------------------- chapter 3

def test_attention_context_masks_and_normalises():
    torch.manual_seed(2)
    scores = torch.randn(3, 6)
    values = torch.randn(3, 6, 5)
    mask = length_mask(torch.tensor([6, 3, 1]), 6)
    context, weights = attention_context(scores, values, mask)
    assert context.shape == (3, 5) and weights.shape == (3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert (weights[~mask] == 0).all(), "padding must get exactly zero weight"
    torch.testing.assert_close(weights[2, 0], torch.tensor(1.0))
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", weights, values))
    # softmax over the real positions only (masking before, not after, the softmax)
    torch.testing.assert_close(weights[1, :3], torch.softmax(scores[1, :3], -1))
    # no mask: a plain softmax
    _, w = attention_context(scores, values)
    torch.testing.assert_close(w, torch.softmax(scores, -1))
    with pytest.raises(ValueError):
        attention_context(scores, values.transpose(1, 2), mask)


def test_score_functions_with_injected_weights():
    torch.manual_seed(4)
    q, k = torch.randn(2, 3), torch.randn(2, 4, 5)
    add = AdditiveAttention(query_dim=3, key_dim=5, attn_dim=7)
    Wq, Wk, v = torch.randn(7, 3), torch.randn(7, 5), torch.randn(1, 7)
    with torch.no_grad():
        add.W_q.weight.copy_(Wq)
        add.W_k.weight.copy_(Wk)
        add.v.weight.copy_(v)
    expected = torch.stack([torch.stack([v[0] @ torch.tanh(Wq @ q[b] + Wk @ k[b, s]) for s in range(4)])
                            for b in range(2)])
    torch.testing.assert_close(add(q, k), expected)
    torch.testing.assert_close(add.score(q, add.prepare_keys(k)), expected)

    gen = GeneralAttention(query_dim=3, key_dim=5)
    W = torch.randn(3, 5)
    with torch.no_grad():
        gen.W.weight.copy_(W)
    torch.testing.assert_close(gen(q, k), torch.einsum("bq,qk,bsk->bs", q, W, k))

    qd = torch.randn(2, 5)
    torch.testing.assert_close(DotAttention()(qd, k), torch.einsum("bd,bsd->bs", qd, k))
    with pytest.raises(ValueError, match="same size"):
        DotAttention()(q, k)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_attention_model_weights(kind):
    model = Seq2SeqAttention.create(V_SRC, V_TGT, emb_dim=8, hidden_dim=16, attention=kind)
    src, lengths, tgt_in = padded_batch()
    logits, weights = model(src, lengths, tgt_in, return_attention=True)
    assert logits.shape == (3, 5, V_TGT) and weights.shape == (3, 5, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    mask = length_mask(lengths, 6)[:, None, :].expand_as(weights)
    assert (weights[~mask] == 0).all()
    torch.testing.assert_close(model(src, lengths, tgt_in), logits)
    tokens, w = model.generate(src, lengths, max_len=4, return_attention=True)
    assert w.shape == (3, tokens.shape[1], 6)
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))


def test_query_is_the_previous_hidden_state():
    # the weights at step t are computed before the decoder reads token t, so
    # changing tgt_in[:, t] changes the weights from step t+1 on, not at step t
    model = Seq2SeqAttention.create(V_SRC, V_TGT, emb_dim=8, hidden_dim=16)
    src, lengths, tgt_in = padded_batch()
    _, w1 = model(src, lengths, tgt_in, return_attention=True)
    other = tgt_in.clone()
    other[:, 2] = (other[:, 2] + 1 - 4) % (V_TGT - 4) + 4
    _, w2 = model(src, lengths, other, return_attention=True)
    torch.testing.assert_close(w1[:, :3], w2[:, :3])
    assert not torch.allclose(w1[:, 3], w2[:, 3])


def test_attention_decoder_forward_equals_steps_and_accepts_plain_modules():
    class PlainDot(torch.nn.Module):  # only forward(query, keys), as a learner might write
        def forward(self, query, keys):
            return (keys @ query.unsqueeze(-1)).squeeze(-1)

    dec = AttentionDecoder(V_TGT, 8, 16, attention=PlainDot(), enc_dim=16)
    enc_out = torch.randn(3, 6, 16)
    mask = length_mask(torch.tensor([6, 3, 1]), 6)
    _, _, tgt_in = padded_batch()
    h0 = torch.randn(1, 3, 16)
    logits, h_final, weights = dec(tgt_in, h0, enc_out, mask)
    ref = AttentionDecoder(V_TGT, 8, 16, attention="dot", enc_dim=16)
    ref.load_state_dict(dec.state_dict())
    torch.testing.assert_close(ref(tgt_in, h0, enc_out, mask)[0], logits)
    h = h0
    for t in range(5):
        step_logits, h, w = dec.step(tgt_in[:, t], h, enc_out, mask)
        torch.testing.assert_close(step_logits, logits[:, t])
        torch.testing.assert_close(w, weights[:, t])
    with pytest.raises(ValueError, match="unknown attention"):
        AttentionDecoder(V_TGT, 8, 16, attention="cosine")


# --------------------------------------------------------------------------- learning

def digit_pairs(n, rng, reverse=True):
    out = []
    for _ in range(n):
        s = [str(rng.randint(0, 9)) for _ in range(rng.randint(1, 5))]
        out.append((s, s[::-1] if reverse else s))
    return out


@pytest.mark.parametrize("Model,hidden,steps,target", [
    (Seq2Seq, 64, 200, 0.8),
    (Seq2SeqAttention, 32, 150, 0.9),
])
def test_learns_to_reverse_digits(Model, hidden, steps, target):
    vocab = Vocab("0123456789")
    rng = random.Random(0)
    model = Model.create(len(vocab), len(vocab), emb_dim=16, hidden_dim=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        src, lengths, tgt_in, tgt_out = make_seq2seq_batch(digit_pairs(64, rng), vocab, vocab)
        loss = masked_cross_entropy(model(src, lengths, tgt_in), tgt_out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = digit_pairs(300, random.Random(99))
    acc = evaluate_exact_match(model, test, vocab, vocab)
    assert acc >= target, f"{Model.__name__} reached only {acc:.2f} exact match"
    assert model.training, "evaluation must restore training mode"
    preds = predict(model, [list("123")], vocab, vocab, max_len=6)
    assert isinstance(preds[0], list)
