"""Chapter 01's answer files against its visible checks (the shared tests of
tests/helpers/answer_checks.py): the references pass, every alternative in
tests/answers/01_rnn passes, every wrong answer fails with a message.

(tests/checks/test_checks.py unit-tests the same checks with wrong answers written
inline; this module covers the files the autograder also grades.)
"""
import math

import torch
import torch.nn.functional as F

CHAPTER = "01_rnn"  # its answer cells, checks, references and hints: solutions/01_rnn/chapter.toml
NAMESPACE = dict(torch=torch, F=F, math=math)

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
