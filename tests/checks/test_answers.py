"""Every chapter's exercises have wrong and alternative answers to grade, and
an autograde test file that grades them (tests/helpers/autograde.py)."""
from pathlib import Path

from helpers.autograde import ROOT, answer_files

from course_lib import grader

CHAPTERS = grader.chapters(ROOT)


def test_every_answer_cell_has_three_mutants_and_an_alternative():
    for chapter in CHAPTERS:
        solution_ids = set(grader.reference_answers(chapter))
        mutants, alternatives = answer_files(chapter, "mutant"), answer_files(chapter, "alternative")
        for gid in solution_ids:
            assert len(mutants.get(gid, [])) >= 3, f"{chapter.name}/{gid}: fewer than 3 mutants"
            assert len(alternatives.get(gid, [])) >= 1, f"{chapter.name}/{gid}: no alternative correct answer"
        assert set(mutants) <= solution_ids, f"answers for unknown cells: {set(mutants) - solution_ids}"


def test_every_chapter_has_an_autograde_test_file():
    for chapter in CHAPTERS:
        path = Path(__file__).parents[1] / "e2e" / f"test_autograde_{chapter.name}.py"
        assert path.exists(), f"add {path.name} (copy another chapter's and change CHAPTER)"
        assert f'CHAPTER = "{chapter.name}"' in path.read_text(), f"{path.name} grades another chapter"


def test_every_answer_file_is_run_against_its_visible_check():
    """The autograder grades only the first wrong answers of each cell (tests/helpers/autograde.py);
    the others are proven to fail by a test_checks module that runs every file of the chapter."""
    sources = [p.read_text() for p in Path(__file__).parent.glob("test_checks*.py")]
    for chapter in CHAPTERS:
        assert any(f'CHAPTER = "{chapter.name}"' in text and "from helpers.answer_checks import *" in text
                   for text in sources), \
            f"no tests/test_checks_*.py runs the answer files of {chapter.name} (see tests/helpers/answer_checks.py)"
