"""course_lib.checks, chapter 05: the library's own functions pass every check, and
every wrong answer in tests/answers/05_transformer fails its check with a hint."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import checks, decoding, transformer
from course_lib.attention import causal_mask
from course_lib.decoding import gnmt_length_penalty, reorder_state

CHAPTER = "05_transformer"  # its answer cells, checks, references and hints: solutions/05_transformer/chapter.toml
NAMESPACE = dict(torch=torch, nn=nn, F=F, math=math, causal_mask=causal_mask, reorder_state=reorder_state,
                     gnmt_length_penalty=gnmt_length_penalty)  # what the notebook has imported


def library_layer_norm(x, weight, bias, eps=1e-5):
    norm = transformer.LayerNorm(x.shape[-1], eps=eps).to(x.dtype)
    return torch.func.functional_call(norm, {"weight": weight, "bias": bias}, (x,))


def library_decoder_layer(layer, x, memory, memory_mask=None):
    return layer(x, memory, causal_mask(x.shape[1]), memory_mask)


def library_beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size=4, alpha=0.6):
    best = decoding.beam_search(step_fn, start_state, sos_id, eos_id, max_len, beam_size, alpha)
    return best.tokens, best.score


# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"layer_norm": library_layer_norm,
              "decoder_layer": library_decoder_layer,
              "beam_search": library_beam_search}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above

# --------------------------------------------------------------------------- the helpers the hidden tests use


def test_beam_test_step_fn_depends_on_the_whole_prefix():
    step_fn, state = checks.beam_test_step_fn(6, 8, seed=0)
    prev = torch.tensor([2, 2])
    a, _ = step_fn(prev, {"prefix": torch.tensor([[3, 4, 5], [4, 4, 5]])})
    assert not torch.allclose(a[0], a[1]), "same last token, different history: the logits must differ"
    b, new_state = step_fn(prev, {"prefix": torch.tensor([[3, 4, 5], [3, 4, 5]])})
    assert torch.equal(b[0], b[1]) and new_state["prefix"].shape == (2, 4)


def test_brute_force_and_sequence_score_agree_with_the_library():
    step_fn, state = checks.beam_test_step_fn(4, 4, seed=1)
    tokens, score = checks.brute_force_best(step_fn, state, 4, 0, 1, 4, 0.6)
    assert tokens[-1] == 1 and len(tokens) <= 4
    assert checks.sequence_score(step_fn, state, tokens, 0, 0.6)[1] == pytest.approx(score)
    wide = decoding.beam_search(step_fn, state, 0, 1, 4, beam_size=4**4, length_penalty=0.6)
    assert wide.tokens == tokens and wide.score == pytest.approx(score, abs=1e-5)


def test_random_decoder_layer_has_random_norms():
    layer = checks.random_decoder_layer(8, 2, 16, seed=0)
    assert not torch.allclose(layer.norm1.weight, torch.ones(8, dtype=torch.float64))
    assert not torch.allclose(layer.norm1.weight, layer.norm2.weight)
    assert not layer.training
