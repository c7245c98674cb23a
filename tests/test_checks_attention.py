"""course_lib.checks, chapter 03: the library's own functions pass every check, and
every wrong answer in tests/answers/03_attention fails its check with a hint."""
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import checks, metrics, seq2seq

ANSWERS = Path(__file__).resolve().parent / "answers" / "03_attention"
CHECKS = {  # answer cell -> (function name, its check)
    "additive_score": ("additive_score", checks.check_additive_score),
    "attention_context": ("attention_context", checks.check_attention_context),
    "decoder_step": ("attention_decoder_step", checks.check_attention_decoder_step),
    "corpus_bleu": ("corpus_bleu", checks.check_corpus_bleu),
}


def load(path: Path, name: str):
    namespace = dict(torch=torch, nn=nn, F=F, math=math, Counter=Counter,
                     attention_context=seq2seq.attention_context)
    exec(path.read_text(), namespace)
    return namespace[name]


def library_additive(query, keys, W_q, W_k, v):
    module = seq2seq.AdditiveAttention(W_q.shape[1], W_k.shape[1], W_q.shape[0]).double()
    weights = {"W_q.weight": W_q, "W_k.weight": W_k, "v.weight": v.reshape(1, -1)}
    return torch.func.functional_call(module, weights, (query, keys))


def library_step(decoder, token, hidden, enc_outputs, src_mask):
    return decoder.step(token, hidden, enc_outputs, src_mask)


def library_bleu(hypotheses, references, max_n=4):
    return metrics.corpus_bleu(hypotheses, [[r] for r in references], max_n)


@pytest.mark.parametrize("check,fn,last_line", [
    (checks.check_additive_score, library_additive, "All additive score checks passed."),
    (checks.check_attention_context, seq2seq.attention_context, "All attention context checks passed."),
    (checks.check_attention_decoder_step, library_step, "All attention decoder step checks passed."),
    (checks.check_corpus_bleu, library_bleu, "All BLEU checks passed."),
])
def test_library_reference_passes(capsys, check, fn, last_line):
    check(fn)
    out = capsys.readouterr().out
    assert out.count("✓") >= 4
    assert out.strip().endswith(last_line)


def answer_files(kind):
    return [(gid, p) for gid in CHECKS for p in sorted((ANSWERS / gid).glob(f"{kind}_*.py"))]


@pytest.mark.parametrize("gid,path", answer_files("alternative"), ids=lambda x: getattr(x, "stem", x))
def test_alternative_answers_pass(gid, path, capsys):
    name, check = CHECKS[gid]
    check(load(path, name))


@pytest.mark.parametrize("gid,path", answer_files("mutant"), ids=lambda x: getattr(x, "stem", x))
def test_mutants_fail_with_a_message(gid, path):
    name, check = CHECKS[gid]
    with pytest.raises(AssertionError) as info:
        check(load(path, name))
    assert len(str(info.value)) > 40


def test_decoder_step_check_uses_the_reference_context():
    # a wrong attention_context in the notebook must not fail exercise 3
    def broken_context(scores, values, src_mask):
        return values.mean(1), torch.softmax(scores, -1)

    namespace = {"torch": torch, "attention_context": broken_context}
    exec((ANSWERS / "decoder_step" / "mutant_query_bottom_layer.py").read_text()
         .replace("hidden[0]", "hidden[-1]"), namespace)   # the bottom-layer mistake fixed: a correct step
    checks.check_attention_decoder_step(namespace["attention_decoder_step"])
    assert namespace["attention_context"] is broken_context, "the learner's function must be put back"


@pytest.mark.parametrize("path,hint", [
    ("additive_score/mutant_no_tanh.py", "tanh"),
    ("attention_context/mutant_mask_after_softmax.py", "before the softmax"),
    ("attention_context/mutant_softmax_batch_axis.py", "batch axis"),
    ("decoder_step/mutant_query_bottom_layer.py", "hidden[-1]"),
    ("decoder_step/mutant_context_not_in_gru.py", "context is missing"),
    ("corpus_bleu/mutant_unclipped_counts.py", "clipping"),
    ("corpus_bleu/mutant_no_brevity_penalty.py", "brevity penalty"),
    ("corpus_bleu/mutant_arithmetic_mean.py", "GEOMETRIC"),
])
def test_mutants_get_the_intended_hint(path, hint):
    gid = path.split("/")[0]
    name, check = CHECKS[gid]
    with pytest.raises(AssertionError, match=hint.replace("[", r"\[").replace("]", r"\]")):
        check(load(ANSWERS / path, name))
