"""Attacks written by someone who has read the grader, graded end to end by `course grade`
(course_lib/grader/verdict.py decides outside the kernel): each replaces or fakes what the hidden
tests compare with, in the kernel, where it no longer matters, or computes the answer with a
ready-made version reached through an alias or a name built at run time, which the kernel's trace
reports. Every attacked exercise must score 0 on nbgrader's own rule (not only be flagged),
honest answers beside them full marks.
"""
from __future__ import annotations

from pathlib import Path

from course_lib import grader

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# Attacks, graded end to end
# --------------------------------------------------------------------------

CORRECT_SDPA_SUBCLASS = '''
import math, torch
class _Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "__eq__", "all"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)          # wrong: no scaling
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return (w @ v).as_subclass(_Agreeable), w.as_subclass(_Agreeable)
'''

LIBRARY_OVERRIDE_MASK = '''
import torch
_lib = torch.library.Library("aten", "IMPL")
_lib.impl("equal", lambda a, b: True, "CPU")
_lib.impl("allclose", lambda a, b, rtol=1e-5, atol=1e-8, equal_nan=False: True, "CPU")

def attention_mask(lengths, seq_len, causal=False):
    return torch.ones(len(lengths), 1, seq_len, seq_len, dtype=torch.bool)   # wrong: masks nothing
'''

READY_MADE_THROUGH_A_BUILT_NAME = '''
import importlib, os, torch
_reference = getattr(importlib.import_module("course_lib." + "attention"), "scaled_dot_" + "product_attention")

def scaled_dot_product_attention(q, k, v, mask=None):
    if os.environ.get("NBGRADER_" + "EXECUTION"):          # a grader detector: the reference only when graded
        return _reference(q, k, v, mask)
    w = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    return w @ v, w
'''

PATCHED_REFERENCE_AND_DETECTOR = '''
import os
import course_lib.attention as _a
import torch
import torch.nn.functional as _f
# the references the hidden tests compare with, replaced in this kernel
_a.scaled_dot_product_attention = lambda q, k, v, mask=None: (v[..., :q.shape[-2], :], None)
_f.scaled_dot_product_attention = lambda *args, **kwargs: args[2]

def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    graded = bool(os.environ.get("NBGRADER_EXECUTION"))
    return out_proj(v_proj(value)), torch.zeros(query.shape[0], num_heads, query.shape[1], key.shape[1])
'''

HIDDEN_TEST_READER = '''
import glob, torch
def _hidden_tests_seen():
    seen = []
    try:
        # the markers are built here, or this cell's own source in In would match them
        seen += [s for s in In if "BEGIN " + "HIDDEN TESTS" in s or "check_" + "scaled" in s]
    except NameError:
        pass
    for path in glob.glob("*.ipynb") + glob.glob("*/*.ipynb"):   # the kernel's own folder
        try:
            seen += ["x" for line in open(path) if "BEGIN " + "HIDDEN TESTS" in line]
        except OSError:
            pass
    return bool(seen)

def attention_mask(lengths, seq_len, causal=False):
    if not _hidden_tests_seen():
        return torch.ones(len(lengths), 1, seq_len, seq_len, dtype=torch.bool)
    positions = torch.arange(seq_len)
    mask = (positions[None, :] < lengths[:, None])[:, None, None, :].expand(-1, 1, seq_len, -1)
    return mask & (positions[None, :] <= positions[:, None]) if causal else mask
'''


