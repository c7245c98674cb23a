"""course_lib.checks, chapter 06: the library's own functions pass every check, and
every wrong answer in tests/answers/06_gpt fails its check with a hint."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import checks, gpt
from course_lib.data import tokenizers

CHAPTER = "06_gpt"  # its answer cells, checks, references and hints: solutions/06_gpt/chapter.toml
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F, math=math, tokenizers=tokenizers)


def library_attend_with_cache(q, k, v, cache=None):
    return gpt.cached_attention(q, k, v, cache)


# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"attend_with_cache": library_attend_with_cache}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above


def test_loss_check_wants_a_tensor_with_a_gradient():
    with pytest.raises(AssertionError, match="torch.Tensor"):
        checks.check_causal_lm_loss(lambda logits, idx: gpt.causal_lm_loss(logits, idx).item())
    with pytest.raises(AssertionError, match="no gradient"):
        checks.check_causal_lm_loss(lambda logits, idx: gpt.causal_lm_loss(logits.detach(), idx))


def test_top_p_check_wants_kept_logits_unchanged():
    def renormalised(logits, p):
        out = gpt.top_p_filter(logits, p)
        return out.log_softmax(-1)   # the right tokens, but changed values

    with pytest.raises(AssertionError, match="kept logits were changed"):
        checks.check_top_p_filter(renormalised)


def test_merge_check_refuses_changing_the_input():
    def in_place(ids, pair, new_id):
        result = tokenizers.merge(ids, pair, new_id)
        ids[:] = result
        return result

    with pytest.raises(AssertionError, match="new list"):
        checks.check_merge(in_place)
