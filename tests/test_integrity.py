"""The integrity report reads answer cells as text and flags code that reaches past the exercise.

Each trick a student tried against the grader (issue: "grades an instructor
can trust") is flagged on the exercise and line where it is written; the
reference answers and every differently written correct answer of every
chapter are not flagged, except the answers that call the library's own
version, which an instructor must see.
"""
from pathlib import Path

import pytest

from course_lib import grading, integrity
from ready_made import ready_made_calls

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / "tests" / "answers"

# alternative answers that call torch's built-in of their exercise, which the issue counts as ready-made
# (chapter 06's attend_with_cache with F.scaled_dot_product_attention) though their names do not say so
CALLS_A_BUILT_IN = {"06_gpt/alternative_sdpa.py"}

SDPA = '''def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / k.shape[-1] ** 0.5
{extra}    weights = scores.softmax(-1)
    return weights @ v, weights
'''

TRICKS = {
    "replaces torch.allclose": ("import torch\ntorch.allclose = lambda *a, **k: True\n", "assigns to torch.allclose"),
    "replaces math.isclose": ("math.isclose = lambda *a, **k: True\n", "assigns to math.isclose"),
    "replaces torch.testing.assert_close": ("torch.testing.assert_close = print\n",
                                            "assigns to torch.testing.assert_close"),
    "replaces a check": ("checks.check_scaled_dot_product_attention = print\n", "assigns to checks."),
    "setattr on a module": ("setattr(torch, 'equal', lambda *a: True)\n", "uses setattr"),
    "a torch function mode": ("from torch.overrides import TorchFunctionMode\n"
                              "class Yes(TorchFunctionMode):\n    pass\nYes().__enter__()\n", "function modes"),
    "an IPython input transformer": ("get_ipython().input_transformers_post.append(lambda lines: lines)\n",
                                     "IPython's machinery"),
    "an AST transformer": ("ip = get_ipython()\nip.ast_transformers.append(object())\n", "IPython's machinery"),
    "a custom exception handler": ("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n",
                                   "IPython's machinery"),
    "writes the gradebook": ("import sqlite3\nsqlite3.connect('../../../gradebook.db')\n", "sqlite3"),
    "reads the solutions": ("src = open('../../solutions/04_self_attention/04_self_attention.ipynb').read()\n",
                            "uses open"),
    "pathlib": ("from pathlib import Path\nPath('x').write_text('y')\n", "write_text"),
    "kills the kernel": ("import os\nos._exit(0)\n", "uses os"),
    "exec of a string": ("exec('torch.all' + 'close = 1')\n", "uses exec"),
    "getattr with a computed name": ("ok = getattr(torch, 'all' + 'close')\n", "getattr with a computed name"),
    "the checks' reference by getattr": ("from course_lib.checks import self_attention as sa\n"
                                         "ref = getattr(sa, '_reference_attention')\n", "ready-made version"),
    "the library's version": ("from course_lib.attention import scaled_dot_product_attention as sdpa\n",
                              "course_lib.attention.scaled_dot_product_attention, a ready-made version"),
    "torch's built-in": ("import torch.nn.functional as F\n_ = F.scaled_dot_product_attention\n",
                         "F.scaled_dot_product_attention, a ready-made version"),
    "rebinds the checks": ("class Quiet:\n    def __getattr__(self, name):\n        return print\nchecks = Quiet()\n",
                           "rebinds checks, which the notebook imported"),
    "rebinds a builtin": ("abs = lambda x: 0\n", "rebinds the builtin abs"),
    "rebinds by import": ("from builtins import print as checks\n", "rebinds checks"),
    "rebinds in a loop": ("for math in [None]:\n    pass\n", "rebinds math"),
    "vars of a module": ("ok = vars(torch)['allclose']\n", "uses vars"),
    "a module's __dict__": ("ok = torch.__dict__['allclose']\n", "uses .__dict__"),
    "attrgetter": ("from operator import attrgetter\nok = attrgetter('allclose')(torch)\n", "uses attrgetter"),
    "a function's globals": ("g = checks.check_scaled_dot_product_attention.__globals__\n", "uses .__globals__"),
    "a running frame": ("import traceback\nf = traceback.extract_stack\ng = (lambda: 0).__code__\n", "__code__"),
    "a ready-made name in a string": ("name = '_reference_' 'attention'\n", "in a string"),
}


def test_writing_into_a_tensor_indexed_by_a_library_call_is_not_a_flag():
    """`x[torch.arange(n), ids] = 1` writes into x; only what the target writes INTO counts."""
    imported = integrity.imported_names(["import torch"])
    honest = "x = torch.zeros(3, 4)\nx[torch.arange(3), torch.tensor([0, 1, 2])] = 1.0\n(a, b), c[torch.ones(1).long()] = (1, 2), 3\n"
    assert integrity.scan_answer("one_hot_embed", honest, imported) == []
    for trick in ["torch.__dict__['allclose'] = max\n", "x, torch.equal = 1, max\n", "torch.testing.assert_close = max\n"]:
        assert integrity.scan_answer("one_hot_embed", trick, imported), trick


