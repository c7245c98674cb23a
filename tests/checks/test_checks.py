"""course_lib.checks: each check passes the reference and catches typical wrong answers
with the intended hint."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import checks
from course_lib.metrics import perplexity
from course_lib.rnn import clip_grad_norm, lstm_cell, rnn_cell

# --- references pass, with one line per property

def test_reference_rnn_cell_passes(capsys):
    checks.check_rnn_cell(rnn_cell)
    out = capsys.readouterr().out
    assert "✓ output shape (3, 5)" in out
    assert "✓ h_new matches torch.nn.RNNCell to 1e-6" in out
    assert out.strip().endswith("All RNN cell checks passed.")


def test_reference_lstm_cell_passes(capsys):
    checks.check_lstm_cell(lstm_cell)
    out = capsys.readouterr().out
    assert "✓ c_new matches torch.nn.LSTMCell to 1e-6" in out and "✓ h_new matches" in out


def test_reference_clip_and_torch_builtin_pass(capsys):
    checks.check_clip_grad_norm(clip_grad_norm)
    checks.check_clip_grad_norm(torch.nn.utils.clip_grad_norm_)
    assert capsys.readouterr().out.count("All gradient clipping checks passed.") == 2


def test_reference_perplexity_passes(capsys):
    checks.check_perplexity(perplexity)
    out = capsys.readouterr().out
    assert "uniform predictions give perplexity 7" in out
    assert "ignore_index are left out" in out


def test_differently_written_correct_answers_pass():
    def rnn_cell_2(x, h, W_ih, W_hh, b_ih, b_hh):
        return torch.tanh(torch.cat([x, h], 1) @ torch.cat([W_ih, W_hh], 1).T + (b_ih + b_hh))

    def lstm_cell_2(x, state, W_ih, W_hh, b_ih, b_hh):
        h, c = state
        H = h.shape[1]
        z = torch.addmm(b_ih + b_hh, x, W_ih.t()) + h.mm(W_hh.t())
        i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H])
        g, o = torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
        c2 = torch.addcmul(f * c, i, g)
        return o * torch.tanh(c2), c2

    def clip_2(parameters, max_norm):
        grads = [p.grad for p in parameters if p.grad is not None]
        total = sum((g ** 2).sum() for g in grads) ** 0.5
        if total > max_norm:
            for g in grads:
                g *= max_norm / total
        return total.item()

    def perplexity_2(logits, targets):
        logp = torch.log_softmax(logits, dim=-1)
        nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return torch.exp(nll.mean()).item()

    checks.check_rnn_cell(rnn_cell_2)
    checks.check_lstm_cell(lstm_cell_2)
    checks.check_clip_grad_norm(clip_2)
    checks.check_perplexity(perplexity_2)


# --- RNN cell mutants

def _rnn_no_tanh(x, h, W_ih, W_hh, b_ih, b_hh):
    return x @ W_ih.T + b_ih + h @ W_hh.T + b_hh


def _rnn_hh_not_transposed(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh + b_hh)


def _rnn_ih_not_transposed(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih + b_ih + h @ W_hh.T + b_hh)


def _rnn_one_bias(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + h @ W_hh.T)


def _rnn_ignores_h(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.tanh(x @ W_ih.T + b_ih + b_hh)


def _rnn_sigmoid(x, h, W_ih, W_hh, b_ih, b_hh):
    return torch.sigmoid(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def _rnn_detached(x, h, W_ih, W_hh, b_ih, b_hh):
    return rnn_cell(x, h, W_ih, W_hh, b_ih, b_hh).detach()


@pytest.mark.parametrize("mutant, hint", [
    (_rnn_no_tanh, "did you apply tanh?"),
    (_rnn_hh_not_transposed, "weight_hh.T"),
    (_rnn_ih_not_transposed, "(out_features, in_features)"),
    (_rnn_one_bias, "add bias_hh as well"),
    (_rnn_ignores_h, "ignores the previous hidden state"),
    (_rnn_sigmoid, "tanh, not sigmoid"),
    (_rnn_detached, "not connected to the weights"),
])
def test_rnn_cell_mutants_fail_with_hint(mutant, hint):
    with pytest.raises(AssertionError) as err:
        checks.check_rnn_cell(mutant)
    assert hint in str(err.value)


# --- LSTM cell mutants

def _lstm_with(order=(0, 1, 2, 3), h_fn=None, swap=False, forget=True, g_act=torch.tanh, old_c_in_h=False):
    def cell(x, state, W_ih, W_hh, b_ih, b_hh):
        h, c = state
        chunks = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=1)
        i, f, g, o = (chunks[k] for k in order)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), g_act(g), torch.sigmoid(o)
        c_new = (f * c if forget else c) + i * g
        h_new = o * torch.tanh(c if old_c_in_h else c_new) if h_fn is None else h_fn(o, c_new)
        return (c_new, h_new) if swap else (h_new, c_new)
    return cell


@pytest.mark.parametrize("mutant, hint", [
    (_lstm_with(order=(0, 1, 3, 2)), "the gate order is i, f, g, o"),
    (_lstm_with(order=(1, 0, 2, 3)), "the gate order is i, f, g, o"),
    (_lstm_with(h_fn=lambda o, c: o * c), "did you forget the tanh?"),
    (_lstm_with(g_act=torch.sigmoid), "uses tanh, not sigmoid"),
    (_lstm_with(swap=True), "swapped"),
    (_lstm_with(forget=False), "forget gate f"),
    (_lstm_with(old_c_in_h=True), "NEW cell state"),
])
def test_lstm_cell_mutants_fail_with_hint(mutant, hint):
    with pytest.raises(AssertionError) as err:
        checks.check_lstm_cell(mutant)
    assert hint in str(err.value)


def test_lstm_cell_returning_a_tensor_is_told_to_return_a_tuple():
    with pytest.raises(AssertionError, match=r"return a tuple \(h_new, c_new\)"):
        checks.check_lstm_cell(lambda x, s, *w: lstm_cell(x, s, *w)[0])


# --- clipping mutants

def _clip_per_parameter(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    total = torch.sqrt(sum(p.grad.norm() ** 2 for p in params))
    for p in params:
        n = p.grad.norm()
        if n > max_norm:
            p.grad.mul_(max_norm / n)
    return total


def _clip_returns_clipped_norm(parameters, max_norm):
    params = list(parameters)
    clip_grad_norm(params, max_norm)
    return torch.sqrt(sum(p.grad.norm() ** 2 for p in params if p.grad is not None))


def _clip_not_in_place(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum(g.norm() ** 2 for g in grads))
    for g in grads:
        g = g * min(1.0, max_norm / total)  # rebinds a local name only
    return total


def _clip_always_scales(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum(g.norm() ** 2 for g in grads))
    for g in grads:
        g.mul_(max_norm / total)
    return total


def _clip_iterates_twice(parameters, max_norm):
    total = torch.sqrt(sum(p.grad.norm() ** 2 for p in parameters if p.grad is not None))
    for p in parameters:  # a generator is already exhausted here
        if p.grad is not None and total > max_norm:
            p.grad.mul_(max_norm / total)
    return total


def _clip_no_none_check(parameters, max_norm):
    params = list(parameters)
    total = torch.sqrt(sum(p.grad.norm() ** 2 for p in params))
    if total > max_norm:
        for p in params:
            p.grad.mul_(max_norm / total)
    return total


def _clip_sum_of_norms(parameters, max_norm):
    params = [p for p in parameters if p.grad is not None]
    total = sum(p.grad.norm() for p in params)
    if total > max_norm:
        for p in params:
            p.grad.mul_(max_norm / total)
    return total


@pytest.mark.parametrize("mutant, hint", [
    (_clip_per_parameter, "norm is computed per parameter: clip by the total norm over all parameters"),
    (_clip_returns_clipped_norm, "BEFORE clipping"),
    (_clip_not_in_place, "in place"),
    (_clip_always_scales, "only scale gradients DOWN"),
    (_clip_iterates_twice, "generator"),
    (_clip_no_none_check, "skip parameters whose .grad is None"),
    (_clip_sum_of_norms, "not the sum of the per-parameter norms"),
])
def test_clip_mutants_fail_with_hint(mutant, hint):
    with pytest.raises(AssertionError) as err:
        checks.check_clip_grad_norm(mutant)
    assert hint in str(err.value)


# --- perplexity mutants

def _ppl_sum(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum").exp().item()


def _ppl_no_exp(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()


def _ppl_raw_logits(logits, targets):
    return torch.exp(-logits.gather(-1, targets.unsqueeze(-1)).mean()).item()


def _ppl_per_sequence(logits, targets):
    nll = F.cross_entropy(logits.transpose(1, -1), targets, reduction="none")  # (B, T)
    return nll.mean(-1).exp().mean().item()


def _ppl_not_flattened(logits, targets):
    return F.cross_entropy(logits, targets).exp().item()


def _ppl_pad_counted(logits, targets, ignore_index=None):
    V = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none",
                          ignore_index=-100 if ignore_index is None else ignore_index)
    return nll.mean().exp().item()


@pytest.mark.parametrize("mutant, hint", [
    (_ppl_sum, "perplexity equals exp of the SUM of losses: average over tokens"),
    (_ppl_no_exp, "perplexity is exp of it"),
    (_ppl_raw_logits, "log_softmax"),
    (_ppl_per_sequence, "mean of per-sequence"),
    (_ppl_not_flattened, "flatten"),
    (_ppl_pad_counted, "NON-ignored"),
])
def test_perplexity_mutants_fail_with_hint(mutant, hint):
    with pytest.raises(AssertionError) as err:
        checks.check_perplexity(mutant)
    assert hint in str(err.value)


def test_not_implemented_stub_propagates():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_rnn_cell(stub)


def test_expect_shape_names_expected_and_actual():
    checks.expect_shape(torch.zeros(2, 3), (2, 3))
    with pytest.raises(AssertionError, match=r"scores has shape \(3, 2\), expected \(2, 3\)"):
        checks.expect_shape(torch.zeros(3, 2), (2, 3), "scores")
    with pytest.raises(AssertionError, match="should be a torch.Tensor, got list"):
        checks.expect_shape([1, 2], (2,), "x")
