"""Turning a next-token model into output sequences: greedy decoding and beam search.

Every autoregressive model in the course (the GRU decoder of chapter 2, the
attention decoder of chapter 3, the Transformer decoder of chapter 5, GPT in
chapter 6) is driven through one interface, a *step function*:

    step_fn(prev_tokens, state) -> (logits, state)
        prev_tokens: (B,) long, the token each sequence produced last
                     (<sos> at the first step)
        state:       whatever the model carries between steps
        logits:      (B, V) scores for the next token

so the search code below never needs to know what the model is.

The state is a tensor, or a (nested) tuple / list / dict of tensors, whose
dim 0 indexes the sequences (the batch, or the beam). Beam search reorders
and duplicates hypotheses with `reorder_state(state, index)`, which selects
along dim 0 of every tensor; a model whose state is laid out differently
(e.g. GRU hidden states are (layers, batch, hidden)) either keeps a
batch-first copy in its state or passes its own `reorder` callback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = [
    "StepFn", "reorder_state", "greedy_decode", "Hypothesis",
    "gnmt_length_penalty", "beam_search",
]

State = Any
StepFn = Callable[[torch.Tensor, State], "tuple[torch.Tensor, State]"]


def reorder_state(state: State, index: torch.Tensor) -> State:
    """Select rows `index` (along dim 0) of every tensor in `state`.

    index: (K,) long; may repeat rows (one hypothesis grows into several
    beams) and drop rows (hypotheses that fell out of the beam). Non-tensor
    leaves (None, ints, strings) are passed through unchanged.
    """
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index.to(state.device))
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # NamedTuple
        return type(state)(*(reorder_state(s, index) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    if isinstance(state, dict):
        return {k: reorder_state(v, index) for k, v in state.items()}
    return state


def _find_device(state: State) -> torch.device | None:
    if isinstance(state, torch.Tensor):
        return state.device
    children = state.values() if isinstance(state, dict) else (
        state if isinstance(state, (tuple, list)) else ())
    for s in children:
        dev = _find_device(s)
        if dev is not None:
            return dev
    return None


def _check_logits(logits: torch.Tensor, n: int) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != n:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"step_fn must return logits of shape ({n}, vocab_size), got {shape}; "
            "did the step drop or keep a time dimension?")


@torch.no_grad()
def greedy_decode(
    step_fn: StepFn,
    start_state: State,
    sos_id: int,
    eos_id: int,
    max_len: int,
    batch_size: int,
    pad_id: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Pick the most likely token at every step, for a whole batch at once.

    Returns (B, T) long with T <= max_len: the generated tokens (no <sos>),
    each row ending with its <eos> and then <pad>. A finished sequence keeps
    being fed to the model (the batch stays rectangular) but its outputs are
    replaced by <pad>; decoding stops once every row has finished.
    """
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    if device is None:
        device = _find_device(start_state) or torch.device("cpu")
    state = start_state
    prev = torch.full((batch_size,), sos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    out: list[torch.Tensor] = []
    for _ in range(max_len):
        logits, state = step_fn(prev, state)
        _check_logits(logits, batch_size)
        tok = logits.argmax(dim=-1).masked_fill(finished, pad_id)
        out.append(tok)
        finished |= tok == eos_id
        if bool(finished.all()):
            break
        prev = tok
    if not out:
        return torch.empty(batch_size, 0, dtype=torch.long, device=device)
    return torch.stack(out, dim=1)


@dataclass(order=False)
class Hypothesis:
    """One beam-search result.

    tokens:   generated ids without <sos>; ends with <eos> when finished
    logprob:  sum of the tokens' log-probabilities under the model
    score:    logprob / gnmt_length_penalty(len(tokens), alpha), what the search ranks by
    finished: False only for a hypothesis cut off at max_len
    """
    tokens: list[int] = field(default_factory=list)
    logprob: float = 0.0
    score: float = 0.0
    finished: bool = False


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """((5 + length) / 6) ** alpha, from Wu et al. (2016), GNMT.

    Log-probabilities only fall as tokens are added, so raw scores favour
    short outputs; dividing by a penalty that grows with length offsets that.
    alpha = 0 switches it off (the penalty is 1); larger alpha favours longer
    outputs.
    """
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    step_fn: StepFn,
    start_state: State,
    sos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    reorder: Callable[[State, torch.Tensor], State] | None = None,
    return_all: bool = False,
) -> Hypothesis | list[Hypothesis]:
    """Beam search for ONE sequence; start_state has batch size 1.

    Keeps the `beam_size` best unfinished hypotheses at each step. A
    hypothesis that produces <eos> leaves the beam and is kept in a finished
    list, so a short good answer found early is not lost while the beam goes
    on exploring longer ones. Hypotheses are ranked by
    logprob / gnmt_length_penalty(length, length_penalty), with length
    counting the <eos>.

    The search stops when no unfinished hypothesis can still beat the best
    finished one (log-probabilities only fall, so its best possible score is
    its current logprob over the largest penalty it can still reach), when
    the beam is empty, or after max_len tokens.

    reorder: `reorder(state, index)` selects and repeats hypotheses along the
        beam; defaults to `reorder_state` (dim 0 of every tensor).
    Returns the best finished hypothesis (or, if none finished within
    max_len, the best cut-off one); with return_all, every finished
    hypothesis best first, followed by the cut-off ones.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    reorder = reorder or reorder_state
    device = _find_device(start_state) or torch.device("cpu")

    def penalty(length: int) -> float:
        return gnmt_length_penalty(length, length_penalty)

    live_tokens: list[list[int]] = [[]]
    live_lp = torch.zeros(1, device=device)
    prev = torch.full((1,), sos_id, dtype=torch.long, device=device)
    state = start_state
    finished: list[Hypothesis] = []
    cut_off: list[Hypothesis] = []

    for t in range(max_len):
        logits, state = step_fn(prev, state)
        _check_logits(logits, len(live_tokens))
        vocab = logits.shape[-1]
        # float(): summing many small log-probs in half precision loses the ranking
        cand = (live_lp[:, None] + F.log_softmax(logits.float(), dim=-1)).view(-1)
        # 2k candidates: at most one <eos> per live hypothesis, so at least k
        # of them continue and the beam stays full.
        top_lp, top_idx = cand.topk(min(2 * beam_size, cand.numel()))
        parents, tokens, lps = [], [], []
        for lp, idx in zip(top_lp.tolist(), top_idx.tolist()):
            parent, tok = divmod(idx, vocab)
            if tok == eos_id:
                seq = live_tokens[parent] + [tok]
                finished.append(Hypothesis(seq, lp, lp / penalty(len(seq)), True))
            else:
                parents.append(parent)
                tokens.append(tok)
                lps.append(lp)
                if len(parents) == beam_size:
                    break
        if not parents:
            break
        live_tokens = [live_tokens[p] + [tok] for p, tok in zip(parents, tokens)]
        live_lp = torch.tensor(lps, device=device)
        prev = torch.tensor(tokens, dtype=torch.long, device=device)
        state = reorder(state, torch.tensor(parents, dtype=torch.long, device=device))

        cur_len = t + 1
        if cur_len >= max_len:
            # out of steps: what is left was cut off, not finished
            cut_off = [Hypothesis(toks, lp, lp / penalty(len(toks)), False)
                       for toks, lp in zip(live_tokens, lps)]
            break
        if finished:
            # A live hypothesis can end at any length in cur_len+1 .. max_len.
            # The penalty is monotone in length, so its largest value over that
            # range is at one end; logprob <= 0 means dividing by it is the best case.
            best_penalty = max(penalty(cur_len + 1), penalty(max_len))
            bound = float(live_lp.max()) / best_penalty
            if max(h.score for h in finished) >= bound:
                break

    finished.sort(key=lambda h: h.score, reverse=True)
    cut_off.sort(key=lambda h: h.score, reverse=True)
    if return_all:
        return finished + cut_off
    if finished:
        return finished[0]
    if cut_off:
        return cut_off[0]
    return Hypothesis([], 0.0, 0.0, False)  # max_len == 0
