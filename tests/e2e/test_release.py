"""notebooks/ is exactly what nbgrader generates from solutions/, and leaks nothing."""
import json
from pathlib import Path

import pytest

from course_lib import grader

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = grader.chapters(ROOT)


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    grader.release(ROOT, output=out)
    return out


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_committed_release_equals_a_fresh_regeneration(chapter, fresh_release):
    # Also the proof that releasing is deterministic: the committed file was made by
    # another process, at another time, often on another machine.
    fresh = (fresh_release / chapter.name / f"{chapter.name}.ipynb").read_text()
    committed = chapter.release.read_text()
    assert committed == fresh, f"{chapter.release} is stale: run `course release {chapter.number}` and commit"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_no_solution_or_hidden_test_leaks_into_the_release(chapter):
    text = chapter.release.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{marker!r} found in {chapter.release}"
    # and no reference answer line survives in an exercise cell
    release = grader.read_notebook(chapter.release)
    for grade_id, source in grader.reference_answers(chapter).items():
        stub = grader.solution_sources(release)[grade_id]
        body = [l.strip() for l in source.splitlines() if l.strip() and not l.strip().startswith(("def ", "#", '"""'))]
        leaked = [l for l in body if l in stub.splitlines() and len(l) > 12]
        assert not leaked, f"{grade_id}: the release still contains answer lines {leaked}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_release_has_no_outputs_and_normalised_metadata(chapter):
    nb = json.loads(chapter.release.read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert "version" not in nb["metadata"].get("language_info", {})


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_exercise_is_graded_and_has_points(chapter):
    exercises = chapter.exercises()
    assert 3 <= len(exercises) <= 6, 'docs/design.md, "Chapter conventions": 3-6 graded exercises per chapter'
    solutions = grader.solution_sources(grader.read_notebook(chapter.source))
    graded = {s for ex in exercises for s in ex.solution_ids}
    assert graded == set(solutions), f"answer cells with no test after them: {set(solutions) - graded}"
    for ex in exercises:
        assert ex.points > 0 and ex.title.startswith("Exercise"), ex


def test_stored_outputs_have_no_stale_progress_bars():
    """A solution notebook shows each progress bar finished (or not at all), never its first frame."""
    import re

    first_frame = re.compile(r"(^|[:\s])0%\|[^|]*\|\s*0/\d+")
    for chapter in grader.chapters(ROOT):
        nb = grader.read_notebook(chapter.source)
        for index, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                assert grader.WIDGET_VIEW not in output.get("data", {}), f"{chapter.name} cell {index}: a widget"
                text = output.get("text", "") + "".join(output.get("data", {}).get("text/plain", ""))
                assert not first_frame.search(text), f"{chapter.name} cell {index}: {text[:120]!r}"
