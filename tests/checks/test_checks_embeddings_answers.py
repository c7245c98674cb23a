"""Chapter 00's answer files against its visible checks (the shared tests of tests/helpers/answer_checks.py):
the references pass, every alternative in tests/answers/00_embeddings passes, every wrong answer
fails with a message, and the listed ones with the hint meant for them."""

import torch
import torch.nn.functional as F

CHAPTER = "00_embeddings"  # its answer cells, checks, references and hints: solutions/00_embeddings/chapter.toml
NAMESPACE = dict(torch=torch, F=F)

from helpers.answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
