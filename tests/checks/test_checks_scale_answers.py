"""Chapter 10's answer files against its visible checks (the shared tests of tests/helpers/answer_checks.py):
the references pass, every alternative in tests/answers/10_scale passes, every wrong answer fails
with a message, and the listed ones with the hint meant for them."""
import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from course_lib import flops
from course_lib.gpt import GPT, GPTConfig

CHAPTER = "10_scale"  # its answer cells, checks, references and hints: solutions/10_scale/chapter.toml
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F, dist=dist, math=math, GPT=GPT, GPTConfig=GPTConfig)
# the library's versions with the learner's signature, where the manifest names none
REFERENCES = {"flops_per_token": lambda config, seq_len: flops.training_flops_per_token(config, seq_len)["total"]}

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