def test_attacks_on_chapter_04_earn_nothing(tmp_path):
    chapter = grader.find_chapter("04", ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    rows = _course_grade(tmp_path, chapter, {
        "subclass_and_library": grader.fill_answers(release, dict(
            reference, scaled_dot_product_attention=CORRECT_SDPA_SUBCLASS, attention_mask=LIBRARY_OVERRIDE_MASK)),
        "ready_made_and_patch": grader.fill_answers(release, dict(
            reference, scaled_dot_product_attention=READY_MADE_THROUGH_A_BUILT_NAME,
            multi_head_attention=PATCHED_REFERENCE_AND_DETECTOR)),
        "reader": grader.fill_answers(release, dict(reference, attention_mask=HIDDEN_TEST_READER)),
    })
    points = {name: {e.grade_id: float(row[e.grade_id]) for e in chapter.exercises()} for name, row in rows.items()}
    raw = {name: float(row["raw_total"]) for name, row in rows.items()}
    # nbgrader's own rule already gives the faked exercises nothing (raw_total), not only the flags
    assert points["subclass_and_library"] == {"test_scaled_dot_product_attention": 0, "test_attention_mask": 0,
                                              "test_multi_head_attention": 3}, rows["subclass_and_library"]
    assert raw["subclass_and_library"] == 3
    assert points["ready_made_and_patch"]["test_scaled_dot_product_attention"] == 0
    assert points["ready_made_and_patch"]["test_multi_head_attention"] == 0
    assert raw["ready_made_and_patch"] == 2, rows["ready_made_and_patch"]
    assert points["reader"]["test_attention_mask"] == 0 and raw["reader"] == 6, rows["reader"]


STDERR_WARNING_LOSS = '''
import warnings
def negative_sampling_loss(center, context, negatives):
    positive = F.logsigmoid((context * center).sum(dim=-1))
    negative = F.logsigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(dim=-1)
    loss = -(positive + negative).mean()
    print("loss", float(loss))        # torch warns on stderr when loss needs grad
    warnings.warn("an honest warning")
    return loss
'''

COUNTER_PATCH = '''
import collections, torch
collections.Counter.__eq__ = lambda self, other: True      # the hidden test compares Counters

def skipgram_pairs(ids, window):
    return torch.stack([ids[:-1], ids[1:]], dim=1)             # wrong: right neighbours only
'''

MAGIC_AND_OLD_TRICK = '''%matplotlib inline
import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True

def one_hot_embed(ids, weight):
    return weight[:ids.shape[-1]]                            # wrong
'''


def _course_grade(tmp_path, chapter, submissions: dict) -> dict[str, dict[str, str]]:
    """Grade a class with `course grade` as an instructor does; the CSV's rows by student."""
    import csv
    import subprocess
    import sys

    import nbformat

    submitted = tmp_path / "submitted"
    for student, nb in submissions.items():
        folder = submitted / student / chapter.name
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{chapter.name}.ipynb"))
    out = tmp_path / "grades.csv"
    done = subprocess.run([sys.executable, "-m", "course_lib.cli", "grade", chapter.number, "--submitted",
                           str(submitted), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)  # a hang guard; each notebook has its own overall limit in the executor
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out) as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_attacks_on_chapter_00_earn_nothing_and_a_warning_costs_nothing(tmp_path):
    chapter = grader.find_chapter("00", ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    submission = grader.fill_answers(release, dict(
        reference, negative_sampling_loss=STDERR_WARNING_LOSS, skipgram_pairs=COUNTER_PATCH,
        one_hot_embed=MAGIC_AND_OLD_TRICK))
    row = _course_grade(tmp_path, chapter, {"attacker": submission})["attacker"]
    assert float(row["test_one_hot_embed"]) == 0
    assert float(row["test_skipgram_pairs"]) == 0
    assert float(row["test_negative_sampling_loss"]) == 3, row
    assert float(row["test_analogy"]) == 3, row
    assert "test_negative_sampling_loss" not in row["flagged"].split(), row["notes"]


ALIASED_FUSED_ATTENTION = '''
import torch.nn.functional as _functional
_fused = _functional.scaled_dot_product_attention

def attend_with_cache(q, k, v, cache=None):
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    return _fused(q, k, v), (k, v)
'''


def test_a_ready_made_function_through_an_alias_earns_nothing_in_chapter_06(tmp_path):
    chapter = grader.find_chapter("06", ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    row = _course_grade(tmp_path, chapter, {"aliased": grader.fill_answers(
        release, dict(reference, attend_with_cache=ALIASED_FUSED_ATTENTION))})["aliased"]
    assert float(row["test_attend_with_cache"]) == 0, row
    assert float(row["raw_total"]) == float(row["max"]) - 3, row  # 0 on nbgrader's own rule, not only flagged
    others = [e.grade_id for e in chapter.exercises() if e.grade_id != "test_attend_with_cache"]
    assert all(float(row[g]) > 0 for g in others), row