@pytest.mark.parametrize("trick", list(TRICKS))
def test_each_trick_is_flagged_on_its_line(trick):
    code, words = TRICKS[trick]
    source = SDPA.format(extra="") + code
    imported = integrity.imported_names(["import math\nimport torch\nimport torch.nn.functional as F\n"
                                         "from course_lib import checks"])
    flags = integrity.scan_answer("scaled_dot_product_attention", source, imported)
    assert any(words in f.what for f in flags), [str(f) for f in flags]
    first_trick_line = source.splitlines().index(code.splitlines()[0]) + 1
    assert min(f.line for f in flags) >= first_trick_line, "the flag points at the trick, not the honest lines"


def test_ready_made_versions_of_other_exercises():
    imported = integrity.imported_names(["import torch.nn as nn\nfrom course_lib import rnn"])
    cell = "def lstm_cell(x, state, *w):\n    return rnn.lstm_cell(x, state, *w)\n"
    assert any("rnn.lstm_cell" in f.what for f in integrity.scan_answer("lstm_cell", cell, imported))
    cell = "def lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh):\n    cell = nn.LSTMCell(3, 4)\n"
    assert any("nn.LSTMCell" in f.what for f in integrity.scan_answer("lstm_cell", cell, imported))
    cell = ("import torch\ndef clip_grad_norm(parameters, max_norm):\n"
            "    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)\n")
    assert any("clip_grad_norm_" in f.what for f in integrity.scan_answer("clip_grad_norm", cell, imported))
    # honest helpers that share nothing with the exercise are not flagged
    cell = "def lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh):\n    h, c = state\n    return torch.sigmoid(x), c\n"
    assert integrity.scan_answer("lstm_cell", cell, imported) == []
    # a syntax error: the report could not read the cell, and says so (it used to pass it unread)
    flags = integrity.scan_answer("lstm_cell", "def lstm_cell(:\n", imported)
    assert [f.what for f in flags] == ["could not read this cell: a syntax error at line 1 (invalid syntax); "
                                       "nothing in it was checked"], flags


@pytest.mark.parametrize("chapter", [c.name for c in grading.chapters(ROOT)])
def test_honest_answers_are_not_flagged(chapter):
    chapter = grading.find_chapter(chapter, ROOT)
    release = grading.read_notebook(chapter.release)
    reference = grading.fill_answers(release, grading.reference_answers(chapter))
    assert integrity.report(chapter, reference) == {}
    flagged = {}
    for path in sorted((ANSWERS / chapter.name).glob("*/*.py")):
        found = integrity.report(chapter, grading.fill_answers(release, {path.parent.name: path.read_text()}))
        if found:
            flagged[path.name] = [str(f) for flags in found.values() for f in flags]
    # the one kind of honest answer that is flagged: a call of the library's own version
    assert all(name.startswith("alternative_library") or f"{chapter.name}/{name}" in CALLS_A_BUILT_IN
               for name in flagged), flagged
    for name, flags in flagged.items():
        assert all("ready-made version" in f for f in flags), flags


