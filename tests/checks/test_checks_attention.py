"""course_lib.checks, chapter 03: the library's own functions pass every check, and
every wrong answer in tests/answers/03_attention fails its check with a hint."""
import math
from collections import Counter

import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers.answer_checks import ANSWER_FILES

from course_lib import checks, metrics, seq2seq

CHAPTER = "03_attention"  # its answer cells, checks, references and hints: solutions/03_attention/chapter.toml
NAMESPACE = dict(torch=torch, nn=nn, F=F, math=math, Counter=Counter,
                     attention_context=seq2seq.attention_context)  # what the notebook has imported


def library_additive(query, keys, W_q, W_k, v):
    module = seq2seq.AdditiveAttention(W_q.shape[1], W_k.shape[1], W_q.shape[0]).double()
    weights = {"W_q.weight": W_q, "W_k.weight": W_k, "v.weight": v.reshape(1, -1)}
    return torch.func.functional_call(module, weights, (query, keys))


def library_step(decoder, token, hidden, enc_outputs, src_mask):
    return decoder.step(token, hidden, enc_outputs, src_mask)


def library_bleu(hypotheses, references, max_n=4):
    return metrics.corpus_bleu(hypotheses, [[r] for r in references], max_n)


# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"additive_score": library_additive,
              "decoder_step": library_step,
              "corpus_bleu": library_bleu}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above


def test_decoder_step_check_uses_the_reference_context():
    # a wrong attention_context in the notebook must not fail exercise 3
    def broken_context(scores, values, src_mask):
        return values.mean(1), torch.softmax(scores, -1)

    namespace = {"torch": torch, "attention_context": broken_context}
    exec((ANSWER_FILES / "03_attention" / "decoder_step" / "mutant_query_bottom_layer.py").read_text()
         .replace("hidden[0]", "hidden[-1]"), namespace)   # the bottom-layer mistake fixed: a correct step
    checks.check_attention_decoder_step(namespace["attention_decoder_step"])
    assert namespace["attention_context"] is broken_context, "the learner's function must be put back"

