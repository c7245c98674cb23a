"""Checks for chapter 08 (fine-tuning pretrained models)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._common import _call, _expect_close, _generator, _inputs_unchanged, _randn, _report, expect_shape

# ---------------------------------------------------------------------------
# Chapter 08: fine-tuning
#
# A LoRA linear layer (zero-initialised low-rank update, merged for inference),
# the log-probability of a continuation (text-to-text scoring with a GPT), and
# the distillation loss with a temperature. References: course_lib.lora,
# course_lib.distillation and torch's log_softmax / F.kl_div.

__all__ = ["check_lora_linear", "check_continuation_log_prob", "check_distillation_loss"]


# --------------------------------------------------------------------------- exercise 1


def _linear(gen: torch.Generator, d_in: int, d_out: int, bias: bool = True) -> nn.Linear:
    """An nn.Linear with seeded float32 weights (float32: a learner's new parameters are float32 too)."""
    layer = nn.Linear(d_in, d_out, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(d_out, d_in, generator=gen) / d_in**0.5)
        if bias:
            layer.bias.copy_(torch.randn(d_out, generator=gen))
    return layer


def _lora_matrices(layer: nn.Module, d_in: int, d_out: int, rank: int) -> tuple[Tensor, Tensor]:
    for name, shape in (("lora_A", (rank, d_in)), ("lora_B", (d_out, rank))):
        value = getattr(layer, name, None)
        if not isinstance(value, nn.Parameter):
            raise AssertionError(f"the layer has no nn.Parameter named {name}: store A as self.lora_A, "
                                 f"(rank, in_features), and B as self.lora_B, (out_features, rank), each wrapped "
                                 f"in nn.Parameter so that the optimizer sees them")
        expect_shape(value, shape, f"{name} for rank {rank}, in_features {d_in}, out_features {d_out}",
                     hint="A is (rank, in_features) and B is (out_features, rank), so that B @ A has the "
                          "shape of the base weight (out_features, in_features)")
    return layer.lora_A, layer.lora_B


def _set(param: Tensor, value: Tensor) -> None:
    with torch.no_grad():
        param.copy_(value)


def _merge(layer: nn.Module) -> nn.Module:
    """layer.merge(), with a hint for the two errors a merge written by hand usually raises."""
    try:
        return layer.merge()
    except RuntimeError as err:
        text = str(err)
        hint = ("copy into the new layer's parameters under torch.no_grad() (they require gradients)"
                if "requires grad" in text else
                "B @ A is (out_features, in_features), the shape of the base weight"
                if any(w in text for w in ("shape", "size", "dimension")) else "")
        if not hint:
            raise
        raise AssertionError(f"merge() raised: {text}\nHint: {hint}") from err


def check_lora_linear(cls: Callable) -> None:
    """cls(base: nn.Linear, rank, alpha) -> module with lora_A, lora_B, forward(x) and merge() -> nn.Linear,
    as course_lib.lora.LoRALinear."""
    gen = _generator(8)
    d_in, d_out, rank, alpha = 12, 10, 3, 7.0  # alpha / rank = 2.33: not an integer
    base = _linear(gen, d_in, d_out)
    saved = [base.weight.detach().clone(), base.bias.detach().clone()]
    layer = _call(cls, base, rank, alpha, shape_hint="A is (rank, in_features), B is (out_features, rank)")
    if not isinstance(layer, nn.Module):
        raise AssertionError(f"LoRALinear should be an nn.Module (class LoRALinear(nn.Module)), got {type(layer).__name__}")
    A, B = _lora_matrices(layer, d_in, d_out, rank)
    _report("lora_A is (rank, in_features) and lora_B is (out_features, rank), both parameters")

    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    if trainable != {"lora_A", "lora_B"}:
        extra = sorted(trainable - {"lora_A", "lora_B"})
        raise AssertionError(f"the trainable parameters are {sorted(trainable)}: the base layer still trains "
                             f"({extra}); freeze it with p.requires_grad_(False) for each of base's parameters, "
                             "only A and B learn" if extra else
                             f"the trainable parameters are {sorted(trainable)}, expected lora_A and lora_B")
    if base.weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        raise AssertionError("the base layer you were given still has requires_grad=True: keep that layer "
                             "itself (self.base = base, not a copy) and freeze its parameters")
    n_trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    _report(f"the base layer is frozen: {n_trainable} trainable numbers, rank * (in + out) = {rank * (d_in + d_out)}")

    x = _randn(4, d_in, gen=gen).float()
    out = _call(layer, x, shape_hint="x is (..., in_features): the update is x @ A.T @ B.T, (..., out_features)")
    expect_shape(out, (4, d_out), "the output for x of shape (4, in_features)")
    if bool(B.detach().abs().sum() > 0):
        raise AssertionError("lora_B is not zero at the start: initialise B to zeros (and A randomly), so that "
                             "B A = 0 and the adapted layer starts exactly as the pretrained one")
    if not bool(A.detach().abs().sum() > 0):
        raise AssertionError("lora_A is all zeros: with A = 0 and B = 0 no gradient reaches either and nothing "
                             "trains; initialise A randomly (e.g. torch.randn(rank, in_features) / in_features**0.5)")
    _expect_close(out, base(x), "the output at initialisation", "the base layer's", atol=1e-6,
                  hint="with B = 0 the update B A x is 0, so the output must equal base(x)",
                  passed="at the start (B = 0) the output equals the base layer's")
    if not (torch.equal(base.weight, saved[0]) and torch.equal(base.bias, saved[1])):
        raise AssertionError("the base layer's weights were changed: keep them as they are (frozen)")

    # inject A and B: the forward pass must be base(x) + (alpha / rank) x A^T B^T
    A_val, B_val = torch.randn(rank, d_in, generator=gen), torch.randn(d_out, rank, generator=gen)
    _set(A, A_val)
    _set(B, B_val)
    x = torch.randn(2, 5, d_in, generator=gen)
    out = _call(layer, x, shape_hint="x may have several leading axes (batch, seq, in_features): use x @ A.T, "
                                     "not a matmul that assumes 2-D input")
    expect_shape(out, (2, 5, d_out), "the output for x of shape (2, 5, in_features)")
    update = x @ A_val.T @ B_val.T
    expected = base(x) + (alpha / rank) * update
    wrong = [
        (base(x) + update, "the update is not scaled: multiply B A x by alpha / rank"),
        (base(x) + (alpha // rank) * update, "alpha // rank is floor division (7 // 3 = 2): the scale is alpha / rank"),
        (base(x) + (rank / alpha) * update, "the scale is upside down: it is alpha / rank, not rank / alpha"),
        (base(x) + alpha * update, "the update is scaled by alpha only: the scale is alpha / rank"),
        ((alpha / rank) * update, "the base layer's output is missing: return base(x) + the update"),
    ]
    _expect_close(out, expected, "the output with A and B set", "base(x) + (alpha / rank) * x A^T B^T",
                  atol=1e-5, wrong_answers=wrong,
                  passed="with A and B set, the output is base(x) + (alpha / rank) B A x, for (batch, seq, in) input")

    x = torch.randn(6, d_in, generator=gen)
    layer.zero_grad()
    _call(layer, x).pow(2).sum().backward()
    if A.grad is None or B.grad is None or not bool(B.grad.abs().sum() > 0):
        raise AssertionError("no gradient reaches lora_A and lora_B: compute the update with torch operations on "
                             "the parameters themselves (no .data, .detach() or torch.no_grad())")
    if base.weight.grad is not None and bool(base.weight.grad.abs().sum() > 0):
        raise AssertionError("the base weight gets a gradient: freeze it")
    _report("gradients reach A and B, not the base layer")

    # merge: a plain nn.Linear with W + (alpha / rank) B A and the same bias
    x = torch.randn(7, d_in, generator=gen)
    with torch.no_grad():
        before = layer(x)
    merged = _merge(layer)
    if type(merged) is not nn.Linear:
        raise AssertionError(f"merge() should return a plain nn.Linear, got {type(merged).__name__}: build "
                             "nn.Linear(in_features, out_features) and copy the merged weight and the bias into it")
    expect_shape(merged.weight, (d_out, d_in), "the merged weight", hint="the base weight's shape (out, in)")
    with torch.no_grad():
        merged_out = merged(x)
        delta = (alpha / rank) * B_val @ A_val
        wrong = [
            (x @ (base.weight + B_val @ A_val).T + base.bias, "the merged weight forgets the scale: W + (alpha / rank) B A"),
            (x @ (base.weight + delta).T, "the merged layer has no bias (or a zero one): copy the base layer's bias"),
            (x @ base.weight.T + base.bias, "the merged layer is the base layer: add (alpha / rank) B A to its weight"),
        ]
        _expect_close(merged_out, before, "the merged layer's output", "the LoRA layer's", atol=1e-5,
                      wrong_answers=wrong,
                      passed="merge() returns an nn.Linear with the same outputs (weight W + (alpha / rank) B A, same bias)")
        if not torch.allclose(layer(x), before, atol=1e-6):
            raise AssertionError("after merge() the LoRA layer's own output changed: merge must not add B A into "
                                 "the base weight in place; build a new nn.Linear")
    _report("merge() leaves the LoRA layer as it was")

    # a base without bias, another rank
    base = _linear(gen, 8, 16, bias=False)
    layer = _call(cls, base, 2, 2.0)
    A, B = _lora_matrices(layer, 8, 16, 2)
    _set(A, torch.randn(2, 8, generator=gen))
    _set(B, torch.randn(16, 2, generator=gen))
    x = torch.randn(3, 8, generator=gen)
    merged = _merge(layer)
    if type(merged) is not nn.Linear or merged.bias is not None:
        raise AssertionError("for a base layer without bias, merge() should return nn.Linear(..., bias=False)")
    with torch.no_grad():
        _expect_close(merged(x), layer(x), "the merged layer without bias", "the LoRA layer", atol=1e-5,
                      passed="a base layer without bias: merged with bias=False, same outputs")
    print("All LoRA layer checks passed.")


# --------------------------------------------------------------------------- exercise 2


def _reference_continuation_log_prob(logits: Tensor, targets: Tensor) -> Tensor:
    log_probs = logits.log_softmax(-1)
    scored = targets != -100
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(-1)


def check_continuation_log_prob(fn: Callable) -> None:
    """fn(logits (B, T, V), targets (B, T) with -100 where nothing is scored) -> (B,) summed log-probabilities."""
    gen = _generator(9)
    B, T, V = 3, 8, 11
    logits = _randn(B, T, V, gen=gen, scale=2.0).requires_grad_(True)
    targets = torch.full((B, T), -100)
    # answers of 1, 2 and 3 tokens, after prompts of different lengths (the last position predicts nothing)
    for b, (start, length) in enumerate([(4, 1), (2, 2), (3, 3)]):
        targets[b, start:start + length] = torch.randint(V, (length,), generator=gen)
    saved = [logits.detach().clone(), targets.clone()]
    hint = "logits are (B, T, V) and targets (B, T): gather along the last axis, then sum over T to get (B,)"
    try:
        out = _call(fn, logits, targets, shape_hint=hint)
    except (RuntimeError, AssertionError, IndexError) as err:
        if "out of bounds" not in str(err) and "-100" not in str(err):
            raise
        raise AssertionError(f"continuation_log_prob raised: {err}\nHint: targets hold -100 at the positions not "
                             "to score, which is no token id: gather with targets.clamp(min=0) (or "
                             "torch.where), then zero those positions before summing") from err
    if not isinstance(out, Tensor):
        raise AssertionError(f"return a tensor of shape (B,), got {type(out).__name__}")
    expect_shape(out, (B,), "the scores", hint="one log-probability per sequence: sum over the scored positions")
    _inputs_unchanged(saved, [logits.detach(), targets])
    _report("returns one score per sequence, (B,)")

    lg = logits.detach()
    scored = targets != -100
    safe = targets.clamp(min=0)
    expected = _reference_continuation_log_prob(lg, targets)

    def pick(values: Tensor, tg: Tensor = safe) -> Tensor:
        return values.gather(-1, tg.unsqueeze(-1)).squeeze(-1)

    log_probs = lg.log_softmax(-1)
    shifted_logp = pick(log_probs[:, :-1], safe[:, 1:]) * scored[:, 1:]
    shifted = shifted_logp.sum(-1)
    wrong = [
        (pick(lg.softmax(-1)).mul(scored).sum(-1), "these are probabilities, not log-probabilities: use "
                                                   "log_softmax (the log-probability of a sequence is the SUM of "
                                                   "its tokens' log-probabilities)"),
        (pick(lg.softmax(-1)).mul(scored).sum(-1).log(), "the log of summed probabilities: sum the tokens' "
                                                         "log-probabilities instead"),
        (pick(lg).mul(scored).sum(-1), "raw logits are summed: turn them into log-probabilities with "
                                       "log_softmax over the vocabulary (dim=-1) first"),
        (pick(log_probs).sum(-1), "the positions whose target is -100 are scored too: keep only targets != -100"),
        ((pick(log_probs) * scored).sum(-1) / scored.sum(-1), "the log-probabilities are averaged: sum them "
                                                              "(the continuation's probability is their product)"),
        (shifted, "the targets are shifted a second time: they are already aligned (targets[:, t] is the token "
                  "after position t), so use logits[:, t] with targets[:, t]"),
        (pick(lg.log_softmax(1)).mul(scored).sum(-1), "log_softmax over the wrong axis: normalise over the "
                                                      "vocabulary, dim=-1"),
        (-expected, "the scores have the wrong sign: a log-probability is <= 0 (cross-entropy is the NEGATIVE "
                    "log-probability)"),
    ]
    _expect_close(out, expected, "the score of each sequence", "the summed log-probabilities of its target tokens", atol=1e-9,
                  wrong_answers=wrong,
                  passed="each score is the sum of log p(target) over the positions whose target is not -100")
    if out.grad_fn is None:
        raise AssertionError("no gradient reaches the logits: use torch operations (no .item() or .detach())")
    out.sum().backward()
    if bool(logits.grad[~scored].abs().max() > 0):
        raise AssertionError("positions whose target is -100 get a gradient: leave them out of the sum")
    _report("only the scored positions get a gradient")

    # the score of a whole sequence: the chain rule of probability
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]], dtype=torch.float64)
    lg2 = probs.log().unsqueeze(0)
    tg2 = torch.tensor([[0, 1, 2]])
    got = _call(fn, lg2, tg2)
    _expect_close(got, torch.tensor([math.log(0.5 * 0.6 * 0.6)], dtype=torch.float64),
                  "the score of a 3-token continuation with probabilities 0.5, 0.6, 0.6", "log(0.5 * 0.6 * 0.6)",
                  atol=1e-9, passed="a continuation's score is the log of the product of its tokens' probabilities")

    # float32 logits of the GPT's vocabulary
    lg3 = torch.randn(4, 20, 1024, generator=gen)
    tg3 = torch.full((4, 20), -100)
    tg3[:, 12:15] = torch.randint(1024, (4, 3), generator=gen)
    _expect_close(_call(fn, lg3, tg3), _reference_continuation_log_prob(lg3, tg3), "the scores on float32 logits",
                  "the reference", atol=1e-4, passed="float32 logits over 1,024 tokens")
    print("All continuation log-probability checks passed.")