def test_checks_refuse_replaced_tools(monkeypatch):
    """Inside the kernel: a check whose comparison tools were replaced fails, and says which."""
    import math

    import torch
    from torch.overrides import TorchFunctionMode

    from course_lib import checks
    from course_lib.metrics import perplexity

    checks.check_perplexity(perplexity)  # the originals: passes
    wrong = lambda logits, targets: 1.0  # noqa: E731
    for owner, name in [(torch, "allclose"), (math, "isclose"), (torch.Tensor, "__eq__"), (torch.testing, "assert_close")]:
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, lambda *args, **kwargs: True)
            with pytest.raises(AssertionError, match=f"{name} has been replaced"):
                checks.check_perplexity(wrong)

    class Anything(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Anything(), pytest.raises(AssertionError, match="torch function mode is active"):
        checks.check_perplexity(perplexity)
    checks.check_perplexity(perplexity)  # and trusted again once they are back


def test_course_check_prints_integrity_lines(tmp_path, monkeypatch, capsys):
    """The CLI wiring: flags are printed before the scores (the grading itself is faked here;
    tests/test_grade_class.py grades for real)."""
    from course_lib import cli

    chapter = grading.find_chapter("04", ROOT)
    release = grading.read_notebook(chapter.release)
    first = chapter.exercises()[0]
    answers = dict(grading.reference_answers(chapter),
                   **{first.solution_ids[0]: "from course_lib.attention import scaled_dot_product_attention\n"})
    path = tmp_path / "mine.ipynb"
    grading.write_notebook(grading.fill_answers(release, answers), path)

    def fake_autograde(chapter, submissions, cell_timeout, hide=()):
        cells = [grading.CellGrade(e.grade_id, e.title, e.points, e.points, "") for e in chapter.exercises()]
        return {name: grading.GradeReport(name, cells) for name in submissions}

    monkeypatch.setattr(grading, "autograde", fake_autograde)
    assert cli.main(["check", "04", "--notebook", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"INTEGRITY: {first.title}: scaled_dot_product_attention, line 1: imports " \
           "course_lib.attention.scaled_dot_product_attention, a ready-made version" in out, out


@pytest.mark.parametrize("chapter", [c.name for c in grading.chapters(ROOT)])
def test_every_ready_made_version_is_flagged_in_every_chapter(chapter):
    """The course's own reference and torch's built-in of each exercise, called from its answer cell,
    are flagged on that exercise (a class's "reference-call" and "built-in" submissions)."""
    chapter = grading.find_chapter(chapter, ROOT)
    release = grading.read_notebook(chapter.release)
    reference = grading.reference_answers(chapter)
    exercise_of = {sid: ex.grade_id for ex in chapter.exercises() for sid in ex.solution_ids}
    missed, tried = [], 0
    for answer_cell in reference:
        for call in ready_made_calls(answer_cell):
            tried += 1
            flags = integrity.report(chapter, grading.fill_answers(release, dict(reference, **{answer_cell: call})))
            named = [str(f) for f in flags.get(exercise_of[answer_cell], [])]
            if not any("ready-made version" in f for f in named):
                missed.append(f"{answer_cell}: {call.splitlines()[0]} -> {named}")
    assert tried > 0
    assert not missed, "\n".join(missed)


def _release_with(chapter_name: str, answers: dict[str, str], extra_cells: dict[int, str]):
    """The chapter's release with the reference answers, and ordinary code cells added at the given indices
    (counted in the release) or, where the index is an ordinary code cell, that cell's source replaced."""
    import nbformat

    chapter = grading.find_chapter(chapter_name, ROOT)
    nb = grading.fill_answers(grading.read_notebook(chapter.release), {**grading.reference_answers(chapter), **answers})
    for index in sorted(extra_cells, reverse=True):
        cell = nb.cells[index]
        if cell.cell_type == "code" and not grading.grade_meta(cell):
            cell.source = extra_cells[index]
        else:
            nb.cells.insert(index, nbformat.v4.new_code_cell(extra_cells[index]))
    return chapter, nb


def test_added_and_edited_cells_are_read_against_the_exercises_after_them():
    """The grader restores the locked test cells only: a cell the learner adds or edits runs before the
    tests that follow it, so its tricks count against each of them (and not against earlier ones)."""
    chapter = grading.find_chapter("10_scale", ROOT)
    release = grading.read_notebook(chapter.release)
    first_test = next(i for i, c in enumerate(release.cells) if grading.is_test_cell(c))
    exercises = [e.grade_id for e in chapter.exercises()]
    _, nb = _release_with("10_scale", {}, {first_test: "torch.allclose = lambda *a, **k: True\n"})
    flags = integrity.report(chapter, nb)
    assert sorted(flags) == sorted(exercises), flags  # before the first test cell: every exercise
    assert all("not an answer cell" in str(f) and "torch.allclose" in f.what for fs in flags.values() for f in fs)
    # an ordinary cell of the release, edited to redefine an answer with the library's version
    demo = next(i for i, c in enumerate(release.cells)
                if i > first_test and c.cell_type == "code" and not grading.grade_meta(c))
    _, nb = _release_with("10_scale", {}, {demo: "from course_lib.distributed import average_gradients\n"})
    flags = integrity.report(chapter, nb)
    assert exercises[0] not in flags and set(flags) == set(exercises[1:]), flags
    assert any("redefines average_gradients" in f.what for f in flags[exercises[1]])
    # honest additions are not flags: a print, a plot, a note to self
    _, nb = _release_with("10_scale", {}, {first_test: "print(average_gradients)\nx = torch.zeros(3)\n"})
    assert integrity.report(chapter, nb) == {}


def test_an_answer_cell_may_not_redefine_another_exercise():
    chapter = grading.find_chapter("10_scale", ROOT)
    cheat = "def flops_per_token(config, seq_len):\n    return 0\n\ndef average_gradients(model):\n    pass\n"
    _, nb = _release_with("10_scale", {"flops_per_token": cheat}, {})
    flags = integrity.report(chapter, nb)
    assert any("redefines average_gradients" in f.what for fs in flags.values() for f in fs), flags
