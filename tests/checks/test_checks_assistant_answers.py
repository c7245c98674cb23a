"""Chapter 09's answer files against its visible checks (the shared tests of tests/helpers/answer_checks.py):
the references pass, every alternative in tests/answers/09_assistant passes, every wrong answer
fails with a message, and the listed ones with the hint meant for them."""

import torch
import torch.nn.functional as F

from course_lib import sft

CHAPTER = "09_assistant"  # its answer cells, checks, references and hints: solutions/09_assistant/chapter.toml
# what the notebook has imported by the time the learner writes an answer (the markers from course_lib.sft)
NAMESPACE = dict(torch=torch, F=F, USER=sft.USER, ASSISTANT=sft.ASSISTANT, END=sft.END)

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
