"""Every file the documentation names exists, and README.md stays a front door.

Read as text, without running anything: the Markdown files (README.md, docs/, benchmarks/,
checkpoints/README.md) and the comments and docstrings of the Python files. A path is a
token that starts with one of the repository's top-level folders (`course_lib/...`,
`tests/...`, `docs/...`) and is checked relative to the repository's root; a Markdown link
is checked relative to the file it is in, with its `#anchor` against the target's headings.
Placeholders (`NN_topic`, `<chapter>`, `test_checks_*.py`, `{name}`) are not paths and are
skipped. A citation of a section of docs/design.md (the file, a comma, the section's name in
double quotes) must name a heading there.
"""
from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TOP_FOLDERS = ("course_lib", "tests", "docs", "benchmarks", "solutions", "notebooks", "checkpoints", ".ci")
# a token that starts with a top-level folder, not in the middle of a longer path or a URL
PATH = re.compile(r"(?<![\w./<>{}*-])(?:" + "|".join(re.escape(f) for f in TOP_FOLDERS) + r")/[\w./<>{}*-]*")
PLACEHOLDER = re.compile(r"[<>{}*]|NN")
# written only when something runs (a benchmark's report), never committed
GENERATED = ("benchmarks/results",)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
DESIGN = ROOT / "docs" / "design.md"
CITATION = re.compile(r'docs/design\.md, "([^"]+)"|docs/design\.md: ([A-Za-z][\w\' -]*)\)')
OUTSIDE_PLAN = "DESIGN" + ".md"  # the plan the project started from, which is not in the repository


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "checkpoints" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "benchmarks").glob("*.md"))
    return [f for f in files if f.is_file()]


def python_files() -> list[Path]:
    files = [ROOT / "conftest.py", ROOT / "nbgrader_config.py"]
    files += sorted((ROOT / "course_lib").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    # tests/answers and tests/honest hold answer cells, which are notebook code, not documentation
    files += [f for f in sorted((ROOT / "tests").rglob("*.py"))
              if not {"answers", "honest", "__pycache__"} & set(f.relative_to(ROOT / "tests").parts)]
    return [f for f in files if f.is_file()]


def prose_of_python(path: Path) -> list[tuple[int, str]]:
    """The comments and docstrings of a Python file, as (first line, text)."""
    source = path.read_text()
    found = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.append((first.lineno, first.value.value))
    return found


def named_paths(text: str) -> list[str]:
    """The repository paths a piece of prose names (placeholders left out)."""
    paths = []
    for match in PATH.finditer(text):
        token = match.group(0).rstrip(".,:;")
        if not PLACEHOLDER.search(token) and not token.startswith(GENERATED):
            paths.append(token)
    return paths


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(path: Path) -> list[str]:
    in_code = False
    found = []
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            found.append(line.lstrip("#").strip())
    return found


def _lines(path: Path) -> list[tuple[int, str]]:
    if path.suffix == ".py":
        return prose_of_python(path)
    return list(enumerate(path.read_text().splitlines(), start=1))


def test_every_path_named_in_the_docs_and_comments_exists():
    missing = []
    for path in markdown_files() + python_files():
        for number, text in _lines(path):
            for named in named_paths(text):
                if not (ROOT / named).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {named}")
    assert not missing, "files named but not in the repository:\n" + "\n".join(missing)


def test_every_relative_markdown_link_resolves():
    broken = []
    for path in markdown_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target):  # https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                linked = (path.parent / file_part).resolve() if file_part else path
                where = f"{path.relative_to(ROOT)}:{number}: {target}"
                if not linked.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in {slug(h) for h in headings(linked)}:
                    broken.append(f"{where} (no heading with that anchor in {linked.name})")
    assert not broken, "links that lead nowhere:\n" + "\n".join(broken)


def test_citations_of_the_design_name_its_sections():
    sections = {h.lower() for h in headings(DESIGN)}
    wrong = []
    for path in markdown_files() + python_files():
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            for quoted, after_colon in CITATION.findall(text):
                if (quoted or after_colon).strip().lower() not in sections:
                    wrong.append(f"{path.relative_to(ROOT)}:{number}: {quoted or after_colon!r}")
    assert not wrong, "docs/design.md has no such section:\n" + "\n".join(wrong)


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move detail into docs/ or benchmarks/RESULTS.md"


def _repository_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.splitlines()
        files = [ROOT / name for name in listed]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file but the environment's
        files = [p for p in ROOT.rglob("*") if not {".git", ".venv"} & set(p.relative_to(ROOT).parts)]
    return [f for f in files if f.is_file() and f.resolve() != Path(__file__).resolve()]


def test_the_design_is_cited_as_the_file_in_the_repository():
    citing = []
    for path in _repository_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if OUTSIDE_PLAN in text:
            citing.append(str(path.relative_to(ROOT)))
    assert not citing, f"these files cite {OUTSIDE_PLAN}, which is not in the repository (cite docs/design.md):\n" \
        + "\n".join(citing)


def test_the_checks_see_what_they_are_meant_to_see():
    text = ("see tests/test_gone.py, `course_lib/grading.py`; tests/answers/<chapter>/; "
            "solutions/NN_topic/NN_topic.ipynb, tests/test_checks_*.py, https://x.readthedocs.io/docs/a.md, "
            "<clone>/course_lib, benchmarks/results/gpt.md and docs/design.md.")
    assert named_paths(text) == ["tests/test_gone.py", "course_lib/grading.py", "docs/design.md"]
    assert slug("What the grader guarantees, and what it cannot") == "what-the-grader-guarantees-and-what-it-cannot"
    assert slug("With `course grade`") == "with-course-grade"
    assert CITATION.findall('(docs/design.md, "Layout") and (docs/design.md: the trust model).') == \
        [("Layout", ""), ("", "the trust model")]
