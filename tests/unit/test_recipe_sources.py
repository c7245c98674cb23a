"""The hash that decides when a recipe must be re-run sees every change that could alter what the
recipe makes (course_lib.pretrain.recipe_sources_hash).

The full re-runs of the recipes (tests/e2e/test_pretrain.py, test_pretrain_bert.py and
test_pretrain_assistant.py) are skipped while the hash equals the one the shipped checkpoint's JSON
recorded, so a hash blind to some file would let a change to it go unproven: these tests check that
the hash reads every module the recipe imports and changes with any byte of them.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import import_graph, pretrain

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(pretrain.RECIPES))
def test_the_hashed_sources_cover_every_module_the_recipe_imports(name):
    """Import the recipe's module in a fresh interpreter: every course_lib module it loads is hashed."""
    module = pretrain.RECIPES[name].__module__
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}\n"
         "print('\\n'.join(sorted(m for m in sys.modules if m == 'course_lib' or m.startswith('course_lib.'))))"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    files = import_graph.module_files()
    hashed = set(pretrain.recipe_sources(name))
    assert module in loaded
    missing = sorted(m for m in loaded if files[m] not in hashed)
    assert not missing, f"recipe {name!r} imports modules its hash does not read: {missing}"
    # the data folder is hashed whole; the grader and the checks are not recipe code
    assert all(p in hashed for p in (ROOT / "course_lib" / "data").glob("*.py"))
    assert not [p for p in hashed if p.parent.name in ("checks", "grader")]


def _copy_of_the_sources(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "course_lib", tmp_path / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def test_the_hash_changes_with_any_byte_of_what_the_recipe_depends_on(tmp_path, monkeypatch):
    copy = _copy_of_the_sources(tmp_path / "src")
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for file in pretrain.RECIPE_INPUTS["assistant"]:
        shutil.copy(pretrain.CHECKPOINTS / file, checkpoints / file)

    def hashes() -> dict[str, str]:
        return {name: pretrain.recipe_sources_hash(name, root=copy, checkpoints=checkpoints)
                for name in pretrain.RECIPES}

    before = hashes()
    # where the sources sit does not matter, only what they hold
    assert before == {name: pretrain.recipe_sources_hash(name) for name in pretrain.RECIPES}
    assert len(set(before.values())) == 3

    # a module two imports away from the recipe (pretrain -> bert -> transformer)
    _flip_a_byte(copy / "course_lib" / "transformer.py")
    after = hashes()
    assert all(after[n] != before[n] for n in before)
    # a file in the data folder, imported or not
    (copy / "course_lib" / "data" / "stopwords.txt").write_text("the\n")
    assert all(hashes()[n] != after[n] for n in before)
    after = hashes()
    # the GPT the assistant starts from: the assistant's hash only
    _flip_a_byte(checkpoints / "gpt.safetensors")
    changed = hashes()
    assert changed["assistant"] != after["assistant"]
    assert changed["gpt"] == after["gpt"] and changed["bert"] == after["bert"]
    # a recipe's settings, and the version of torch
    monkeypatch.setitem(pretrain.RECIPE_SETTINGS, "bert", dict(pretrain.BERT_RECIPE, steps=1999))
    assert hashes()["bert"] != changed["bert"]
    monkeypatch.undo()
    monkeypatch.setattr(pretrain.torch, "__version__", "0.0.0")
    assert all(hashes()[n] != changed[n] for n in before)
    monkeypatch.undo()
    assert hashes() == changed

    # code no recipe runs: the checks of learners' answers
    _flip_a_byte(copy / "course_lib" / "checks" / "bert.py")
    assert hashes() == changed


def test_record_sources_hash_changes_that_field_only(tmp_path):
    shutil.copy(pretrain.CHECKPOINTS / "bert.json", tmp_path / "bert.json")
    before = json.loads((tmp_path / "bert.json").read_text())
    before.pop("sources_sha256", None)
    recorded = pretrain.record_sources_hash("bert", tmp_path)
    after = json.loads((tmp_path / "bert.json").read_text())
    assert recorded == after.pop("sources_sha256") == pretrain.recipe_sources_hash("bert")
    assert after == before


@pytest.mark.parametrize("name", sorted(pretrain.RECIPES))
def test_each_shipped_checkpoint_records_the_hash_of_its_sources(name):
    recorded = json.loads((pretrain.CHECKPOINTS / f"{name}.json").read_text()).get("sources_sha256", "")
    assert len(recorded) == 64 and set(recorded) <= set("0123456789abcdef"), \
        f"checkpoints/{name}.json has no sources_sha256: `course pretrain {name}` writes it"
