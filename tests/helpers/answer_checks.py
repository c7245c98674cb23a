"""The tests every chapter's visible checks share (docs/design.md, "What the test suite proves").

A tests/test_checks_<topic>.py module sets, then star-imports this module:

    CHAPTER    the chapter ("10_scale"): its manifest, solutions/<CHAPTER>/chapter.toml, gives
               each answer cell's function, its check, the library's version and the hints
    NAMESPACE  what the notebook has imported by the time the learner writes the answer
    REFERENCES (optional) answer cell -> the library's version with the learner's signature,
               for the cells whose manifest names none (an adapter written in the test)
    MUTANT_ERRORS (optional) what a wrong answer may raise besides AssertionError (a torch
               error that names the fix itself)

and gets: the references pass every check; every alternative correct answer in
tests/answers/<CHAPTER>/ passes; every wrong answer fails with a message that says
something; each wrong answer the manifest gives a hint for gets that hint; every
answer cell has both kinds. The module also gets ANSWERS (its answers folder),
CHECKS (answer cell -> (function name, check)) and HINTS, derived from the manifest.
"""
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSWER_FILES = ROOT / "tests" / "answers"  # a folder per chapter, a folder per answer cell

__all__ = ["ANSWER_FILES", "load", "pytest_generate_tests", "test_references_pass", "test_alternative_answers_pass",
           "test_mutants_fail_with_a_message", "test_mutants_get_the_intended_hint",
           "test_every_answer_cell_has_answers_to_check"]


def load(path: Path, name: str, namespace: dict):
    """The function `name` defined by an answer file, run as a notebook cell would be."""
    scope = dict(namespace)
    exec(path.read_text(), scope)
    return scope[name]


def _derive_tables(module) -> None:
    """ANSWERS, CHECKS, HINTS and the rest of REFERENCES from the chapter's manifest, set on the module once."""
    if hasattr(module, "CHECKS"):
        return
    from course_lib import checks
    from course_lib.grader import find_chapter, manifest

    chapter = find_chapter(module.CHAPTER, ROOT)
    answers = manifest.load(chapter).answers
    module.ANSWERS = ANSWER_FILES / chapter.name
    module.CHECKS = {gid: (a.function, getattr(checks, a.check)) for gid, a in answers.items()}
    module.HINTS = [(f"{gid}/{stem}.py", hint) for gid, a in answers.items() for stem, hint in a.hints.items()]
    module.REFERENCES = {**{gid: pkgutil.resolve_name(a.reference) for gid, a in answers.items() if a.reference},
                         **getattr(module, "REFERENCES", {})}
    missing = set(answers) - set(module.REFERENCES)
    assert not missing, f"{chapter.name}: no reference for {sorted(missing)} (the manifest's or the test's REFERENCES)"


def _answer_files(module, kind: str) -> list[tuple[str, Path]]:
    return [(gid, p) for gid in module.CHECKS for p in sorted((module.ANSWERS / gid).glob(f"{kind}_*.py"))]


def pytest_generate_tests(metafunc):
    module, name = metafunc.module, metafunc.function.__name__
    _derive_tables(module)
    if name == "test_references_pass":
        metafunc.parametrize("gid", list(module.CHECKS))
    elif name in ("test_alternative_answers_pass", "test_mutants_fail_with_a_message"):
        kind = "alternative" if "alternative" in name else "mutant"
        files = _answer_files(module, kind)
        metafunc.parametrize("gid,path", files, ids=[f"{gid}/{p.stem}" for gid, p in files])
    elif name == "test_mutants_get_the_intended_hint":
        metafunc.parametrize("relative,hint", module.HINTS, ids=[r for r, _ in module.HINTS])


def _check_and_answer(module, gid: str, path: Path):
    name, check = module.CHECKS[gid]
    return check, load(path, name, module.NAMESPACE)


def test_references_pass(request, capsys, gid):
    _, check = request.module.CHECKS[gid]
    check(request.module.REFERENCES[gid])
    out = capsys.readouterr().out
    assert out.count("✓") >= 4, out
    assert out.strip().endswith("checks passed."), out


def test_alternative_answers_pass(request, gid, path):
    check, answer = _check_and_answer(request.module, gid, path)
    check(answer)


def test_mutants_fail_with_a_message(request, gid, path):
    check, answer = _check_and_answer(request.module, gid, path)
    with pytest.raises(getattr(request.module, "MUTANT_ERRORS", AssertionError)) as info:
        check(answer)
    assert len(str(info.value)) > 40, f"{path.name}: the message {str(info.value)!r} says too little"


def test_mutants_get_the_intended_hint(request, relative, hint):
    module = request.module
    check, answer = _check_and_answer(module, relative.split("/")[0], module.ANSWERS / relative)
    with pytest.raises(AssertionError) as info:
        check(answer)
    assert hint in str(info.value), str(info.value)


def test_every_answer_cell_has_answers_to_check(request):
    module = request.module
    for kind in ("mutant", "alternative"):
        assert {gid for gid, _ in _answer_files(module, kind)} == set(module.CHECKS), f"answer cells without {kind}s"
