"""Every chapter has a complete manifest (solutions/NN_topic/chapter.toml), and the tables derived from it
hold: a chapter folder without one, or a manifest that names what does not exist, fails here."""
import shutil
from pathlib import Path

import pytest

from course_lib import grader
from course_lib.grader import integrity, manifest

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]
CHAPTERS = grader.chapters(ROOT)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_the_manifest_describes_the_chapter(chapter):
    assert manifest.problems(chapter) == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_the_chapter_has_its_tests_and_answers(chapter):
    """The suite's part of a chapter: its autograde test, and wrong and correct answers of every answer cell,
    each hint naming a wrong answer that exists."""
    assert (TESTS / "e2e" / f"test_autograde_{chapter.name}.py").is_file()
    for grade_id, answer in manifest.load(chapter).answers.items():
        folder = TESTS / "answers" / chapter.name / grade_id
        mutants = {p.stem for p in folder.glob("mutant_*.py")}
        assert mutants and list(folder.glob("alternative_*.py")), f"{folder}: needs mutant_*.py and alternative_*.py"
        assert set(answer.hints) <= mutants, f"{grade_id}: hints for missing files {set(answer.hints) - mutants}"


def test_every_ready_made_name_of_a_manifest_is_flagged():
    """The integrity report takes its table from the manifests: each name a manifest lists for an answer
    cell, called there from an imported module, is flagged as a ready-made version of that exercise."""
    imported = integrity.imported_names(["import torch"])
    for chapter in CHAPTERS:
        for grade_id, answer in manifest.load(chapter).answers.items():
            for name in sorted(answer.ready_made):
                source = f"def {answer.function}(*args):\n    return torch.{name}(*args)\n"
                flags = [str(f) for f in integrity.scan_answer(grade_id, source, imported)]
                assert any("ready-made" in f for f in flags), (chapter.name, grade_id, name, flags)


def test_a_chapter_without_a_manifest_or_with_a_wrong_one_is_named(tmp_path):
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name / "04_self_attention", tmp_path / name / "04_self_attention")
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path)
    chapter = grader.find_chapter("04", tmp_path)
    path = manifest.path_of(chapter)
    text = path.read_text()

    path.unlink()
    assert "04_self_attention has no manifest" in manifest.problems(chapter)[0]
    with pytest.raises(grader.CourseError, match="no manifest"):
        manifest.ready_made_table(tmp_path)

    path.write_text(text.replace('check = "check_attention_mask"', 'check = "check_attention_masks"')
                    .replace('"course_lib.attention.scaled_dot_product_attention"', '"course_lib.attention.sdpa"'))
    found = "\n".join(manifest.problems(chapter))
    assert "no check 'check_attention_masks'" in found and "course_lib.attention.sdpa does not exist" in found

    path.write_text(text.replace("[answers.multi_head_attention", "[answers.multi_head"))
    assert "the notebook has" in "\n".join(manifest.problems(chapter))

    path.write_text(text.replace("function = \"scaled_dot_product_attention\"", "function = \"sdpa\""))
    assert "defines no 'sdpa'" in "\n".join(manifest.problems(chapter))

    path.write_text(text.replace("[seconds]", "[second]"))
    assert "not a complete manifest" in manifest.problems(chapter)[0]
    path.write_text(text.replace('function = "attention_mask"\n', ""))
    assert "missing keys ['function']" in manifest.problems(chapter)[0]
