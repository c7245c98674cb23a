"""What the test modules share, imported by name (`from helpers.autograde import *`; pyproject.toml puts
tests/ on the path): the end-to-end autograde tests of a chapter (autograde.py), the tests of a chapter's
visible checks against its answer files (answer_checks.py), the ready-made versions of each exercise
(ready_made.py), and per-tensor comparisons (tensors.py)."""
