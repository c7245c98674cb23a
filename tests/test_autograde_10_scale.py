"""Autograde chapter 10 end to end: the tests are in tests/autograde.py."""
from autograde import *  # noqa: F401,F403

CHAPTER = "10_scale"
