"""course_lib.checks, chapter 07: the library's own functions pass every check, and
every wrong answer in tests/answers/07_bert fails its check with a hint."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import bert, checks

CHAPTER = "07_bert"  # its answer cells, checks, references and hints: solutions/07_bert/chapter.toml
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F)


def library_classification_head(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
    # the library's forward pass over the given layers (building a module would draw random numbers)
    head = SimpleNamespace(pooling=pooling, dense=dense, dropout=dropout, classifier=classifier)
    return bert.ClassificationHead.forward(head, hidden, attention_mask)


# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"classification_head": library_classification_head}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above


def test_masking_check_refuses_changing_the_input():
    def in_place(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
        masked, labels = bert.mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob, generator)
        input_ids.copy_(masked)
        return masked, labels

    with pytest.raises(AssertionError, match="in place"):
        checks.check_mask_tokens(in_place)


def test_masking_check_wants_the_generator_and_mask_prob():
    def global_rng(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
        return bert.mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob, None)

    def fixed_prob(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
        return bert.mask_tokens(input_ids, vocab_size, mask_id, special_ids, 0.15, generator)

    with pytest.raises(AssertionError, match="generator"):
        checks.check_mask_tokens(global_rng)
    with pytest.raises(AssertionError, match="mask_prob"):
        checks.check_mask_tokens(fixed_prob)


def test_masking_check_wants_the_8_1_1_split():
    def no_unchanged(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
        masked, labels = bert.mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob, generator)
        kept = (labels != -100) & (masked == input_ids)
        return masked.masked_fill(kept, mask_id), labels   # 90 % [MASK], 10 % random

    with pytest.raises(AssertionError, match="80 / 10 / 10"):
        checks.check_mask_tokens(no_unchanged)


def _summary(hidden, attention_mask, pooling):
    if pooling == "cls":
        return hidden[:, 0]
    weights = torch.ones(hidden.shape[:2]) if attention_mask is None else attention_mask
    weights = weights.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1)


def test_head_check_names_the_place_and_mode_of_dropout():
    def dropout_first(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
        return classifier(torch.tanh(dense(dropout(_summary(hidden, attention_mask, pooling)))))

    def no_dropout(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
        return classifier(torch.tanh(dense(_summary(hidden, attention_mask, pooling))))

    def always_drops(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
        pooled = torch.tanh(dense(_summary(hidden, attention_mask, pooling)))
        return classifier(F.dropout(pooled, dropout.p))   # training=True even in eval mode

    with pytest.raises(AssertionError, match="before the dense layer"):
        checks.check_classification_head(dropout_first)
    with pytest.raises(AssertionError, match="no dropout"):
        checks.check_classification_head(no_dropout)
    with pytest.raises(AssertionError, match="dropout acts in eval mode"):
        checks.check_classification_head(always_drops)


def test_step_check_wants_a_float_types_and_clipping():
    def returns_tensor(model, optimizer, batch, clip_norm=1.0):
        model.train()
        _, loss = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], labels=batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    def no_types(model, optimizer, batch, clip_norm=1.0):
        return bert.fine_tune_step(model, optimizer, dict(batch, token_type_ids=None), clip_norm)

    def never_clips(model, optimizer, batch, clip_norm=1.0):
        return bert.fine_tune_step(model, optimizer, batch, None)

    with pytest.raises(AssertionError, match="Python float"):
        checks.check_fine_tune_step(returns_tensor)
    with pytest.raises(AssertionError, match="token_type_ids were not passed"):
        checks.check_fine_tune_step(no_types)
    with pytest.raises(AssertionError, match="not clipped"):
        checks.check_fine_tune_step(never_clips)
