"""course_lib.rnn against torch's built-in recurrent layers, with injected weights."""
import pytest
import torch
import torch.nn as nn

from course_lib import rnn
from course_lib.data import CharTokenizer

B, T, I, H = 3, 6, 4, 5


def _copy_cell(ours: nn.Module, theirs: nn.Module) -> None:
    with torch.no_grad():
        for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            getattr(ours, name).copy_(getattr(theirs, name))


@pytest.mark.parametrize("fn, torch_cls, ours_cls", [
    (rnn.rnn_cell, nn.RNNCell, rnn.RNNCell),
    (rnn.gru_cell, nn.GRUCell, rnn.GRUCell),
])
def test_single_state_cells_match_torch(fn, torch_cls, ours_cls):
    torch.manual_seed(0)
    ref = torch_cls(I, H)
    x, h = torch.randn(B, I), torch.randn(B, H)
    expected = ref(x, h)
    got = fn(x, h, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    module = ours_cls(I, H)
    _copy_cell(module, ref)
    torch.testing.assert_close(module(x, h), expected, atol=1e-6, rtol=0)
    # zero initial state by default, as torch
    torch.testing.assert_close(module(x), ref(x), atol=1e-6, rtol=0)


def test_lstm_cell_matches_torch():
    torch.manual_seed(0)
    ref = nn.LSTMCell(I, H)
    x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
    h_ref, c_ref = ref(x, (h, c))
    h_new, c_new = rnn.lstm_cell(x, (h, c), ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    torch.testing.assert_close(h_new, h_ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(c_new, c_ref, atol=1e-6, rtol=0)
    module = rnn.LSTMCell(I, H)
    _copy_cell(module, ref)
    for a, b in zip(module(x), ref(x)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_cells_without_bias():
    torch.manual_seed(0)
    ref = nn.RNNCell(I, H, bias=False)
    x, h = torch.randn(B, I), torch.randn(B, H)
    torch.testing.assert_close(rnn.rnn_cell(x, h, ref.weight_ih, ref.weight_hh), ref(x, h))
    assert rnn.RNNCell(I, H, bias=False).bias_ih is None


def test_lstm_cell_unrolled_matches_one_layer_nn_lstm():
    torch.manual_seed(0)
    ref = nn.LSTM(I, H, batch_first=True)
    x = torch.randn(B, T, I)
    out_ref, (h_ref, c_ref) = ref(x)
    h, c = torch.zeros(B, H), torch.zeros(B, H)
    outs = []
    for t in range(T):
        h, c = rnn.lstm_cell(x[:, t], (h, c), ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0)
        outs.append(h)
    torch.testing.assert_close(torch.stack(outs, 1), out_ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(c, c_ref[0], atol=1e-6, rtol=0)


def test_cell_init_matches_torch_bounds():
    torch.manual_seed(0)
    cell = rnn.LSTMCell(10, 64)
    bound = 1 / 64 ** 0.5
    for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
        p = getattr(cell, name)
        assert p.abs().max() <= bound and p.abs().max() > 0.9 * bound, name
    assert cell.weight_ih.shape == (256, 10) and cell.weight_hh.shape == (256, 64)


@pytest.mark.parametrize("cell_type, torch_cls", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_layer_matches_torch_layer(cell_type, torch_cls, bidirectional):
    torch.manual_seed(0)
    ref = torch_cls(I, H, batch_first=True, bidirectional=bidirectional)
    ours = rnn.RNN(cell_type, I, H, bidirectional=bidirectional).load_from_torch(ref)
    x = torch.randn(B, T, I)
    out_ref, state_ref = ref(x)
    out, state = ours(x)
    D = 2 if bidirectional else 1
    assert out.shape == (B, T, D * H)
    torch.testing.assert_close(out, out_ref, atol=1e-6, rtol=0)
    flat = lambda s: torch.cat(s) if isinstance(s, tuple) else s  # noqa: E731
    torch.testing.assert_close(flat(state), flat(state_ref), atol=1e-6, rtol=0)
    # carrying a state in works the same way as in torch
    torch.testing.assert_close(ours(x, state_ref)[0], ref(x, state_ref)[0], atol=1e-6, rtol=0)


def test_bidirectional_lstm_backward_half_reads_right_to_left():
    torch.manual_seed(0)
    layer = rnn.RNN("lstm", I, H, bidirectional=True)
    x = torch.randn(1, T, I)
    out, _ = layer(x)
    x2 = x.clone()
    x2[0, -1] += 1.0  # change only the last input
    out2, _ = layer(x2)
    # forward half at earlier steps unchanged; backward half changed everywhere
    torch.testing.assert_close(out2[0, :-1, :H], out[0, :-1, :H])
    assert (out2[0, :, H:] - out[0, :, H:]).abs().amax(dim=-1).min() > 0


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_charlm_fast_and_slow_agree(cell_type):
    torch.manual_seed(0)
    fast = rnn.CharLM(11, 8, 12, cell_type, fast=True)
    slow = rnn.CharLM(11, 8, 12, cell_type, fast=False)
    slow.embed.load_state_dict(fast.embed.state_dict())
    slow.head.load_state_dict(fast.head.state_dict())
    slow.rnn.load_from_torch(fast.rnn)
    idx = torch.randint(11, (2, 7))
    logits, state = fast(idx)
    assert logits.shape == (2, 7, 11)
    logits2, state2 = slow(idx)
    torch.testing.assert_close(logits2, logits, atol=1e-5, rtol=0)
    # continuing from the state equals running the whole sequence at once
    a, s = fast(idx[:, :4])
    b, _ = fast(idx[:, 4:], s)
    torch.testing.assert_close(torch.cat([a, b], 1), logits, atol=1e-5, rtol=0)


def test_charlm_rejects_unknown_cell_type():
    with pytest.raises(ValueError, match="cell_type"):
        rnn.CharLM(5, 4, 4, cell_type="transformer")


def test_sample_is_reproducible_and_starts_with_prompt():
    tok = CharTokenizer.from_text("abc \n")
    torch.manual_seed(0)
    model = rnn.CharLM(tok.vocab_size, 4, 8)
    model.train()
    a = rnn.sample(model, tok, "ab", 20, generator=torch.Generator().manual_seed(1))
    b = rnn.sample(model, tok, "ab", 20, generator=torch.Generator().manual_seed(1))
    assert a == b and a.startswith("ab") and len(a) == 22
    assert model.training  # mode restored
    greedy = rnn.sample(model, tok, "ab", 5, temperature=0)
    assert greedy == rnn.sample(model, tok, "ab", 5, temperature=0)
    with pytest.raises(ValueError, match="prompt"):
        rnn.sample(model, tok, "", 5)


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_sequence_classifier_shapes(cell_type):
    torch.manual_seed(0)
    model = rnn.SequenceClassifier(8, 4, 6, 3, cell_type)
    assert model(torch.randint(8, (5, 9))).shape == (5, 3)
    slow = rnn.SequenceClassifier(8, 4, 6, 3, cell_type, fast=False)
    assert slow(torch.randint(8, (5, 9))).shape == (5, 3)


def test_set_forget_bias():
    for layer in [nn.LSTM(3, 4, batch_first=True), rnn.RNN("lstm", 3, 4)]:
        rnn.set_forget_bias(layer, 3.0)
        biases = dict(layer.named_parameters())
        total = sum(p for n, p in biases.items() if "bias" in n)
        assert torch.allclose(total[4:8], torch.full((4,), 3.0))
    with pytest.raises(ValueError, match="LSTM"):
        rnn.set_forget_bias(nn.GRU(3, 4), 1.0)
    model = rnn.SequenceClassifier(8, 4, 6, 3, "lstm", forget_bias=2.0)
    assert torch.allclose(model.rnn.bias_ih_l0[6:12] + model.rnn.bias_hh_l0[6:12], torch.full((6,), 2.0))


def test_gradient_norm_by_distance_is_the_jacobian_norm():
    Hs, Ts = 4, 5
    norms = rnn.gradient_norm_by_distance("lstm", Hs, Ts, seed=3, input_size=2)
    assert norms.shape == (Ts,)
    # recompute with autograd's Jacobian on the same layer and inputs
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        layer = rnn.RNN("lstm", 2, Hs).double()
        x = torch.randn(1, Ts, 2).double()
    jac = torch.autograd.functional.jacobian(lambda inp: layer(inp)[1][0][0, 0], x)  # (H, 1, T, I)
    expected = jac.pow(2).sum(dim=(0, 1, 3)).sqrt().flip(0)
    torch.testing.assert_close(norms, expected, atol=1e-12, rtol=1e-9)


def test_gradient_norms_vanish_for_rnn_not_for_lstm_with_forget_bias():
    state = torch.random.get_rng_state()
    plain = rnn.gradient_norm_by_distance("rnn", 32, 40, seed=0)
    lstm = rnn.gradient_norm_by_distance("lstm", 32, 40, seed=0, forget_bias=3.0)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    assert plain[-1] < 1e-6 * plain[0] and plain[-1] > 0  # tiny, but not underflowed to 0
    assert lstm[-1] > 1e-2 * lstm[0]
    assert torch.equal(plain, rnn.gradient_norm_by_distance("rnn", 32, 40, seed=0))


def _params_with_grads(seed):
    gen = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.randn(3, 4, generator=gen)) for _ in range(3)]
    for p, scale in zip(params, [2.0, 0.1, 1.0]):
        p.grad = torch.randn(p.shape, generator=gen) * scale
    params.append(nn.Parameter(torch.zeros(2)))  # no grad: must be skipped
    return params


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    ours, ref = _params_with_grads(0), _params_with_grads(0)
    total = rnn.clip_grad_norm(iter(ours), max_norm)
    expected = torch.nn.utils.clip_grad_norm_(ref, max_norm)
    torch.testing.assert_close(total, expected)
    for a, b in zip(ours[:3], ref[:3]):
        torch.testing.assert_close(a.grad, b.grad)
    assert ours[3].grad is None
    single = nn.Parameter(torch.ones(4))
    single.grad = torch.full((4,), 2.0)
    assert float(rnn.clip_grad_norm(single, 1.0)) == pytest.approx(4.0)
    assert float(single.grad.norm()) == pytest.approx(1.0, abs=1e-5)
