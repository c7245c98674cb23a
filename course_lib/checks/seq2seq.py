"""Checks for chapter 02 (seq2seq)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ._common import (
    _as_float64,
    _call,
    _expect_close,
    _generator,
    _inputs_unchanged,
    _randn,
    _report,
    expect_shape,
    expect_tensor,
)

# ===========================================================================
# Chapter 02: seq2seq
# ===========================================================================
# encode, decoder_step, masked_cross_entropy, greedy_decode. The modules whose
# weights the learner's functions use are built from a fixed seed inside
# torch.random.fork_rng, so a check never moves the learner's global RNG.

__all__ = ["check_encoder", "check_decoder_step", "check_masked_cross_entropy", "check_greedy_decode"]

_PAD, _SOS, _EOS = 0, 1, 2


def _seeded_modules(seed: int, build: Callable[[], Any]) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _padded_source(lengths: Sequence[int], vocab_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = _generator(seed)
    lengths_t = torch.tensor(list(lengths))
    src = torch.randint(4, vocab_size, (len(lengths), max(lengths)), generator=gen)
    src[torch.arange(src.shape[1])[None, :] >= lengths_t[:, None]] = _PAD
    return src, lengths_t


def _expect_pair(result: Any, names: str) -> tuple[Any, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return a tuple {names}; got {type(result).__name__}")
    return result[0], result[1]


_ENCODER_HINT = ("embedding(src) is (batch, src_len, emb); the GRU is batch_first, so it takes that directly; "
                 "pack_padded_sequence wants lengths on the CPU and, for an unsorted batch, enforce_sorted=False")


def check_encoder(fn: Callable) -> None:
    """fn(src, src_lengths, embedding, gru) -> (outputs, hidden), as course_lib.seq2seq.encode."""
    from ..seq2seq import Encoder

    V, E, H = 11, 4, 6
    lengths = [7, 3, 5, 1]          # not sorted: real batches are not
    enc = _seeded_modules(0, lambda: Encoder(V, E, H).double())
    src, src_lengths = _padded_source(lengths, V, seed=0)
    B, S = src.shape
    saved = [src.clone(), src_lengths.clone()]
    outputs, hidden = _expect_pair(_call(fn, src, src_lengths, enc.embedding, enc.rnn, shape_hint=_ENCODER_HINT),
                                   "(outputs, hidden)")
    _inputs_unchanged(saved, [src, src_lengths])
    expect_shape(outputs, (B, S, H), "outputs", hint="one GRU state per source position, (batch, src_len, hidden)")
    expect_shape(hidden, (1, B, H), "hidden",
                 hint="keep the GRU's own layout (num_layers, batch, hidden), as nn.GRU returns it")
    _report(f"outputs shape {(B, S, H)}, hidden shape {(1, B, H)}")

    ref_out, ref_hidden = enc(src, src_lengths)
    real = torch.arange(S)[None, :] < src_lengths[:, None]
    with torch.no_grad():
        emb = enc.embedding(src)
        plain_out, plain_hidden = enc.rnn(emb)
    _expect_close(outputs[real], ref_out[real], "outputs at real positions", "the GRU run over each source",
                  hint="embed the tokens with `embedding`, then run `gru` over them (batch first)")
    rows = torch.arange(B)
    wrong_hidden = [
        (plain_hidden, "hidden is the state after the PADDING of the shorter sequences: it must be the state "
                       "after each sequence's last REAL token (pack the batch with pack_padded_sequence, "
                       "or pick outputs at position length - 1)"),
        (plain_out[:, -1].unsqueeze(0), "outputs[:, -1] is a padded position for the shorter sequences: "
                                        "take each sequence's state at position length - 1"),
        (ref_out[:, -1].unsqueeze(0), "outputs[:, -1] is a padded position (zeros) for the shorter sequences: "
                                      "take each sequence's state at position length - 1"),
        (plain_out[rows, (src_lengths - 2).clamp(min=0)].unsqueeze(0),
         "off by one: the last real token of a sequence of length n is at position n - 1, not n - 2"),
        (plain_out[rows, src_lengths.clamp(max=S - 1)].unsqueeze(0),
         "off by one: the last real token of a sequence of length n is at position n - 1, not n"),
    ]
    _expect_close(hidden, ref_hidden, "hidden", "the state after each sequence's last real token",
                  wrong_answers=wrong_hidden, passed="hidden is the state after each sequence's last real token "
                                                     "(sequences of lengths 7, 3, 5, 1)")

    scrambled = src.clone()
    scrambled[~real] = 5
    out2, hidden2 = _expect_pair(_call(fn, scrambled, src_lengths, enc.embedding, enc.rnn), "(outputs, hidden)")
    _expect_close(hidden2, ref_hidden, "hidden with different tokens in the padding", "hidden with <pad> there",
                  hint="the padding leaks into the final state: only real tokens may be read",
                  passed="tokens in the padded positions change nothing")

    if not outputs.requires_grad or not hidden.requires_grad:
        raise AssertionError("outputs and hidden are not connected to the weights: avoid torch.no_grad(), "
                             ".detach() and .data inside encode, or training cannot update the encoder")
    grads = torch.autograd.grad(hidden.sum(), [enc.embedding.weight, enc.rnn.weight_hh_l0], allow_unused=True)
    if any(g is None or g.abs().sum() == 0 for g in grads):
        raise AssertionError("no gradient reaches the embedding or the GRU weights from hidden")
    _report("gradients flow from hidden to the embedding and the GRU")

    enc2 = _seeded_modules(1, lambda: Encoder(V, E, 5, num_layers=2).double())
    src2, lengths2 = _padded_source([4, 6, 2], V, seed=1)
    ref_out2, ref_hidden2 = enc2(src2, lengths2)
    out2, hidden2 = _expect_pair(_call(fn, src2, lengths2, enc2.embedding, enc2.rnn, shape_hint=_ENCODER_HINT),
                                 "(outputs, hidden)")
    _expect_close(hidden2, ref_hidden2, "hidden of a 2-layer GRU", "the state of both layers after the last "
                  "real token", hint="return the hidden state of every layer, (num_layers, batch, hidden)",
                  passed="works with a 2-layer GRU (hidden is (2, batch, hidden))")
    print("All encoder checks passed.")


def check_decoder_step(fn: Callable) -> None:
    """fn(token, hidden, embedding, gru, out) -> (logits, hidden), as course_lib.seq2seq.decoder_step."""
    from ..seq2seq import Decoder

    V, E, H, B = 9, 4, 6, 3
    dec = _seeded_modules(2, lambda: Decoder(V, E, H).double())
    gen = _generator(2)
    token = torch.tensor([_SOS, 5, 7])
    hidden = _randn(1, B, H, gen=gen, scale=0.5)
    saved = [token.clone(), hidden.clone()]
    hint = ("embed the (batch,) tokens to (batch, emb), then add a time axis of length 1, (batch, 1, emb), "
            "for the batch-first GRU; the output layer maps the GRU output (batch, hidden) to (batch, vocab)")
    logits, h_new = _expect_pair(_call(fn, token, hidden, dec.embedding, dec.rnn, dec.out, shape_hint=hint),
                                 "(logits, hidden)")
    _inputs_unchanged(saved, [token, hidden])
    expect_shape(logits, (B, V), "logits", hint="one score per vocabulary entry for each sequence: "
                 "squeeze the time axis of length 1")
    expect_shape(h_new, (1, B, H), "the new hidden", hint="return the GRU's new state, (num_layers, batch, hidden)")
    _report(f"logits shape {(B, V)}, hidden shape {(1, B, H)}")

    ref_logits, ref_hidden = dec.step(token, hidden)
    with torch.no_grad():
        zero_logits, zero_hidden = dec.step(token, torch.zeros_like(hidden))
    _expect_close(h_new, ref_hidden, "the new hidden", "the GRU's state after reading the token",
                  wrong_answers=[(hidden, "you returned the OLD hidden state: return the one the GRU gives back"),
                                 (zero_hidden, "the GRU started from zeros: pass `hidden` to it as its initial "
                                               "state, gru(x, hidden)")])
    # Logits are compared up to a constant per row: log_softmax(logits) is as good as the logits.
    def normalise(z):
        return _as_float64(z).log_softmax(-1)

    _expect_close(normalise(logits), normalise(ref_logits), "logits", "the output layer applied to the new state",
                  wrong_answers=[(normalise(zero_logits), "the GRU started from zeros: pass `hidden` to it")],
                  hint=("return the raw scores of `out` (logits), not probabilities"
                        if bool(torch.allclose(_as_float64(logits), ref_logits.softmax(-1).double(), atol=1e-6))
                        else "logits = out(GRU output at this step)"))

    # Teacher forcing: the step, repeated over the known target, is the whole-sequence decoder.
    tgt_in = torch.tensor([[_SOS, 4, 6, 5, 8], [_SOS, 7, 7, 4, 0], [_SOS, 5, 0, 0, 0]])
    ref_all, _ = dec(tgt_in, hidden)
    h, steps = hidden, []
    for t in range(tgt_in.shape[1]):
        logits_t, h = _expect_pair(_call(fn, tgt_in[:, t], h, dec.embedding, dec.rnn, dec.out), "(logits, hidden)")
        steps.append(normalise(logits_t))
    _expect_close(torch.stack(steps, 1), normalise(ref_all), "5 steps fed with the target tokens",
                  "the decoder run over the whole target at once",
                  passed="5 steps with teacher forcing equal one run of the decoder over the whole sequence")

    if not logits.requires_grad:
        raise AssertionError("logits are not connected to the weights: avoid torch.no_grad() and .detach()")
    grads = torch.autograd.grad(logits.sum(), [dec.embedding.weight, dec.rnn.weight_hh_l0, dec.out.weight],
                                allow_unused=True)
    if any(g is None or g.abs().sum() == 0 for g in grads):
        raise AssertionError("no gradient reaches the embedding, the GRU or the output layer from the logits")
    _report("gradients flow to the embedding, the GRU and the output layer")

    dec2 = _seeded_modules(3, lambda: Decoder(V, E, 5, num_layers=2).double())
    hidden2 = _randn(2, B, 5, gen=gen, scale=0.5)
    ref2_logits, ref2_hidden = dec2.step(token, hidden2)
    logits2, h2 = _expect_pair(_call(fn, token, hidden2, dec2.embedding, dec2.rnn, dec2.out, shape_hint=hint),
                               "(logits, hidden)")
    _expect_close(h2, ref2_hidden, "the new hidden of a 2-layer GRU", "the GRU's new state",
                  hint="return the hidden state of every layer, (num_layers, batch, hidden)")
    with torch.no_grad():
        bottom = dec2.out(ref2_hidden[0])
    _expect_close(normalise(logits2), normalise(ref2_logits), "logits of a 2-layer decoder",
                  "the output layer on the TOP layer's state",
                  wrong_answers=[(normalise(bottom), "the output layer read the BOTTOM layer's state hidden[0]: "
                                                     "use the GRU's output (the top layer), or hidden[-1]")],
                  passed="works with a 2-layer GRU (the output layer reads the top layer)")
    print("All decoder step checks passed.")


def check_masked_cross_entropy(fn: Callable) -> None:
    """fn(logits, targets, pad_id=0) -> scalar mean cross-entropy over non-pad targets,
    as course_lib.seq2seq.masked_cross_entropy."""
    B, T, V = 3, 5, 7
    gen = _generator(4)
    logits = _randn(B, T, V, gen=gen, scale=2.0).requires_grad_(True)
    targets = torch.randint(1, V - 1, (B, T), generator=gen)   # never V - 1, the other pad_id tried below
    lengths = torch.tensor([5, 2, 4])
    real = torch.arange(T)[None, :] < lengths[:, None]
    targets[~real] = _PAD
    saved = [logits.detach().clone(), targets.clone()]
    loss = _call(fn, logits, targets,
                 shape_hint="F.cross_entropy wants (N, V) scores and (N,) targets: flatten batch and time first")
    _inputs_unchanged(saved, [logits.detach(), targets])
    loss = expect_tensor(loss, "the loss")
    if loss.dim() != 0:
        raise AssertionError(f"the loss should be a scalar (0-d tensor), got shape {tuple(loss.shape)}: "
                             "average over the real tokens")
    _report("returns a scalar tensor")

    flat_logits, flat_targets = logits.detach().reshape(-1, V), targets.reshape(-1)
    per_token = F.cross_entropy(flat_logits, flat_targets, reduction="none").view(B, T)
    mask = real.double()
    expected = (per_token * mask).sum() / mask.sum()
    picked = flat_logits.gather(-1, flat_targets[:, None]).view(B, T)
    wrong = [
        (per_token.mean(), "the padded positions are averaged in too: leave out every target equal to pad_id "
                           "(mask them, or F.cross_entropy(..., ignore_index=pad_id))"),
        ((per_token * mask).sum() / (B * T), "you divided by all B * T positions: divide by the number of "
                                             "REAL (non-pad) tokens"),
        ((per_token * mask).sum(), "that is the sum over real tokens: divide by their number to get the mean"),
        ((per_token * mask).sum() / B, "divide by the number of real tokens, not by the batch size"),
        (((per_token * mask).sum(1) / mask.sum(1)).mean(),
         "that is the mean of per-sequence means: every real token should count once, so a long target "
         "weighs more than a short one; sum over all real tokens, then divide by their number"),
        ((per_token * (1 - mask)).sum() / (1 - mask).sum(), "the mask is inverted: you averaged over the padding "
                                                            "only; real tokens are targets != pad_id"),
        (-(picked * mask).sum() / mask.sum(), "logits are not log-probabilities: apply log_softmax "
                                             "(or use F.cross_entropy)"),
    ]
    _expect_close(loss, expected, "the loss", "the mean cross-entropy over real tokens", wrong_answers=wrong,
                  passed="equals the mean cross-entropy over the 11 real tokens of 3 padded targets")

    changed = logits.detach().clone()
    changed[~real] = _randn(int((~real).sum()), V, gen=gen, scale=5.0)
    _expect_close(_call(fn, changed, targets), expected, "the loss after changing the logits at padded positions",
                  "the loss before", hint="scores at padded positions must not count",
                  passed="scores at padded positions do not count")

    # The same sentences in a batch padded to a longer length: nothing changes.
    wider_logits = torch.cat([logits.detach(), _randn(B, 3, V, gen=gen)], dim=1)
    wider_targets = torch.cat([targets, torch.full((B, 3), _PAD)], dim=1)
    _expect_close(_call(fn, wider_logits, wider_targets), expected, "the loss with 3 more padding columns",
                  "the loss before", hint="the loss of a batch must not depend on how much padding it has",
                  passed="extra padding columns change nothing")

    other_pad = targets.clone()
    other_pad[~real] = 6
    _expect_close(_call(fn, logits.detach(), other_pad, pad_id=6), expected, "the loss with pad_id=6",
                  "the loss with pad_id=0", hint="use the pad_id argument rather than a hard-coded 0",
                  passed="uses the pad_id argument")

    if not loss.requires_grad:
        raise AssertionError("the loss is not connected to the logits: avoid .item(), .detach() and numpy, "
                             "or training cannot backpropagate through it")
    (grad,) = torch.autograd.grad(loss, logits)
    if grad[~real].abs().max() > 0:
        raise AssertionError("the gradient reaches padded positions: they must not count in the loss")
    _report("the gradient reaches real positions only")
    print("All masked cross-entropy checks passed.")


class _ScriptedDecoder:
    """A fake model for greedy decoding: row b spells `sequences[b]` (ending in <eos>)
    as long as it is fed its own previous output and its state is passed on; it
    says "3" when fed a wrong token and "7" once it has finished. It records what
    went wrong, so the check can name the mistake."""

    V, WRONG_TOKEN, AFTER_EOS = 8, 3, 7

    def __init__(self, sequences: Sequence[Sequence[int]]):
        width = max(len(s) for s in sequences) + 30
        self.table = torch.full((len(sequences), width), self.AFTER_EOS)
        for b, s in enumerate(sequences):
            self.table[b, :len(s)] = torch.tensor(s)
        self.calls = 0
        self.stale_state = False
        self.fed_sos_again = False
        self.wrong_feed = False

    def start_state(self) -> torch.Tensor:
        return torch.zeros(self.table.shape[0], dtype=torch.long)   # the step count of each row

    def __call__(self, prev: torch.Tensor, state: torch.Tensor):
        if not isinstance(state, torch.Tensor) or state.shape != (self.table.shape[0],):
            raise AssertionError("pass step_fn the state it returned last time (the start state at first)")
        if bool((state != self.calls).any()):
            self.stale_state = True
        prev = torch.as_tensor(prev).long()
        rows = torch.arange(self.table.shape[0])
        t = state.clamp(max=self.table.shape[1] - 1)
        expected_prev = torch.where(state == 0, torch.full_like(prev, _SOS), self.table[rows, (t - 1).clamp(min=0)])
        unfinished = (self.table[rows, :self.calls] == _EOS).sum(1) == 0 if self.calls else torch.ones_like(prev).bool()
        bad = (prev != expected_prev) & unfinished
        if bool(bad.any()) and self.calls > 0:
            self.wrong_feed = True
            if bool((prev[bad] == _SOS).all()):
                self.fed_sos_again = True
        token = torch.where(prev == expected_prev, self.table[rows, t], torch.full_like(prev, self.WRONG_TOKEN))
        self.calls += 1
        logits = F.one_hot(token, self.V).double() * 4.0 - 2.0
        return logits, state + 1


def check_greedy_decode(fn: Callable) -> None:
    """fn(step_fn, start_state, sos_id, eos_id, max_len, batch_size, pad_id=0, device=None) -> (B, T) tokens,
    as course_lib.decoding.greedy_decode."""
    from ..decoding import greedy_decode as reference
    from ..seq2seq import Seq2Seq

    sequences = [[5, 6, _EOS], [6, _EOS], [4, 4, 5, 6, _EOS]]
    expected = torch.tensor([[5, 6, 2, 0, 0], [6, 2, 0, 0, 0], [4, 4, 5, 6, 2]])
    model = _ScriptedDecoder(sequences)
    out = _call(fn, model, model.start_state(), _SOS, _EOS, 10, 3)
    out = expect_tensor(out, "the output")
    if model.stale_state:
        raise AssertionError("step_fn was given an old state: pass the state it returned at the previous step "
                             "into the next call (state is the decoder's memory)")
    if model.fed_sos_again:
        raise AssertionError("after the first step you fed <sos> again: feed back the token chosen at the "
                             "previous step (the argmax of its logits)")
    if model.wrong_feed:
        raise AssertionError("step_fn was fed a token that is not the one chosen at the previous step: feed back "
                             "prev = logits.argmax(dim=-1) (greedy decoding reads its own predictions)")
    if out.dim() != 2 or out.shape[0] != 3:
        raise AssertionError(f"the output should be (batch, steps) = (3, 5), got shape {tuple(out.shape)}")
    if out.shape[1] >= 1 and bool((out[:, 0] == _SOS).all()):
        raise AssertionError("the output starts with <sos>: return only the generated tokens")
    if out.dtype != torch.long:
        raise AssertionError(f"return token ids as a long tensor, got {out.dtype}")
    if out.shape[1] == 10:
        raise AssertionError("you decoded all max_len = 10 steps although every row had produced <eos> "
                             "after 5: stop once every row has finished")
    if out.shape[1] < 5 and bool((out == _EOS).any()):
        raise AssertionError(f"you stopped after {out.shape[1]} steps, when the first row finished: go on "
                             "until EVERY row has produced <eos> (or max_len steps)")
    expect_shape(out, (3, 5), "the output", hint="one column per step, up to the step where the last row finished")
    _report("feeds back its own predictions, passes the state on, and stops when every row has produced <eos>")
    if not torch.equal(out, expected):
        after = out.clone()
        after[expected != _PAD] = _PAD
        hint = ("after a row's <eos> fill it with pad_id: a finished sequence's later outputs are not part of "
                "its answer" if bool((after != _PAD).any()) else "the tokens differ from the argmax at some step")
        raise AssertionError(f"got {out.tolist()}, expected {expected.tolist()}: {hint}")
    _report("rows end with <eos> and are padded after it")

    model = _ScriptedDecoder(sequences)
    cut = _call(fn, model, model.start_state(), _SOS, _EOS, 3, 3)
    if not torch.equal(expect_tensor(cut, "the output"), expected[:, :3]):
        raise AssertionError(f"with max_len=3, got {cut.tolist()}, expected {expected[:, :3].tolist()}: "
                             "stop after max_len steps even if some rows have not finished")
    _report("stops after max_len steps when a row never finishes")

    # A real (random) GRU encoder-decoder, with <eos> made likely so rows end at different steps.
    def build():
        m = Seq2Seq.create(12, 9, emb_dim=4, hidden_dim=8).double().eval()
        with torch.no_grad():
            m.decoder.out.bias[_EOS] += 1.5
        return m
    m = _seeded_modules(5, build)
    src, lengths = _padded_source([6, 4, 5, 3, 6, 2], 12, seed=5)
    state = m.start_state(src, lengths)
    ref = reference(m.step, state, _SOS, _EOS, 12, batch_size=6)
    got = expect_tensor(_call(fn, m.step, state, _SOS, _EOS, 12, 6), "the output")
    if not torch.equal(got.cpu(), ref.cpu()):
        raise AssertionError(f"on a random GRU decoder you return {got.tolist()}, "
                             f"course_lib.decoding.greedy_decode gives {ref.tolist()}")
    _report("equals course_lib.decoding.greedy_decode on a random GRU decoder whose rows finish at different steps")
    print("All greedy decoding checks passed.")


