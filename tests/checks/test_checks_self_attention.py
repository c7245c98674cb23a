"""course_lib.checks, chapter 04: the library's own functions pass every check, and
every wrong answer in tests/answers/04_self_attention fails its check with a hint."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers.answer_checks import ANSWER_FILES

from course_lib import attention, checks

CHAPTER = "04_self_attention"  # its answer cells, checks, references and hints: solutions/04_self_attention/chapter.toml


def broken_sdpa(q, k, v, mask=None):
    """A wrong exercise 1 (no scaling, no mask): exercise 3's check must not depend on it."""
    weights = (q @ k.transpose(-2, -1)).softmax(-1)
    return weights @ v, weights


# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F, math=math,
                 scaled_dot_product_attention=broken_sdpa)  # exercise 1 wrong: exercise 3 must not care


def library_mask(lengths, seq_len, causal=False):
    mask = attention.padding_mask(lengths, seq_len)
    return mask & attention.causal_mask(seq_len) if causal else mask


def library_mha(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    module = attention.MultiHeadAttention(query.shape[-1], num_heads).to(query.dtype)
    weights = {f"{name}.{p}": getattr(layer, p).data
               for name, layer in zip(["q_proj", "k_proj", "v_proj", "out_proj"], [q_proj, k_proj, v_proj, out_proj])
               for p in ("weight", "bias")}
    return torch.func.functional_call(module, weights, (query, key, value, mask))


# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"attention_mask": library_mask,
              "multi_head_attention": library_mha}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above


def test_mask_check_draws_an_unknown_mistake():
    def wrong(lengths, seq_len, causal=False):
        mask = library_mask(lengths, seq_len, causal).expand(-1, 1, seq_len, seq_len).clone()
        mask[:, :, 0, 0] = False  # nobody's mistake: the message shows both masks
        return mask

    with pytest.raises(AssertionError, match=r"(?s)yours:.*expected:"):
        checks.check_attention_mask(wrong)


def test_mask_check_wants_booleans_and_the_4d_shape():
    with pytest.raises(AssertionError, match="boolean"):
        checks.check_attention_mask(lambda lengths, seq_len, causal=False: library_mask(lengths, seq_len, causal).float())
    with pytest.raises(AssertionError, match=r"\(batch, 1, seq_q, seq_k\)"):
        checks.check_attention_mask(lambda lengths, seq_len, causal=False:
                                    library_mask(lengths, seq_len, causal).expand(-1, 1, seq_len, -1)[:, 0])


def test_multi_head_check_uses_the_reference_attention_and_puts_the_learners_back():
    namespace = dict(torch=torch, math=math, scaled_dot_product_attention=broken_sdpa)
    exec((ANSWER_FILES / "04_self_attention").joinpath("multi_head_attention/mutant_mask_not_passed.py").read_text()
         .replace("(q, k, v)", "(q, k, v, mask)"), namespace)  # the mistake fixed: a correct answer
    checks.check_multi_head_attention(namespace["multi_head_attention"])
    assert namespace["scaled_dot_product_attention"] is broken_sdpa
