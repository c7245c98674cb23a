"""The set-up files agree with each other and with what is installed."""
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["dev"] + extras["hf"]
    return dict(_split(r) for r in requirements)


def _split(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)\s*", requirement)
    assert match, f"{requirement!r} is not pinned with ==: pin it so outputs are reproducible"
    return match.group(1).lower().replace("_", "-"), match.group(2)


def _environment_yml_pins() -> dict[str, str]:
    # A tiny reader for our own file, so the test needs no YAML library.
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    pins = {}
    for line in lines[start + 1:]:
        item = line.strip()
        if not item.startswith("- "):
            break
        item = item[2:].strip()
        if item.startswith("-e"):
            continue
        name, version = _split(item)
        pins[name] = version
    return pins


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pyproject, conda = _pyproject_pins(), _environment_yml_pins()
    assert set(conda) == set(pyproject), (
        f"only in environment.yml: {sorted(set(conda) - set(pyproject))}; "
        f"only in pyproject.toml: {sorted(set(pyproject) - set(conda))}"
    )
    differ = {n: (pyproject[n], conda[n]) for n in pyproject if pyproject[n] != conda[n]}
    assert not differ, f"versions differ (pyproject, environment.yml): {differ}"


@pytest.mark.parametrize("name,version", sorted(_pyproject_pins().items()))
def test_installed_versions_are_the_pinned_ones(name, version):
    installed = importlib.metadata.version(name)
    # torch's local CPU wheel is 2.13.0+cpu; the local label is not a different release.
    assert installed.split("+")[0] == version, f"{name} {installed} is installed, {version} is pinned: run `make clean-venv test`"


def test_makefile_targets_create_the_venv():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: \$\(STAMP\)", makefile, re.M)
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.M)
    assert (ROOT / ".ci" / "run").read_text().count("make test") == 1
