"""course_lib.decoding: greedy decoding and beam search on hand-made step functions."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from course_lib.decoding import (
    Hypothesis,
    beam_search,
    gnmt_length_penalty,
    greedy_decode,
    reorder_state,
)

SOS, EOS, PAD = 1, 2, 0


def table_step_fn(table: dict[tuple[int, ...], dict[int, float]], vocab_size: int = 6):
    """A step function whose next-token distribution depends on the whole prefix.

    The state is the (B, t) tensor of tokens generated so far, so it reorders
    with the default reorder_state. Prefixes not in `table` put almost all
    mass on <eos>.
    """
    def step(prev: torch.Tensor, state: torch.Tensor):
        state = torch.cat([state, prev[:, None]], dim=1)
        rows = []
        for seq in state.tolist():
            prefix = tuple(seq[1:])  # without <sos>
            probs = torch.full((vocab_size,), 1e-6)
            for tok, p in table.get(prefix, {EOS: 1.0}).items():
                probs[tok] = p
            rows.append((probs / probs.sum()).log())
        return torch.stack(rows), state
    return step


def start(batch: int = 1) -> torch.Tensor:
    return torch.empty(batch, 0, dtype=torch.long)


def seq_logprob(step, tokens: list[int]) -> float:
    state, prev, total = start(), torch.tensor([SOS]), 0.0
    for tok in tokens:
        logits, state = step(prev, state)
        total += torch.log_softmax(logits, -1)[0, tok].item()
        prev = torch.tensor([tok])
    return total


# Greedy takes 3 (0.6) but everything after it is flat; 4 (0.4) is followed by
# a sure <eos>. Best sequence: [4, EOS] with p = 0.4 vs greedy [3, x, ...] <= 0.6 * 0.34.
MYOPIC = {
    (): {3: 0.6, 4: 0.4},
    (3,): {3: 0.33, 4: 0.33, EOS: 0.34},
    (4,): {EOS: 1.0},
}


def test_greedy_is_myopic_and_beam_is_not():
    step = table_step_fn(MYOPIC)
    greedy = greedy_decode(step, start(), SOS, EOS, max_len=5, batch_size=1)
    assert greedy.tolist() == [[3, EOS]]
    best = beam_search(step, start(), SOS, EOS, max_len=5, beam_size=2, length_penalty=0.0)
    assert best.tokens == [4, EOS] and best.finished
    assert best.logprob == pytest.approx(math.log(0.4), abs=1e-4)
    assert best.logprob > seq_logprob(step, greedy[0].tolist())


def test_greedy_batch_stops_per_sequence_and_pads():
    # row b emits token 3 for b steps, then <eos>; the state counts steps
    def step(prev, state):
        logits = torch.full((3, 5), -10.0)
        done = state >= torch.arange(3)
        logits[done, EOS] = 0.0
        logits[~done, 3] = 0.0
        return logits, state + 1

    out = greedy_decode(step, torch.zeros(3, dtype=torch.long), SOS, EOS, max_len=10, batch_size=3)
    assert out.tolist() == [[EOS, PAD, PAD], [3, EOS, PAD], [3, 3, EOS]]
    # max_len cuts off unfinished rows
    assert greedy_decode(step, torch.zeros(3, dtype=torch.long), SOS, EOS, 2, 3).shape == (3, 2)
    assert greedy_decode(step, torch.zeros(3, dtype=torch.long), SOS, EOS, 0, 3).shape == (3, 0)


def test_greedy_equals_beam_size_one_on_a_random_model():
    torch.manual_seed(0)
    V, H = 7, 16
    emb, cell, out = torch.nn.Embedding(V, H), torch.nn.GRUCell(H, H), torch.nn.Linear(H, V)
    with torch.no_grad():
        out.bias[EOS] -= 1.0  # avoid ending at once, so the sequences are interesting

    def step(prev, state):
        h = cell(emb(prev), state)
        return out(h), h

    for seed in range(5):
        torch.manual_seed(seed)
        h0 = torch.randn(1, H)
        greedy = greedy_decode(step, h0, SOS, EOS, max_len=12, batch_size=1)[0].tolist()
        greedy = greedy[: greedy.index(EOS) + 1] if EOS in greedy else greedy
        beam = beam_search(step, h0, SOS, EOS, max_len=12, beam_size=1, length_penalty=0.0)
        assert beam.tokens == greedy
        assert beam.logprob == pytest.approx(seq_logprob_gru(step, h0, greedy), abs=1e-4)


def seq_logprob_gru(step, h0, tokens):
    state, prev, total = h0, torch.tensor([SOS]), 0.0
    with torch.no_grad():
        for tok in tokens:
            logits, state = step(prev, state)
            total += torch.log_softmax(logits, -1)[0, tok].item()
            prev = torch.tensor([tok])
    return total


def test_beam_search_returns_exact_best_on_small_space():
    # with a beam as wide as the search space the result is the best of all
    # finished sequences of up to 3 tokens, found here by brute force
    content = [3, 4, 5]
    g = torch.Generator().manual_seed(1)
    prefixes = [()] + [(a,) for a in content] + list(itertools.product(content, repeat=2))
    table = {}
    for prefix in prefixes:
        p = torch.rand(4, generator=g) + 0.05
        p = p / p.sum()
        table[prefix] = dict(zip(content + [EOS], p.tolist()))
    step = table_step_fn(table)
    hyps = beam_search(step, start(), SOS, EOS, max_len=3, beam_size=16, length_penalty=0.0,
                       return_all=True)
    finished = [h for h in hyps if h.finished]
    scores = [h.score for h in finished]
    assert scores == sorted(scores, reverse=True)
    best_lp, best_seq = max((seq_logprob(step, list(s) + [EOS]), list(s) + [EOS])
                            for n in range(3) for s in itertools.product(content, repeat=n))
    assert finished[0].tokens == best_seq
    assert finished[0].logprob == pytest.approx(best_lp, abs=1e-4)


def test_finished_hypotheses_are_kept():
    # [5, EOS] finishes at step 2 with p=0.4 while [3, 3] (p=0.6) is still better and
    # goes on, then falls below 0.4. The early finished one must be returned, not
    # forgotten when it leaves the beam.
    table = {(): {5: 0.4, 3: 0.6}, (5,): {EOS: 1.0}, (3,): {3: 1.0}, (3, 3): {3: 0.5, 4: 0.5},
             (3, 3, 3): {EOS: 0.5, 3: 0.5}, (3, 3, 4): {EOS: 0.5, 4: 0.5}}
    step = table_step_fn(table)
    best = beam_search(step, start(), SOS, EOS, max_len=6, beam_size=2, length_penalty=0.0)
    assert best.tokens == [5, EOS] and best.finished
    assert best.logprob == pytest.approx(math.log(0.4), abs=1e-4)
    # with a longer search budget the answer is the same: finished ones are not lost
    hyps = beam_search(step, start(), SOS, EOS, max_len=20, beam_size=2, length_penalty=0.0,
                       return_all=True)
    assert hyps[0].tokens == [5, EOS] and all(h.finished for h in hyps)


def test_cut_off_hypotheses_when_nothing_finishes():
    step = table_step_fn({(): {3: 1.0}, (3,): {3: 1.0}, (3, 3): {3: 1.0}})
    best = beam_search(step, start(), SOS, EOS, max_len=3, beam_size=2, length_penalty=0.0)
    assert best.tokens == [3, 3, 3] and not best.finished
    assert beam_search(step, start(), SOS, EOS, max_len=0).tokens == []


def test_length_penalty_formula_and_effect():
    assert gnmt_length_penalty(1, 0.0) == 1.0
    assert gnmt_length_penalty(1, 1.0) == 1.0
    assert gnmt_length_penalty(7, 1.0) == pytest.approx(2.0)
    assert gnmt_length_penalty(10, 0.6) == pytest.approx(2.5 ** 0.6)
    # short: [5, EOS] p=0.3 is the most likely; long: [3, 3, 3, EOS] p=0.252 wins
    # once length is rewarded (alpha=3: -1.204/1.588 < -1.378/3.375)
    table = {(): {5: 0.3, 3: 0.7}, (5,): {EOS: 1.0}, (3,): {3: 0.6, EOS: 0.1, 4: 0.3},
             (3, 3): {3: 0.6, EOS: 0.1, 4: 0.3}, (3, 3, 3): {EOS: 1.0}}
    step = table_step_fn(table)
    no_pen = beam_search(step, start(), SOS, EOS, max_len=8, beam_size=3, length_penalty=0.0)
    assert no_pen.tokens == [5, EOS]
    long_pen = beam_search(step, start(), SOS, EOS, max_len=8, beam_size=3, length_penalty=3.0)
    assert long_pen.tokens == [3, 3, 3, EOS], "a strong length penalty should prefer a longer output"
    n = len(long_pen.tokens)
    assert long_pen.score == pytest.approx(long_pen.logprob / gnmt_length_penalty(n, 3.0))
    all_hyps = beam_search(step, start(), SOS, EOS, max_len=8, beam_size=3, length_penalty=3.0,
                           return_all=True)
    assert [h.score for h in all_hyps] == sorted((h.score for h in all_hyps), reverse=True)


def test_reorder_state_and_custom_reorder():
    state = (torch.arange(3), {"h": torch.arange(6).view(3, 2)}, None)
    out = reorder_state(state, torch.tensor([2, 2, 0]))
    assert out[0].tolist() == [2, 2, 0]
    assert out[1]["h"].tolist() == [[4, 5], [4, 5], [0, 1]]
    assert out[2] is None

    # a state laid out (layers, beam, hidden) needs its own reorder
    calls = []

    def step(prev, state):
        logits = torch.zeros(state.shape[1], 6)
        logits[:, EOS] = torch.tensor([1.0])
        return logits, state

    def reorder(state, index):
        calls.append(index.tolist())
        return state.index_select(1, index)

    hyp = beam_search(step, torch.zeros(2, 1, 4), SOS, EOS, max_len=4, beam_size=3,
                      reorder=reorder)
    assert hyp.tokens == [EOS] and calls and len(calls[0]) == 3


def test_bad_step_function_gets_a_clear_error():
    def step(prev, state):
        return torch.zeros(len(prev), 1, 6), state  # forgot to drop the time axis

    with pytest.raises(ValueError, match="vocab_size"):
        greedy_decode(step, torch.zeros(2), SOS, EOS, 3, 2)
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(step, torch.zeros(1), SOS, EOS, 3, beam_size=0)
    assert isinstance(Hypothesis(), Hypothesis)
