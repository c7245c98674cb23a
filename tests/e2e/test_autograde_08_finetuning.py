"""Autograde chapter 08 end to end: the tests are in tests/helpers/autograde.py."""
from helpers.autograde import *  # noqa: F401,F403

CHAPTER = "08_finetuning"
