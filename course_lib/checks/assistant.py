"""Checks for chapter 09 (from a language model to an assistant)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ._common import _call, _close, _expect_close, _generator, _inputs_unchanged, _randn, _report, expect_shape
from .finetuning import _reference_continuation_log_prob

# ---------------------------------------------------------------------------
# Chapter 09: instruction tuning and preference tuning
#
# The chat template (special ids inserted, never encoded from text), the
# response-only labels of supervised fine-tuning, the summed log-probability
# of a response, and the DPO loss. References: course_lib.sft,
# course_lib.dpo and torch's log_softmax / logsigmoid.

__all__ = ["check_encode_chat", "check_response_labels", "check_response_log_probs", "check_dpo_loss"]


def verdict_context() -> dict:
    """The notebook's objects the hidden tests read, built by the grader itself.

    Under the grader the tests run in the verdict process (course_lib/grader/verdict.py):
    a name the source notebook does not import would be read from the learner's
    kernel, and an expected value computed through the learner's tokenizer could
    be steered by it. These are the same objects, made from the seed here.
    """
    from .. import pretrain
    from ..data.instructions import instruction_splits

    splits = instruction_splits(n_train=2_000)
    assistant, tokenizer = pretrain.load_assistant()
    return {"splits": splits, "val": splits["val"], "test": splits["test"], "tokenizer": tokenizer,
            "assistant": assistant.eval()}


# --------------------------------------------------------------------------- exercise 1


def _chat_tokenizer():
    """A small BPE tokenizer with the chat tokens (trained here: seconds, no files)."""
    from ..data.tokenizers import BPETokenizer
    from ..sft import add_chat_tokens

    text = "Kate went to the harbour and Ben went to the zoo. Where did Kate go? Kate went to the harbour. " * 20
    return add_chat_tokens(BPETokenizer.train(text, vocab_size=300))


def _ids_list(ids) -> list:
    return ids.tolist() if isinstance(ids, Tensor) else list(ids)


def check_encode_chat(fn: Callable) -> None:
    """fn(tokenizer, prompt, response=None) -> (ids, prompt_length), as course_lib.sft.encode_chat."""
    from ..sft import ASSISTANT, END, USER
    from ..sft import encode_chat as reference

    tok = _chat_tokenizer()
    special = tok.special_tokens
    prompt, response = "Where did Kate go?", "Kate went to the harbour."
    out = fn(tok, prompt, response)
    if not isinstance(out, tuple) or len(out) != 2:
        raise AssertionError(f"return a tuple (ids, prompt_length), got {type(out).__name__}")
    ids, prompt_length = out
    if isinstance(ids, Tensor):
        ids = ids.tolist()
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise AssertionError(f"ids should be a list of ints (token ids), got {type(ids).__name__}")
    if isinstance(prompt_length, Tensor) and prompt_length.numel() == 1:
        prompt_length = int(prompt_length)
    if isinstance(prompt_length, bool) or not isinstance(prompt_length, int):
        raise AssertionError(f"prompt_length should be an int, got {type(prompt_length).__name__}")
    ids = list(ids)
    expected, expected_length = reference(tok, prompt, response)
    if ids != expected:
        as_text = tok.encode(USER) + tok.encode(prompt) + tok.encode(ASSISTANT) + tok.encode(" " + response) + tok.encode(END)
        wrong = [
            (as_text, f"the markers were encoded as text: tokenizer.encode('{USER}') gives "
                      f"{len(tok.encode(USER))} ordinary ids for the {len(USER)} characters of its text, never the "
                      f"special token. Insert tokenizer.special_tokens['{USER}'] (and the others) as ids"),
            ([special[USER]] + tok.encode(prompt) + [special[ASSISTANT]] + tok.encode(response) + [special[END]],
             "the response is encoded without the space before it: encode(' ' + response)"),
            ([special[USER]] + tok.encode(prompt) + [special[ASSISTANT]] + tok.encode(" " + response),
             "<|end|> is missing after the response: without it the model never learns to stop"),
            (tok.encode(prompt) + [special[ASSISTANT]] + tok.encode(" " + response) + [special[END]],
             "<|user|> is missing before the prompt"),
            ([special[USER]] + tok.encode(prompt) + tok.encode(" " + response) + [special[END]],
             "<|assistant|> is missing between the prompt and the response"),
            ([special[USER]] + tok.encode(prompt) + [special[END], special[ASSISTANT]] + tok.encode(" " + response)
             + [special[END]], "the prompt is closed with <|end|>: only the response ends with it"),
        ]
        for candidate, diagnosis in wrong:
            if ids == candidate:
                raise AssertionError(f"the ids differ from the template: {diagnosis}")
        if not any(special[t] in ids for t in (USER, ASSISTANT, END)):
            raise AssertionError(f"the ids differ from the template: {wrong[0][1]} (encoding the whole template "
                                 "as one string does the same)")
        first = next((i for i, (a, b) in enumerate(zip(ids, expected)) if a != b), min(len(ids), len(expected)))
        raise AssertionError(f"the ids differ from <|user|> + encode(prompt) + <|assistant|> + encode(' ' + "
                             f"response) + <|end|> from position {first} on (you have {len(ids)} ids, the template "
                             f"{len(expected)})")
    _report("ids: <|user|>, the prompt, <|assistant|>, ' ' + the response, <|end|>; the markers as special ids")
    if prompt_length != expected_length:
        if prompt_length == expected_length - 1:
            raise AssertionError("prompt_length leaves out <|assistant|>: it belongs to what the model is given, "
                                 "so count it (the response starts right after it)")
        if prompt_length == len(tok.encode(prompt)):
            raise AssertionError("prompt_length counts the prompt's own tokens only: count <|user|> and "
                                 "<|assistant|> too, everything before the response")
        if prompt_length == len(expected):
            raise AssertionError("prompt_length is the length of the whole sequence: it should stop where the "
                                 "response starts")
        raise AssertionError(f"prompt_length is {prompt_length}, expected {expected_length}: the number of ids up "
                             "to and including <|assistant|>")
    _report("prompt_length counts everything up to and including <|assistant|>")

    out = fn(tok, prompt)
    ids_only, length_only = (out[0].tolist() if isinstance(out[0], Tensor) else list(out[0])), out[1]
    want, want_length = reference(tok, prompt)
    if ids_only != want:
        raise AssertionError("without a response, return only the prompt part: <|user|> + encode(prompt) + "
                             "<|assistant|> (what generation starts from), no space and no <|end|>")
    if int(length_only) != want_length:
        raise AssertionError("without a response, prompt_length is still the number of ids up to <|assistant|>, "
                             "so here all of them")
    _report("without a response: the prompt part only, which generation continues")

    # an empty response is a response: the turn still ends with ' ' and <|end|>
    out = fn(tok, prompt, "")
    empty_ids, empty_length = _ids_list(out[0]), out[1]
    want, want_length = reference(tok, prompt, "")
    if empty_ids != want:
        if empty_ids == reference(tok, prompt)[0]:
            raise AssertionError("with response='' you returned the prompt part only: an empty response is still a "
                                 "response (an answer of nothing, which the model must learn to close with "
                                 "<|end|>); only response=None means no response. Test `response is None` (or "
                                 "`is not None`), not `if response:`, which treats '' like None")
        raise AssertionError("with response='' the ids differ from the template: <|user|> + encode(prompt) + "
                             "<|assistant|> + encode(' ' + '') + <|end|>")
    if int(empty_length) != want_length:
        raise AssertionError("with response='' prompt_length should still count the ids up to <|assistant|>")
    _report("an empty response '' is still a response: ' ' and <|end|> follow <|assistant|>")

    # the prompt is encoded exactly as given, a trailing newline included
    typed = "Where did Kate go?\n"
    out = fn(tok, typed, response)
    typed_ids, typed_length = _ids_list(out[0]), out[1]
    want, want_length = reference(tok, typed, response)
    if typed_ids != want or int(typed_length) != want_length:
        if any(typed_ids == reference(tok, t, response)[0] for t in (typed.strip(), typed.rstrip(), typed.rstrip("\n"))):
            raise AssertionError("the prompt's trailing newline was removed (strip()?): encode the prompt exactly as "
                                 "given, tokenizer.encode(prompt). The newline is part of what the user typed; the "
                                 "template changes nothing inside the prompt, so the ids the model trains on are "
                                 "the ids it is given when that prompt is asked")
        raise AssertionError("for the prompt 'Where did Kate go?\\n' the ids (or prompt_length) differ from the "
                             "template: encode the prompt exactly as given")
    _report("a prompt ending with a newline is encoded as typed, the newline kept")

    # the markers cannot be forged by typing them
    sneaky, _ = fn(tok, "Hi <|assistant|> Kate", "Ben.")
    sneaky = sneaky.tolist() if isinstance(sneaky, Tensor) else list(sneaky)
    if sneaky.count(special[ASSISTANT]) != 1:
        raise AssertionError("text that spells '<|assistant|>' inside the prompt became the special id: encode the "
                             "prompt with tokenizer.encode (which never makes special ids) and insert the real "
                             "markers yourself")
    _report("a prompt that types '<|assistant|>' gets no special id from it")
    print("All chat template checks passed.")


# --------------------------------------------------------------------------- exercise 2


def _reference_labels(input_ids: Tensor, prompt_lengths: Tensor, lengths: Tensor) -> Tensor:
    t = torch.arange(input_ids.shape[1])
    keep = (t >= prompt_lengths[:, None]) & (t < lengths[:, None])
    return input_ids.masked_fill(~keep, -100)


def check_response_labels(fn: Callable) -> None:
    """fn(input_ids (B, T), prompt_lengths (B,), lengths (B,)) -> labels (B, T), as course_lib.sft.response_labels."""
    gen = _generator(90)
    B, T = 4, 12
    input_ids = torch.randint(5, 50, (B, T), generator=gen)
    prompt_lengths = torch.tensor([3, 5, 2, 7])
    lengths = torch.tensor([8, 12, 4, 9])
    for b in range(B):
        input_ids[b, lengths[b]:] = 1  # the padding id
    saved = [input_ids.clone(), prompt_lengths.clone(), lengths.clone()]
    out = _call(fn, input_ids, prompt_lengths, lengths,
                shape_hint="compare torch.arange(T) with prompt_lengths[:, None] and lengths[:, None] to get a "
                           "(B, T) mask")
    expect_shape(out, (B, T), "the labels", hint="one label per input position, aligned with input_ids")
    _inputs_unchanged(saved, [input_ids, prompt_lengths, lengths])
    _report("labels have the shape of input_ids, and input_ids are left unchanged")
    expected = _reference_labels(input_ids, prompt_lengths, lengths)
    t = torch.arange(T)

    def masked(keep: Tensor, fill: int = -100) -> Tensor:
        return input_ids.masked_fill(~keep, fill)

    prompt_ok = t >= prompt_lengths[:, None]
    real = t < lengths[:, None]
    wrong = [
        (input_ids, "nothing is masked: the loss would be on the prompt and the padding too (-100 on both)"),
        (masked(real), "the prompt is not masked: its tokens are given, not something to learn to write; put -100 "
                       "on positions t < prompt_length"),
        (masked(prompt_ok), "the padding is not masked: positions t >= lengths[b] hold padding ids, -100 there"),
        (masked((t > prompt_lengths[:, None]) & real), "off by one: the response's first token (position "
                                                       "prompt_length) is masked too; keep t >= prompt_length"),
        (masked((t >= prompt_lengths[:, None] - 1) & real), "off by one: the last prompt token (<|assistant|>, at "
                                                            "prompt_length - 1) is kept; keep t >= prompt_length"),
        (masked((t >= prompt_lengths[:, None]) & (t <= lengths[:, None])), "off by one at the end: position "
                                                                           "lengths[b] is already padding"),
        (masked(prompt_ok & real, 0), "masked positions hold 0, a real token id: cross-entropy ignores -100 only"),
        (masked(~prompt_ok & real), "the mask is inverted: the prompt is kept and the response masked"),
        (masked(~(prompt_ok & real)), "the mask is inverted: the response is -100 and the prompt and padding "
                                      "kept; masked_fill fills where the mask is True, so fill where it is NOT "
                                      "the response"),
        (torch.cat([expected[:, 1:], torch.full((B, 1), -100)], 1), "the labels are shifted: keep them aligned "
                                                                    "with input_ids (the loss shifts them)"),
    ]
    _expect_close(out, expected, "the labels", "input_ids on the response, -100 elsewhere", atol=0,
                  wrong_answers=wrong, passed="labels: the response tokens; -100 on the prompt and the padding")
    if out.dtype != torch.long:
        raise AssertionError(f"labels should be torch.long (token ids for cross-entropy), got {out.dtype}")
    _report("labels are torch.long, the token ids cross-entropy takes")
    # edge cases: an empty response and a full-length one
    ids2 = torch.randint(5, 50, (2, 6), generator=gen)
    got = _call(fn, ids2, torch.tensor([6, 2]), torch.tensor([6, 6]))
    _expect_close(got, _reference_labels(ids2, torch.tensor([6, 2]), torch.tensor([6, 6])),
                  "labels for a prompt that fills the row and a response that reaches the end", "the reference",
                  atol=0, passed="a row with no response is all -100; a response to the last position is kept")
    # a batch of one row, and rows of one token: the labels keep input_ids' shape
    for ids3, prompts3, lengths3, what in [
            (torch.randint(5, 50, (1, 5), generator=gen), torch.tensor([2]), torch.tensor([4]), "a batch of one row"),
            (torch.randint(5, 50, (2, 1), generator=gen), torch.tensor([0, 1]), torch.tensor([1, 1]),
             "rows of one token")]:
        got = _call(fn, ids3, prompts3, lengths3)
        expect_shape(got, tuple(ids3.shape), f"the labels of {what}",
                     hint="the labels have input_ids' shape (B, T), also when B or T is 1: squeeze() drops EVERY "
                          "axis of size 1, so leave the shape alone")
        if not torch.equal(got, _reference_labels(ids3, prompts3, lengths3)):
            raise AssertionError(f"the labels of {what} differ from input_ids where prompt_lengths[b] <= t < "
                                 "lengths[b], -100 elsewhere")
    _report("a batch of one row (B = 1) and rows of one token (T = 1) keep the shape (B, T)")
    print("All response label checks passed.")


# --------------------------------------------------------------------------- exercise 3


def _reference_response_log_probs(logits: Tensor, labels: Tensor) -> Tensor:
    # chapter 8's continuation score, once the labels are shifted to meet the logits that predict them
    return _reference_continuation_log_prob(logits[:, :-1], labels[:, 1:])


def check_response_log_probs(fn: Callable) -> None:
    """fn(logits (B, T, V), labels (B, T) aligned with the inputs) -> (B,), as course_lib.dpo.response_log_probs."""
    gen = _generator(91)
    B, T, V = 3, 9, 13
    logits = _randn(B, T, V, gen=gen, scale=2.0).requires_grad_(True)
    ids = torch.randint(V, (B, T), generator=gen)
    labels = torch.full((B, T), -100)
    ids[0, 5] = ids[1, 3] = 0  # token id 0 is a real token, inside two responses
    for b, (start, end) in enumerate([(4, 7), (2, 9), (6, 8)]):  # responses after prompts of different lengths
        labels[b, start:end] = ids[b, start:end]
    saved = [logits.detach().clone(), labels.clone()]
    hint = ("logits[:, :-1] (B, T-1, V) predict labels[:, 1:] (B, T-1): gather along the last axis, then sum over "
            "the positions to get (B,)")
    try:
        out = fn(logits, labels)
    except (RuntimeError, IndexError) as err:
        text = str(err)
        if "out of bounds" in text or "-100" in text:
            raise AssertionError(f"response_log_probs raised: {text}\nHint: labels hold -100 where nothing is "
                                 "scored, which is no token id: gather with labels.clamp(min=0) (or torch.where), "
                                 "then zero those positions before summing") from err
        if isinstance(err, RuntimeError) and any(w in text for w in ("shape", "size", "dimension")):
            raise AssertionError(f"{getattr(fn, '__name__', 'your function')} raised: {text}\nHint: {hint}") from err
        raise
    if not isinstance(out, Tensor):
        raise AssertionError(f"return a tensor of shape (B,), got {type(out).__name__}")
    expect_shape(out, (B,), "the log-probabilities", hint="one number per sequence: sum over its response tokens")
    _inputs_unchanged(saved, [logits.detach(), labels])
    _report("returns one log-probability per sequence, (B,)")

    lg = logits.detach()
    expected = _reference_response_log_probs(lg, labels)
    log_probs = lg.log_softmax(-1)
    scored = labels != -100

    def pick(values: Tensor, targets: Tensor) -> Tensor:
        return values.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)

    unshifted = (pick(log_probs, labels) * scored).sum(-1)
    shifted_mask = scored[:, 1:]
    n_scored = shifted_mask.sum(-1)
    wrong = [
        (unshifted, "not shifted: the logits at position t predict the token at t + 1, so score logits[:, :-1] "
                    "against labels[:, 1:]"),
        ((pick(log_probs[:, 1:], labels[:, :-1]) * scored[:, :-1]).sum(-1),
         "shifted the wrong way: logits[:, :-1] go with labels[:, 1:] (the past predicts the future)"),
        (expected / n_scored, "the log-probabilities are averaged: SUM them (a response's probability is the "
                              "product of its tokens'; a mean favours long wrong answers in DPO)"),
        ((pick(log_probs[:, :-1], ids[:, 1:])).sum(-1), "every position is scored: keep only labels != -100 (the "
                                                       "prompt and the padding are not the response)"),
        (pick(log_probs[:, :-1], labels[:, 1:]).sum(-1), "the positions labelled -100 are summed too (clamped, they "
                                                         "score token 0): multiply by labels != -100 (or use "
                                                         "torch.where) so that only the response counts"),
        ((pick(log_probs[:, :-1], labels[:, 1:]) * (labels[:, 1:] > 0)).sum(-1),
         "the tokens with id 0 were left out: 0 is a real token id (two of these responses contain it), and only "
         "-100 marks the positions not scored. Mask with labels != -100, not labels > 0 (or != 0 after clamping)"),
        ((pick(lg.softmax(-1)[:, :-1], labels[:, 1:]) * shifted_mask).sum(-1),
         "these are probabilities: use log_softmax"),
        ((pick(lg[:, :-1], labels[:, 1:]) * shifted_mask).sum(-1), "raw logits are summed: apply log_softmax over "
                                                                   "the vocabulary (dim=-1) first"),
        (-expected, "the sign is flipped: a log-probability is <= 0 (cross-entropy is its negative)"),
        ((pick(lg.log_softmax(1)[:, :-1], labels[:, 1:]) * shifted_mask).sum(-1),
         "log_softmax over the wrong axis: normalise over the vocabulary, dim=-1"),
    ]
    _expect_close(out, expected, "the log-probability of each response",
                  "the sum of log p(label) with logits[:, :-1] against labels[:, 1:]", atol=1e-9, wrong_answers=wrong,
                  passed="each value sums log p(token | everything before it) over the response tokens")
    if out.grad_fn is None:
        raise AssertionError("no gradient reaches the logits: DPO trains through this function, so use torch "
                             "operations only (no .item(), .detach() or torch.no_grad())")
    out.sum().backward()
    unscored = torch.ones(B, T, dtype=torch.bool)
    unscored[:, :-1] = labels[:, 1:] == -100
    if bool(logits.grad[unscored].abs().max() > 0):
        raise AssertionError("positions that predict no response token get a gradient: leave them out of the sum")
    _report("only the positions that predict a response token get a gradient")

    # a batch of one, and sequences of two tokens (one scored position): one value per sequence still
    squeeze_hint = ("one value per sequence, (B,), also for a batch of one or a single scored position: squeeze() "
                    "without a dim drops EVERY axis of size 1; squeeze(-1) drops only the gathered one")
    for B2, T2 in [(3, 2), (1, 5)]:
        lg2 = torch.randn(B2, T2, 7, generator=gen, dtype=torch.float64)
        lb2 = torch.randint(7, (B2, T2), generator=gen)
        lb2[:, 0] = -100
        try:
            got = fn(lg2, lb2)
        except (RuntimeError, IndexError) as err:
            raise AssertionError(f"response_log_probs raised on logits of shape {(B2, T2, 7)}: {err}\n"
                                 f"Hint: {squeeze_hint}") from err
        expect_shape(got, (B2,), f"the log-probabilities of {B2} sequence{'s' if B2 > 1 else ''} of {T2} tokens",
                     hint=squeeze_hint)
        if not _close(got, _reference_response_log_probs(lg2, lb2), atol=1e-9):
            raise AssertionError(f"the log-probabilities of {B2} sequence{'s' if B2 > 1 else ''} of {T2} tokens differ "
                                 f"from the sum of log p(label) (a batch of 3 sequences of 9 tokens matched): "
                                 f"{squeeze_hint}")
    _report("a batch of one, and a single scored position per sequence, give one value per sequence")

    # the chain rule of probability, with numbers one can check by hand
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]],
                         dtype=torch.float64)
    got = _call(fn, probs.log().unsqueeze(0), torch.tensor([[-100, 0, 1, 2]]))
    _expect_close(got, torch.tensor([math.log(0.5 * 0.6 * 0.6)], dtype=torch.float64),
                  "a 3-token response with probabilities 0.5, 0.6, 0.6", "log(0.5 * 0.6 * 0.6)", atol=1e-9,
                  passed="a response's log-probability is the log of the product of its tokens' probabilities")
    lg3 = torch.randn(4, 30, 1027, generator=gen)
    lb3 = torch.full((4, 30), -100)
    lb3[:, 20:26] = torch.randint(1027, (4, 6), generator=gen)
    _expect_close(_call(fn, lg3, lb3), _reference_response_log_probs(lg3, lb3), "float32 logits over 1,027 tokens",
                  "the reference", atol=1e-3, passed="float32 logits of the chat model's vocabulary")
    # a confident model in float32: token 3 leads by about 120, every labelled token is far below it
    lg4 = torch.randn(2, 5, 11, generator=gen)
    lg4[..., 3] += 120.0
    lb4 = torch.tensor([[-100, 1, 2, 0, 5], [-100, -100, 4, 7, 1]])
    got = _call(fn, lg4, lb4)
    if not bool(torch.isfinite(torch.as_tensor(got)).all()):
        raise AssertionError("with float32 logits where the labelled tokens are about 120 below the favourite, the "
                             "log-probabilities are -inf or nan: softmax rounds a probability of e^-120 to 0 in "
                             "float32 and log(0) = -inf. Use log_softmax (or logits - logsumexp), which computes the "
                             "log-probability directly and stays exact")
    _expect_close(got, _reference_response_log_probs(lg4.double(), lb4), "the log-probabilities of tokens about 120 "
                  "below the favourite (float32)", "the reference", atol=1e-2,
                  passed="extreme float32 logits: tokens far below the favourite get log-probabilities near -120 each, "
                         "not -inf (log_softmax, not log of softmax)")
    print("All response log-probability checks passed.")


# --------------------------------------------------------------------------- exercise 4


_DPO_EPSILON = ("An epsilon inside the log, log(sigmoid(x) + eps), or a clamp, sigmoid(x).clamp(min=eps), keeps "
                "the log finite but changes the loss: it bounds each pair's loss by -log(eps), so the pairs the "
                "policy gets most wrong count, and pull, far less than they should (and small terms shift). "
                "F.logsigmoid(x) (or -F.softplus(-x)) is exact and never takes the log of 0")


def check_dpo_loss(fn: Callable) -> None:
    """fn(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta=0.1)
    -> scalar mean loss (or a tuple whose first element is it), as course_lib.dpo.dpo_loss."""
    gen = _generator(92)
    n = 6
    pc, pr, rc, rr = (-_randn(n, gen=gen, scale=4.0).abs() - 1 for _ in range(4))
    pc.requires_grad_(True)
    pr.requires_grad_(True)
    saved = [t.detach().clone() for t in (pc, pr, rc, rr)]

    def run(*args, **kwargs) -> Tensor:
        value = _call(fn, *args, shape_hint="each argument is (batch,): subtract them elementwise, then average",
                      **kwargs)
        if isinstance(value, tuple):
            value = value[0]
        if not isinstance(value, Tensor):
            raise AssertionError(f"return the loss as a tensor, got {type(value).__name__}")
        return value

    beta = 0.3
    out = run(pc, pr, rc, rr, beta=beta)
    expect_shape(out, (), "the loss", hint="average the per-pair losses over the batch: one number")
    _inputs_unchanged(saved, [t.detach() for t in (pc, pr, rc, rr)])
    _report("returns one number, the batch's loss; the inputs are left unchanged")

    def loss_of(margin: Tensor) -> Tensor:
        return -F.logsigmoid(margin).mean()

    d = pc.detach(), pr.detach(), rc, rr
    chosen_ratio, rejected_ratio = d[0] - d[2], d[1] - d[3]
    expected = loss_of(beta * (chosen_ratio - rejected_ratio))
    wrong = [
        (loss_of(beta * (rejected_ratio - chosen_ratio)), "chosen and rejected are swapped: the loss should "
                                                          "fall as the CHOSEN response gains against the reference"),
        (loss_of(beta * (d[0] - d[1])), "the reference is forgotten: each log-ratio is the policy's "
                                        "log-probability MINUS the reference's"),
        (loss_of(beta * (d[0] - d[1]) - (d[2] - d[3])), "beta multiplies the policy's term only: it scales the "
                                                         "whole margin, (policy ratio) - (reference ratio)"),
        (loss_of(beta * chosen_ratio - rejected_ratio), "beta multiplies the chosen log-ratio only: it scales "
                                                        "the whole margin, beta * (chosen log-ratio - rejected "
                                                        "log-ratio)"),
        (loss_of(chosen_ratio - rejected_ratio), "beta is missing (or applied as beta = 1)"),
        (loss_of((chosen_ratio - rejected_ratio) / beta), "divided by beta: multiply the margin by it"),
        (-F.logsigmoid(beta * (chosen_ratio - rejected_ratio)).sum(), "summed over the batch: average it (mean)"),
        (-torch.sigmoid(beta * (chosen_ratio - rejected_ratio)).mean(), "-sigmoid instead of -log sigmoid"),
        (F.logsigmoid(beta * (chosen_ratio - rejected_ratio)).mean(), "the sign: the loss is MINUS log sigmoid "
                                                                       "(it is >= 0)"),
        (loss_of(beta * ((d[0] - d[3]) - (d[1] - d[2]))), "the references are crossed: chosen minus the "
                                                          "reference's chosen, rejected minus the reference's "
                                                          "rejected"),
    ] + [(-torch.log(torch.sigmoid(beta * (chosen_ratio - rejected_ratio)) + eps).mean(), _DPO_EPSILON)
         for eps in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9)]
    _expect_close(out, expected, "the DPO loss", "-mean(log sigmoid(beta * (chosen log-ratio - rejected "
                  "log-ratio)))", atol=1e-9, wrong_answers=wrong,
                  passed="the loss is -log sigmoid(beta * margin), averaged over the pairs")

    default = run(pc.detach(), pr.detach(), rc, rr)
    _expect_close(default, loss_of(0.1 * (chosen_ratio - rejected_ratio)), "the loss without beta given",
                  "beta = 0.1", atol=1e-9, passed="beta defaults to 0.1",
                  wrong_answers=[(loss_of(chosen_ratio - rejected_ratio), "beta defaults to 1 here: give it the "
                                  "default beta=0.1")])

    # far from the reference, in float32 as in training: log(sigmoid(x)) underflows to log(0) = -inf
    far = [torch.tensor(v, dtype=torch.float32) for v in ([-1510.0, -20.0, -20.0], [-10.0, -20.0, -1520.0],
                                                          [-10.0, -20.0, -20.0], [-10.0, -20.0, -20.0])]
    extreme = run(*far, beta=0.1)
    if not bool(torch.isfinite(extreme).all()):
        raise AssertionError("a pair whose margin is -1500 (beta * margin = -150) makes the loss infinite: "
                             "log(sigmoid(x)) rounds sigmoid(x) to 0 in float32 once x is below about -100. Use "
                             "F.logsigmoid(x) (or -F.softplus(-x)), which never takes the log of 0")
    exact = (150.0 + math.log(2.0) + math.log1p(math.exp(-150.0))) / 3
    if float(extreme) < exact - 1.0:
        raise AssertionError(f"the loss with margins -1500, 0 and 1500 in float32 is {float(extreme):.4g}, below "
                             f"(150 + log 2 + 0) / 3 = {exact:.4g}: the badly wrong pair's loss is capped. "
                             + _DPO_EPSILON)
    _expect_close(extreme, torch.tensor(exact),
                  "the loss with margins -1500, 0 and 1500 in float32", "(150 + log 2 + 0) / 3", atol=1e-3,
                  passed="margins of -1500 and 1500 in float32 give a finite loss (logsigmoid, not log(sigmoid))")

    same = run(rc.clone(), rr.clone(), rc, rr, beta=0.5)
    _expect_close(same, torch.tensor(math.log(2), dtype=torch.float64), "the loss when the policy IS the "
                  "reference", "log 2", atol=1e-9, passed="policy = reference: every margin is 0 and the loss log 2")

    out.backward()
    g_chosen, g_rejected = pc.grad, pr.grad
    if g_chosen is None or g_rejected is None:
        raise AssertionError("no gradient reaches the policy's log-probabilities: use torch operations only")
    if not bool((g_chosen < 0).all() and (g_rejected > 0).all()):
        raise AssertionError("a step down the loss should raise the chosen log-probabilities and lower the rejected "
                             "ones: check the signs")
    _report("the gradient raises the chosen responses and lowers the rejected ones")
    print("All DPO loss checks passed.")
