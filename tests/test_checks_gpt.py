"""course_lib.checks, chapter 06: the library's own functions pass every check, and
every wrong answer in tests/answers/06_gpt fails its check with a hint."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import checks, gpt
from course_lib.data import tokenizers

ANSWERS = Path(__file__).resolve().parent / "answers" / "06_gpt"
CHECKS = {  # answer cell -> (function name, its check)
    "merge": ("merge", checks.check_merge),
    "causal_lm_loss": ("causal_lm_loss", checks.check_causal_lm_loss),
    "top_p_filter": ("top_p_filter", checks.check_top_p_filter),
    "attend_with_cache": ("attend_with_cache", checks.check_attend_with_cache),
}
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F, math=math, tokenizers=tokenizers)


def library_attend_with_cache(q, k, v, cache=None):
    return gpt.cached_attention(q, k, v, cache)


REFERENCES = {"merge": tokenizers.merge, "causal_lm_loss": gpt.causal_lm_loss,
              "top_p_filter": gpt.top_p_filter, "attend_with_cache": library_attend_with_cache}
HINTS = [
    ("merge/mutant_step_by_one.py", "i + 2"),
    ("merge/mutant_drops_last_token.py", "last token is lost"),
    ("merge/mutant_first_only.py", "only the first occurrence"),
    ("causal_lm_loss/mutant_not_shifted.py", "not shifted"),
    ("causal_lm_loss/mutant_shift_wrong_way.py", "wrong way"),
    ("causal_lm_loss/mutant_rolled_targets.py", "roll wraps around"),
    ("causal_lm_loss/mutant_sum_over_time.py", "summed over time"),
    ("top_p_filter/mutant_keeps_wrong_side.py", "wrong side"),
    ("top_p_filter/mutant_drops_crossing_token.py", "crosses p is dropped"),
    ("top_p_filter/mutant_not_sorted.py", "vocabulary order: sort"),
    ("top_p_filter/mutant_not_batched.py", "own nucleus"),
    ("attend_with_cache/mutant_appended_on_wrong_axis.py", "dim=2"),
    ("attend_with_cache/mutant_cache_not_used.py", "cache is not used"),
    ("attend_with_cache/mutant_new_token_left_out.py", "own key and value are left out"),
    ("attend_with_cache/mutant_no_scaling.py", "not scaled"),
]

from answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above


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
