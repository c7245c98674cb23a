"""The integrity report reads answer cells as text and flags code that reaches past the exercise.

Each trick a student tried against the grader (issue: "grades an instructor
can trust") is flagged on the exercise and line where it is written; the
reference answers and every differently written correct answer of every
chapter are not flagged, except the answers that call the library's own
version, which an instructor must see.
"""
from pathlib import Path

import pytest
from helpers.ready_made import ready_made_calls

from course_lib import grader
from course_lib.grader import integrity

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "answers"

# alternative answers that call torch's built-in of their exercise, which the issue counts as ready-made
# (chapter 06's attend_with_cache with F.scaled_dot_product_attention) though their names do not say so
CALLS_A_BUILT_IN = set()

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


@pytest.mark.parametrize("chapter", [c.name for c in grader.chapters(ROOT)])
def test_honest_answers_are_not_flagged(chapter):
    chapter = grader.find_chapter(chapter, ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.fill_answers(release, grader.reference_answers(chapter))
    assert integrity.report(chapter, reference) == {}
    flagged = {}
    for path in sorted((ANSWERS / chapter.name).glob("*/*.py")):
        found = integrity.report(chapter, grader.fill_answers(release, {path.parent.name: path.read_text()}))
        if found:
            flagged[path.name] = [str(f) for flags in found.values() for f in flags]
    # the one kind of honest answer that is flagged: a call of the library's own version
    assert all(name.startswith("alternative_library") or f"{chapter.name}/{name}" in CALLS_A_BUILT_IN
               for name in flagged), flagged
    for flags in flagged.values():
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
    tests/e2e/test_grade_class.py grades for real)."""
    from course_lib import cli

    chapter = grader.find_chapter("04", ROOT)
    release = grader.read_notebook(chapter.release)
    first = chapter.exercises()[0]
    answers = dict(grader.reference_answers(chapter),
                   **{first.solution_ids[0]: "from course_lib.attention import scaled_dot_product_attention\n"})
    path = tmp_path / "mine.ipynb"
    grader.write_notebook(grader.fill_answers(release, answers), path)

    def fake_autograde(chapter, submissions, cell_timeout, hide=()):
        cells = [grader.CellGrade(e.grade_id, e.title, e.points, e.points, "") for e in chapter.exercises()]
        return {name: grader.GradeReport(name, cells) for name in submissions}

    monkeypatch.setattr(grader, "autograde", fake_autograde)
    assert cli.main(["check", "04", "--notebook", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"INTEGRITY: {first.title}: scaled_dot_product_attention, line 1: imports " \
           "course_lib.attention.scaled_dot_product_attention, a ready-made version" in out, out


@pytest.mark.parametrize("chapter", [c.name for c in grader.chapters(ROOT)])
def test_every_ready_made_version_is_flagged_in_every_chapter(chapter):
    """The course's own reference and torch's built-in of each exercise, called from its answer cell,
    are flagged on that exercise (a class's "reference-call" and "built-in" submissions)."""
    chapter = grader.find_chapter(chapter, ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.reference_answers(chapter)
    exercise_of = {sid: ex.grade_id for ex in chapter.exercises() for sid in ex.solution_ids}
    missed, tried = [], 0
    for answer_cell in reference:
        for call in ready_made_calls(answer_cell):
            tried += 1
            flags = integrity.report(chapter, grader.fill_answers(release, dict(reference, **{answer_cell: call})))
            named = [str(f) for f in flags.get(exercise_of[answer_cell], [])]
            if not any("ready-made version" in f for f in named):
                missed.append(f"{answer_cell}: {call.splitlines()[0]} -> {named}")
    assert tried > 0
    assert not missed, "\n".join(missed)


def _release_with(chapter_name: str, answers: dict[str, str], extra_cells: dict[int, str]):
    """The chapter's release with the reference answers, and ordinary code cells added at the given indices
    (counted in the release) or, where the index is an ordinary code cell, that cell's source replaced."""
    import nbformat

    chapter = grader.find_chapter(chapter_name, ROOT)
    nb = grader.fill_answers(grader.read_notebook(chapter.release), {**grader.reference_answers(chapter), **answers})
    for index in sorted(extra_cells, reverse=True):
        cell = nb.cells[index]
        if cell.cell_type == "code" and not grader.grade_meta(cell):
            cell.source = extra_cells[index]
        else:
            nb.cells.insert(index, nbformat.v4.new_code_cell(extra_cells[index]))
    return chapter, nb


def test_added_and_edited_cells_are_read_against_the_exercises_after_them():
    """The grader restores the locked test cells only: a cell the learner adds or edits runs before the
    tests that follow it, so its tricks count against each of them (and not against earlier ones)."""
    chapter = grader.find_chapter("10_scale", ROOT)
    release = grader.read_notebook(chapter.release)
    first_test = next(i for i, c in enumerate(release.cells) if grader.is_test_cell(c))
    exercises = [e.grade_id for e in chapter.exercises()]
    _, nb = _release_with("10_scale", {}, {first_test: "torch.allclose = lambda *a, **k: True\n"})
    flags = integrity.report(chapter, nb)
    assert sorted(flags) == sorted(exercises), flags  # before the first test cell: every exercise
    assert all("not an answer cell" in str(f) and "torch.allclose" in f.what for fs in flags.values() for f in fs)
    # an ordinary cell of the release, edited to redefine an answer with the library's version
    demo = next(i for i, c in enumerate(release.cells)
                if i > first_test and c.cell_type == "code" and not grader.grade_meta(c))
    _, nb = _release_with("10_scale", {}, {demo: "from course_lib.distributed import average_gradients\n"})
    flags = integrity.report(chapter, nb)
    assert exercises[0] not in flags and set(flags) == set(exercises[1:]), flags
    assert any("redefines average_gradients" in f.what for f in flags[exercises[1]])
    # honest additions are not flags: a print, a plot, a note to self
    _, nb = _release_with("10_scale", {}, {first_test: "print(average_gradients)\nx = torch.zeros(3)\n"})
    assert integrity.report(chapter, nb) == {}


def test_an_answer_cell_may_not_redefine_another_exercise():
    chapter = grader.find_chapter("10_scale", ROOT)
    cheat = "def flops_per_token(config, seq_len):\n    return 0\n\ndef average_gradients(model):\n    pass\n"
    _, nb = _release_with("10_scale", {"flops_per_token": cheat}, {})
    flags = integrity.report(chapter, nb)
    assert any("redefines average_gradients" in f.what for fs in flags.values() for f in fs), flags


# --- the issue "the report fails open and any alias escapes it": each escape, on the exercise where it stands
HONEST = ROOT / "tests" / "honest"

# label -> (chapter, answer cell, code appended to the reference answer, words of the flag)
ESCAPES = {
    "a magic line makes the cell unparseable for ast": (
        "04", "scaled_dot_product_attention", "%matplotlib inline\ntorch.allclose = lambda *a, **k: True\n",
        "assigns to torch.allclose"),
    "the trick inside a %%time cell": (
        "04", "scaled_dot_product_attention", None, "assigns to torch.allclose"),
    "the trick as the code of %time": (
        "04", "scaled_dot_product_attention", "%time torch.allclose = lambda *a, **k: True\n", "assigns to torch.allclose"),
    "a shell escape": ("04", "scaled_dot_product_attention", "!rm -rf ../../gradebook.db\n", "outside Python"),
    "a bash cell magic inside %%capture": ("04", "scaled_dot_product_attention", None, "outside Python"),
    "%run of another file": ("04", "scaled_dot_product_attention", "%run cheat.py\n", "outside Python"),
    "%%writefile": ("04", "scaled_dot_product_attention", None, "outside Python"),
    "an unknown magic": ("04", "scaled_dot_product_attention", "%load_ext cheat\n", "magic"),
    "a cell that does not parse": ("04", "scaled_dot_product_attention", "def broken(:\n    pass\n",
                                   "could not read this cell: a syntax error at line"),
    "an alias of F": ("06", "attend_with_cache", "fn = F\n_ = fn.scaled_dot_product_attention\n",
                      "ready-made version"),
    "06's built-in attention": ("06", "attend_with_cache",
                                "def attend_with_cache(q, k, v, cache=None):\n"
                                "    return F.scaled_dot_product_attention(q, k, v), (k, v)\n", "ready-made version"),
    "import os as o": ("04", "scaled_dot_product_attention", "import os as o\no.system('ls')\n", "o.system (os.system)"),
    "getattr under another name": ("04", "scaled_dot_product_attention",
                                   "fetch = getattr\nok = fetch(torch, 'all' + 'close')\n", "getattr with a computed name"),
    "import gc as collector": ("04", "scaled_dot_product_attention", "import gc as collector\n", "imports gc"),
    "gc.get_objects": ("04", "scaled_dot_product_attention",
                       "import gc\nfns = [f for f in gc.get_objects() if callable(f)]\n", "uses gc.get_objects"),
    "importlib with a name built from chr()": (
        "04", "scaled_dot_product_attention",
        "import importlib\nm = importlib.import_module(''.join(map(chr, [111, 115])))\n", "importlib"),
    "__import__ of chr()s": ("04", "scaled_dot_product_attention", "m = __import__(chr(111) + chr(115))\n",
                              "uses __import__"),
    "getattr of a name built from chr()": (
        "04", "scaled_dot_product_attention", "def f(self):\n    return getattr(self, ''.join(map(chr, [95, 95])))\n",
        "built from characters"),
    "a subclass walk from ()": ("04", "scaled_dot_product_attention",
                                "classes = ().__class__.__base__.__subclasses__()\n", "__subclasses__"),
    "types.FunctionType from a reference's __code__": (
        "04", "scaled_dot_product_attention",
        "import types\nf = types.FunctionType(checks.check_attention_mask.__code__, {})\n", "types"),
    "a pickle payload": ("04", "scaled_dot_product_attention", "import pickle as p\np.loads(b'x')\n", "imports pickle"),
    "a marshal payload": ("04", "scaled_dot_product_attention", "from marshal import loads\n", "imports marshal.loads"),
    "a decorator that patches": ("04", "scaled_dot_product_attention",
                                 "def quiet(f):\n    setattr(torch, 'allclose', lambda *a, **k: True)\n    return f\n"
                                 "@quiet\ndef helper():\n    pass\n", "uses setattr on torch"),
    "a metaclass": ("04", "scaled_dot_product_attention",
                    "class Meta(type):\n    def __instancecheck__(cls, x):\n        return True\n"
                    "class Anything(metaclass=Meta):\n    pass\n", "metaclass"),
    "a module's __class__ swapped": ("04", "scaled_dot_product_attention",
                                     "class Loud(type(torch)):\n    pass\ntorch.__class__ = Loud\n", "__class__"),
    "ctypes PyObject_SetAttr": ("04", "scaled_dot_product_attention",
                                "import ctypes\nctypes.pythonapi.PyObject_SetAttr\n", "imports ctypes"),
    "torch.library overrides aten::allclose": (
        "04", "scaled_dot_product_attention",
        "lib = torch.library.Library('aten', 'IMPL')\nlib.impl('allclose', lambda *a, **k: True, 'CPU')\n",
        "torch.library"),
    "torch.library under an alias": ("04", "scaled_dot_product_attention",
                                     "from torch import library as L\nL.Library('aten', 'IMPL')\n", "torch.library"),
    "a Tensor subclass with __torch_function__": (
        "04", "scaled_dot_product_attention",
        "class Always(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        return True\n", "subclasses torch.Tensor"),
    "__torch_function__ on a plain class": (
        "04", "scaled_dot_product_attention",
        "class Sneaky:\n    def __torch_function__(self, *a, **k):\n        return True\n", "__torch_function__"),
    "sys.modules patched": ("04", "scaled_dot_product_attention",
                            "import sys\nsys.modules['torch'].allclose = max\n", "sys.modules"),
    "sys._getframe": ("04", "scaled_dot_product_attention", "import sys as s\nframe = s._getframe(1)\n", "_getframe"),
    "a course_lib reference patched through an alias": (
        "09", "encode_chat", "import course_lib.sft as s\ns.encode_chat = lambda *a: ([], 0)\n", "assigns to s.encode_chat"),
    "Counter.__eq__ patched": ("03", "corpus_bleu", "Counter.__eq__ = lambda a, b: True\n", "assigns to Counter.__eq__"),
    "Counter.__eq__ patched through an alias": (
        "03", "corpus_bleu", "C = Counter\nC.__eq__ = lambda a, b: True\n", "assigns to C.__eq__"),
    "a special method of a type patched": ("03", "corpus_bleu", "type(Counter()).__eq__ = lambda a, b: True\n",
                                           "__eq__"),
    "GradScaler subclassed and patched": (
        "10", "loss_scaling_step",
        "class Scaler(torch.amp.GradScaler):\n    pass\ntorch.amp.GradScaler = Scaler\n", "torch.amp.GradScaler"),
    "a grader detector": ("10", "flops_per_token",
                          "import os\nGRADED = 'NBGRADER_EXECUTION' in os.environ\n", "names the grader"),
    "a grader detector by subscript": ("10", "flops_per_token",
                                       "import os\nGRADED = os.environ['NBGRADER_EXECUTION']\n", "names the grader"),
    "os.remove": ("04", "scaled_dot_product_attention", "import os\nos.remove('x')\n", "os.remove"),
    "a module through a function default": ("04", "scaled_dot_product_attention",
                                            "import os\ndef f(m=os):\n    m.system('ls')\n", "m.system (os.system)"),
    "a module through tuple unpacking": ("04", "scaled_dot_product_attention",
                                         "import os\na, b = 1, os\nb.symlink('x', 'y')\n", "os.symlink"),
    "a module returned by a helper": ("04", "scaled_dot_product_attention",
                                      "import os\ndef get():\n    return os\nget().system('ls')\n", "os.system"),
    "builtins": ("04", "scaled_dot_product_attention", "import builtins\n", "imports builtins"),
    "__builtins__": ("04", "scaled_dot_product_attention", "b = __builtins__\n", "__builtins__"),
    "vars of a module": ("10", "flops_per_token", "table = vars(torch)\n", "uses vars on torch"),
    "__dict__ of an imported class": ("10", "flops_per_token", "fields = GPTConfig.__dict__\n", "__dict__ of GPTConfig"),
    "setattr passed around uncalled": ("04", "scaled_dot_product_attention",
                                       "list(map(setattr, [torch], ['allclose'], [max]))\n", "passes setattr on"),
    "inspect frames": ("05", "layer_norm", "frame = inspect.currentframe().f_back\n", "inspect.currentframe"),
    "a private reference of the checks": ("05", "layer_norm", "from course_lib.checks.transformer import "
                                                              "random_decoder_layer, _reference_head\n", "_reference_head"),
    "open outside the folder": ("04", "scaled_dot_product_attention", "open('../../gradebook.db', 'rb')\n",
                                "outside the notebook's folder"),
    "open of a path it cannot read": ("04", "scaled_dot_product_attention", "name = input()\nopen(name)\n",
                                      "path the report cannot read"),
    "writing a Python file next to the notebook": ("04", "scaled_dot_product_attention",
                                                   "open('sitecustomize.py', 'w').write('x')\n", "a file Python"),
    "a torch function mode under an alias": (
        "04", "scaled_dot_product_attention", "import torch.overrides as o\nclass M(o.TorchFunctionMode):\n    pass\n",
        "torch.overrides"),
}
# whole cells, where the escape needs a cell magic on the first line
CELLS = {
    "the trick inside a %%time cell": "%%time\n{answer}\ntorch.allclose = lambda *a, **k: True\n",
    "a bash cell magic inside %%capture": "%%capture out\n{answer}\n!rm -rf /\n",
    "%%writefile": "%%writefile torch.py\nallclose = lambda *a, **k: True\n",
}


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_each_escape_is_flagged_on_its_exercise(escape):
    number, answer_cell, code, words = ESCAPES[escape]
    chapter = grader.find_chapter(number, ROOT)
    reference = grader.reference_answers(chapter)
    answer = reference[answer_cell]
    source = CELLS[escape].format(answer=answer) if code is None else answer.rstrip() + "\n\n" + code
    nb = grader.fill_answers(grader.read_notebook(chapter.release), dict(reference, **{answer_cell: source}))
    exercise = next(e for e in chapter.exercises() if answer_cell in e.solution_ids)
    flags = [str(f) for f in integrity.report(chapter, nb).get(exercise.grade_id, [])]
    assert any(words in f for f in flags), flags


def test_an_escape_in_a_scratch_cell_counts_against_later_exercises():
    chapter = grader.find_chapter("10_scale", ROOT)
    first_test = next(i for i, c in enumerate(grader.read_notebook(chapter.release).cells) if grader.is_test_cell(c))
    _, nb = _release_with("10_scale", {}, {first_test: "%matplotlib inline\nimport os as o\no.system('ls')\n"})
    flags = integrity.report(chapter, nb)
    assert sorted(flags) == sorted(e.grade_id for e in chapter.exercises()), flags
    # a scratch cell with str.replace and `import os` (reading paths) is no flag on anything
    _, nb = _release_with("10_scale", {}, {first_test: "import os\nprint('a-b'.replace('-', '+'), os.path.join('a', 'b'))\n"})
    assert integrity.report(chapter, nb) == {}


def test_harmless_magics_are_not_flags():
    imported = integrity.imported_names(["import torch"])
    for cell in ["%matplotlib inline\nx = 1\n", "%time x = torch.zeros(3)\n", "%timeit -n 1 -r 1 torch.zeros(3)\n",
                 "%%time\nx = torch.zeros(3)\n", "%load_ext autoreload\n%autoreload 2\n", "torch.zeros?\n"]:
        assert integrity.scan_answer("one_hot_embed", cell, imported) == [], cell


def test_the_ready_made_table_covers_every_exercise():
    for chapter in grader.chapters(ROOT):
        for answer_cell in grader.reference_answers(chapter):
            assert integrity.READY_MADE.get(answer_cell), f"{chapter.name}/{answer_cell} has no ready-made versions"
    assert "scaled_dot_product_attention" in integrity.READY_MADE["attend_with_cache"]


def _honest_files():
    return sorted(HONEST.glob("*/*/*.py"))


def test_the_honest_corpus_is_large_and_varied():
    files = _honest_files()
    assert len(files) >= 30 and len({p.parent.parent.name for p in files}) >= 5


@pytest.mark.parametrize("path", _honest_files(), ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_honest_unusual_answers_are_not_flagged(path):
    """tests/honest holds correct answers written the unusual ways honest learners write them (helpers,
    classes with setattr on self, files next to the notebook, list.remove, print and warnings, magics,
    os.path, vars(config)): none is a flag."""
    chapter = grader.find_chapter(path.parent.parent.name, ROOT)
    nb = grader.fill_answers(grader.read_notebook(chapter.release), {path.parent.name: path.read_text()})
    assert integrity.report(chapter, nb) == {}


@pytest.mark.parametrize("chapter", [c.name for c in grader.chapters(ROOT)])
def test_an_edited_cell_of_the_release_is_no_flag(chapter):
    """A learner who edits an ordinary cell of the release (a hyperparameter, a comment) is not flagged for
    what the release itself does there (inspect.getsource, tempfile, CONFIG.__dict__, a loop over KINDS)."""
    chapter = grader.find_chapter(chapter, ROOT)
    release = grader.read_notebook(chapter.release)
    reference = grader.fill_answers(release, grader.reference_answers(chapter))
    flagged = {}
    for i, cell in enumerate(release.cells):
        if cell.cell_type == "code" and not grader.grade_meta(cell):
            nb = grader.fill_answers(reference, {})
            nb.cells[i].source = cell.source + "\n# edited\n"
            found = integrity.report(chapter, nb)
            if found:
                flagged[i] = sorted({str(f) for flags in found.values() for f in flags})
    assert not flagged, flagged