# --------------------------------------------------------------------------- exercise 3


def check_distillation_loss(fn: Callable) -> None:
    """fn(student_logits (N, C), teacher_logits (N, C), temperature) -> scalar, as
    course_lib.distillation.distillation_loss without labels."""
    from ..distillation import distillation_loss as reference

    gen = _generator(10)
    N, C = 6, 5
    student = _randn(N, C, gen=gen, scale=2.0)
    teacher = _randn(N, C, gen=gen, scale=3.0)

    def kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
        """KL(softmax(p) || softmax(q)) averaged over rows."""
        lp, lq = p_logits.log_softmax(-1), q_logits.log_softmax(-1)
        return (lp.exp() * (lp - lq)).sum(-1).mean()

    for T in (1.0, 2.0, 4.0):
        s = student.clone().requires_grad_(True)
        saved = [student.clone(), teacher.clone()]
        loss = _call(fn, s, teacher, T, shape_hint="the logits are (N, C): softmax over the classes, dim=-1")
        if not isinstance(loss, Tensor):
            raise AssertionError(f"return the loss as a torch.Tensor, got {type(loss).__name__}")
        expect_shape(loss, (), f"the loss at T = {T:g}", hint="one number: averaged over the N examples")
        _inputs_unchanged(saved, [s.detach(), teacher])
        if not bool(torch.isfinite(loss)):
            raise AssertionError(f"the loss at T = {T:g} is {loss.item()}: F.kl_div(input, target) wants the "
                                 "student's LOG-probabilities as input and the teacher's probabilities as target "
                                 "(softmax), or log-probabilities with log_target=True")
        expected = T**2 * kl(teacher / T, student / T)
        p_teacher = (teacher / T).softmax(-1)
        wrong = [
            (kl(teacher / T, student / T), "the loss is not multiplied by T^2: without it the gradient shrinks like "
                                           "1 / T^2 and a larger T would need a larger learning rate"),
            (T * kl(teacher / T, student / T), "the loss is multiplied by T, not T^2"),
            (T**2 * kl(student / T, teacher / T), "the KL divergence is the wrong way round: KL(teacher || student) "
                                                  "= sum p_teacher * (log p_teacher - log p_student)"),
            (T**2 * kl(teacher, student / T), "the temperature divides only the student's logits: soften both"),
            (T**2 * kl(teacher / T, student), "the temperature divides only the teacher's logits: soften both"),
            (T**2 * kl(teacher / T, student / T) / C, "the loss is averaged over the classes too: sum over the "
                                                      "classes, average over the examples (F.kl_div's "
                                                      "reduction='batchmean', not 'mean')"),
            (T**2 * kl(teacher / T, student / T) * N, "the loss is summed over the examples: average them"),
            (T**2 * -(p_teacher * (student / T).log_softmax(-1)).sum(-1).mean(),
             "this is the cross-entropy with the teacher's soft targets, not the KL divergence: subtract the "
             "teacher's own entropy, KL = sum p_teacher * (log p_teacher - log p_student) (same gradient, "
             "other value)"),
            (T**2 * F.kl_div((student / T).softmax(-1), (teacher / T).softmax(-1), reduction="batchmean"),
             "F.kl_div was given probabilities: its first argument must be the student's LOG-probabilities "
             "(log_softmax)"),
        ]
        if T == 1.0:
            wrong = wrong[2:]  # at T = 1 the T^2 and T mistakes give the right value
        _expect_close(loss, expected, f"the loss at T = {T:g}", "T^2 * KL(softmax(teacher / T) || softmax(student / T))",
                      atol=1e-9, wrong_answers=wrong,
                      passed=f"T = {T:g}: equals T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over examples")
        if loss.grad_fn is None:
            raise AssertionError("no gradient reaches the student's logits: use torch operations on them")
        loss.backward()
        # d loss / d student = T (p_student - p_teacher) / N, at temperature T
        grad = T * ((student / T).softmax(-1) - (teacher / T).softmax(-1)) / N
        _expect_close(s.grad, grad, f"the gradient at T = {T:g}", "T (p_student - p_teacher) / N", atol=1e-9)
    _report("the gradient with respect to the student is T (p_student - p_teacher) / N")

    t = teacher.clone().requires_grad_(True)
    s = student.clone().requires_grad_(True)
    _call(fn, s, t, 2.0).backward()
    if t.grad is not None and bool(t.grad.abs().sum() > 0):
        raise AssertionError("a gradient reaches the teacher's logits: the teacher is a fixed target, "
                             "use teacher_logits.detach()")
    _report("no gradient reaches the teacher (its logits are a fixed target)")

    same = _call(fn, student.clone(), student.clone(), 3.0)
    if abs(float(same)) > 1e-9:
        raise AssertionError(f"a student that matches the teacher exactly should have loss 0, got {float(same):.3g}")
    _report("a student equal to its teacher has loss 0")

    # float32, bigger, against the library
    s3, t3 = torch.randn(64, 10, generator=gen), 3 * torch.randn(64, 10, generator=gen)
    _expect_close(_call(fn, s3, t3, 3.0), reference(s3, t3, temperature=3.0), "the loss on float32 logits (64, 10)",
                  "course_lib.distillation.distillation_loss", atol=1e-5,
                  passed="float32 logits (64, 10): matches course_lib.distillation.distillation_loss")
    print("All distillation loss checks passed.")
