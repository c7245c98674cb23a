"""The tests every chapter's visible checks share (docs/design.md, "What the test suite proves").

A tests/test_checks_<topic>.py module sets, then star-imports this module:

    ANSWERS    the chapter's folder in tests/answers/
    CHECKS     answer cell -> (the function the learner writes, its check)
    REFERENCES answer cell -> course_lib's own version, with the learner's signature
    NAMESPACE  what the notebook has imported by the time the learner writes the answer
    HINTS      (answer file, text its failure message must contain) for the wrong answers

and gets: the references pass every check; every alternative correct answer in
ANSWERS passes; every wrong answer fails with a message that says something; each
listed wrong answer gets the hint meant for it; every answer cell has both kinds.
"""
from pathlib import Path

import pytest

__all__ = ["load", "pytest_generate_tests", "test_references_pass", "test_alternative_answers_pass",
           "test_mutants_fail_with_a_message", "test_mutants_get_the_intended_hint",
           "test_every_answer_cell_has_answers_to_check"]


def load(path: Path, name: str, namespace: dict):
    """The function `name` defined by an answer file, run as a notebook cell would be."""
    scope = dict(namespace)
    exec(path.read_text(), scope)
    return scope[name]


def _answer_files(module, kind: str) -> list[tuple[str, Path]]:
    return [(gid, p) for gid in module.CHECKS for p in sorted((module.ANSWERS / gid).glob(f"{kind}_*.py"))]


def pytest_generate_tests(metafunc):
    module, name = metafunc.module, metafunc.function.__name__
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
    with pytest.raises(AssertionError) as info:
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
