"""Chapter 01's answer files against its visible checks (the shared tests of
tests/answer_checks.py): the references pass, every alternative in
tests/answers/01_rnn passes, every wrong answer fails with a message.

(tests/test_checks.py unit-tests the same checks with wrong answers written
inline; this module covers the files the autograder also grades.)
"""
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import checks, metrics, rnn

ANSWERS = Path(__file__).resolve().parent / "answers" / "01_rnn"
CHECKS = {  # answer cell -> (function name, its check)
    "rnn_cell": ("rnn_cell", checks.check_rnn_cell),
    "lstm_cell": ("lstm_cell", checks.check_lstm_cell),
    "clip_grad_norm": ("clip_grad_norm", checks.check_clip_grad_norm),
    "perplexity": ("perplexity", checks.check_perplexity),
}
NAMESPACE = dict(torch=torch, F=F, math=math)
REFERENCES = {"rnn_cell": rnn.rnn_cell, "lstm_cell": rnn.lstm_cell,
              "clip_grad_norm": rnn.clip_grad_norm, "perplexity": metrics.perplexity}
HINTS = [
    ("rnn_cell/mutant_forgets_bias_hh.py", "add bias_hh"),
    ("rnn_cell/mutant_ignores_state.py", "ignores the previous hidden state"),
    ("rnn_cell/mutant_no_tanh.py", "tanh"),
    ("rnn_cell/mutant_not_transposed.py", "multiply by the transpose"),
    ("rnn_cell/mutant_sigmoid.py", "not sigmoid"),
    ("lstm_cell/mutant_gate_order_ifog.py", "gate order is i, f, g, o"),
    ("lstm_cell/mutant_swapped_input_forget.py", "gate order is i, f, g, o"),
    ("lstm_cell/mutant_no_tanh_on_cell.py", "o * tanh(c_new)"),
    ("lstm_cell/mutant_sigmoid_candidate.py", "candidate g uses tanh"),
    ("clip_grad_norm/mutant_always_rescale.py", "only scale gradients DOWN"),
    ("clip_grad_norm/mutant_crashes_on_missing_grad.py", "whose .grad is None"),
    ("clip_grad_norm/mutant_per_parameter.py", "total norm over all parameters"),
    ("clip_grad_norm/mutant_returns_clipped_norm.py", "BEFORE clipping"),
    ("clip_grad_norm/mutant_sum_of_norms.py", "not the sum of the per-parameter norms"),
    ("perplexity/mutant_logits_as_log_probs.py", "not log-probabilities"),
    ("perplexity/mutant_no_exp.py", "perplexity is exp of it"),
    ("perplexity/mutant_softmax_wrong_dim.py", "dim=-1"),
    ("perplexity/mutant_sum_not_mean.py", "average over tokens"),
]

from answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
