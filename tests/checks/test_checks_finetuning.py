"""course_lib.checks, chapter 08: the library's own versions pass every check, and
every wrong answer in tests/answers/08_finetuning fails its check with a hint."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import checks, distillation, lora

CHAPTER = "08_finetuning"  # its answer cells, checks, references and hints: solutions/08_finetuning/chapter.toml
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F, math=math)


def library_continuation_log_prob(logits, targets):
    # the same sum, written with the library's pieces: minus the per-token cross-entropy
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="none")
    return -nll.view(targets.shape).sum(-1)


def library_distillation_loss(student_logits, teacher_logits, temperature):
    return distillation.distillation_loss(student_logits, teacher_logits, temperature=temperature)


# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"continuation_log_prob": library_continuation_log_prob,
              "distillation_loss": library_distillation_loss}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above


def test_lora_check_refuses_a_merge_that_changes_the_layer():
    class InPlace(lora.LoRALinear):
        def merge(self):  # adds B A into the base weight and returns the base: the adapter now counts it twice
            with torch.no_grad():
                self.base.weight += self.delta_weight()
            return self.base

    with pytest.raises(AssertionError, match="in place"):
        checks.check_lora_linear(InPlace)


def test_lora_check_refuses_a_merge_without_bias():
    class NoBias(lora.LoRALinear):
        def merge(self):
            merged = nn.Linear(self.in_features, self.out_features, bias=False)
            with torch.no_grad():
                merged.weight.copy_(self.base.weight + self.delta_weight())
            return merged

    with pytest.raises(AssertionError, match="no bias"):
        checks.check_lora_linear(NoBias)


def test_lora_check_refuses_a_frozen_copy():
    import copy

    class FrozenCopy(lora.LoRALinear):
        def __init__(self, base, rank, alpha):
            super().__init__(copy.deepcopy(base), rank, alpha)

    with pytest.raises(AssertionError, match="not a copy"):
        checks.check_lora_linear(FrozenCopy)


def test_distillation_check_wants_the_teacher_detached():
    def attached(student_logits, teacher_logits, temperature):
        T = temperature
        log_s, log_t = F.log_softmax(student_logits / T, -1), F.log_softmax(teacher_logits / T, -1)
        return T * T * (log_t.exp() * (log_t - log_s)).sum(-1).mean()

    with pytest.raises(AssertionError, match="detach"):
        checks.check_distillation_loss(attached)


def test_distillation_check_names_kl_div_given_probabilities():
    def probabilities(student_logits, teacher_logits, temperature):
        T = temperature
        return T * T * F.kl_div((student_logits / T).softmax(-1), (teacher_logits.detach() / T).softmax(-1),
                                reduction="batchmean")

    with pytest.raises(AssertionError, match="LOG-probabilities"):
        checks.check_distillation_loss(probabilities)


def test_continuation_check_names_raw_logits():
    def raw(logits, targets):
        scored = targets != -100
        return (logits.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * scored).sum(-1)

    with pytest.raises(AssertionError, match="raw logits"):
        checks.check_continuation_log_prob(raw)
