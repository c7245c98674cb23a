"""The Lab as a learner and an instructor meet it, in a real browser.

The server is started the way `make lab` starts it: the environment's
`course lab` script, from a shell whose PATH does not have the environment on
it (nobody activates .venv before `make lab`). It serves a copy of the course,
so what the browser types and saves never touches the repository.

A learner opens chapter 01, runs the cells down to the first check and sees
"not answered yet" (no traceback), types a correct answer and sees the check
pass; the notebook is not marked modified just by being opened; the Lab's
terminal has `course` on its PATH. An instructor opens the formgrader and sees
every chapter listed, with no warning banner, and Preview opens the release
in the Lab. The browser console and the server log have no errors.

Needs Playwright for Python (a dev dependency) and a Chromium: Playwright's
own browser download does not work offline, so this uses the system's
(Debian: `apt-get install chromium`; or set COURSE_CHROMIUM to a Chromium or
Chrome binary). Without one the test is skipped with a one-line reason;
CI sets COURSE_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# A correct answer to chapter 01's first exercise, written as a learner might.
PERPLEXITY_ANSWER = '''def perplexity(logits, targets):
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return math.exp(nll.item())
'''


def find_chromium() -> str | None:
    explicit = os.environ.get("COURSE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


def browser_or_skip() -> str:
    """The Chromium binary to drive, or a skip (a failure when CI requires the browser test)."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright for Python is not installed (pip install -e '.[dev]')"
    chromium = find_chromium()
    if reason is None and chromium is None:
        reason = "no Chromium found (apt-get install chromium, or set COURSE_CHROMIUM)"
    if reason is not None:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but {reason}")
        pytest.skip(f"browser test: {reason}")
    return chromium


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def path_without_this_environment() -> str:
    """The user's PATH as `make lab` sees it: the environment is not activated."""
    ours = {os.path.realpath(sysconfig.get_path("scripts"))}
    kept = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.realpath(p) not in ours]
    return os.pathsep.join(kept or ["/usr/bin", "/bin"])


class LabServer:
    def __init__(self, course: Path, home: Path):
        self.course, self.port, self.token = course, _free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "lab.log"
        script = Path(sysconfig.get_path("scripts")) / "course"
        assert script.is_file(), f"the environment has no `course` script at {script}"
        env = dict(os.environ, PATH=path_without_this_environment(), JUPYTER_TOKEN=self.token,
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"),
                   # the browser's workspace and settings stay in this test's folder, not the user's home
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"))
        env.pop("VIRTUAL_ENV", None)
        self.log = open(self.log_path, "w")
        # its own session, so stop() can end the server and its kernels together
        self.process = subprocess.Popen([str(script), "lab", "--no-browser", "--port", str(self.port)],
                                        cwd=course, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            assert self.process.poll() is None, f"the server exited: {self.log_path.read_text()[-2000:]}"
            try:
                if self.get("/api/status") == 200:
                    return
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            time.sleep(0.5)
        raise AssertionError(f"the server did not come up: {self.log_path.read_text()[-2000:]}")

    def get(self, path: str) -> int:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def url(self, path: str) -> str:
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"

    def stop(self) -> str:
        self.process.terminate()  # `course lab` has become the server (exec): JupyterLab shuts its kernels down
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        try:  # anything of the server's session still running (a kernel that did not stop)
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()
        return self.log_path.read_text()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    chromium = browser_or_skip()
    course = tmp_path_factory.mktemp("course")
    for name in ("solutions", "notebooks", "checkpoints"):
        shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.backup-*"))
    shutil.copy(ROOT / "nbgrader_config.py", course)
    server = LabServer(course, tmp_path_factory.mktemp("lab-home"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield server, browser
        finally:
            browser.close()
            log = server.stop()
            server.final_log = log
    # The server log of the whole session: no tracebacks, no error lines.
    assert "Traceback" not in log, log[-3000:]
    errors = [line for line in log.splitlines() if (line.startswith("[E ") or line.startswith("[C "))
              and "received signal 15, stopping" not in line]  # that one is our own stop()
    assert not errors, "\n".join(errors)


class Console:
    """Collects what a page reports as broken: console errors, failed requests, uncaught exceptions."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status} {r.request.method} {r.url}")
                if r.status >= 400 else None)

    def assert_clean(self):
        assert not self.problems, "\n".join(self.problems)


def _cell(page, index: int):
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _output_text(page, index: int) -> str:
    return _cell(page, index).locator(".jp-OutputArea").inner_text()


def _wait_for_output(page, index: int, pattern: str, timeout: float = 90) -> str:
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = _output_text(page, index)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(250)
    shot = Path(os.environ.get("COURSE_BROWSER_SHOTS", "/tmp")) / "course-browser-failure.png"
    page.screenshot(path=str(shot))
    raise AssertionError(f"cell {index} never showed {pattern!r}; its output: {text!r} (screenshot: {shot})")


def _run_cell(page, index: int, timeout_ms: int = 90_000) -> None:
    """Select a cell, run it with Shift+Enter, and wait until it has finished."""
    prompt = _cell(page, index).locator(".jp-InputPrompt")
    before = prompt.inner_text()
    prompt.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "([i, before]) => { const p = document.querySelectorAll('.jp-Notebook .jp-Cell')[i]"
        ".querySelector('.jp-InputPrompt').innerText; return /\\[\\d+\\]/.test(p) && p !== before; }",
        arg=[index, before], timeout=timeout_ms)


def _wait_for_idle_kernel(page, timeout_ms: int = 90_000) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-Widget, .jp-StatusBar-TextItem')]"
        ".some(e => /\\|\\s*Idle/.test(e.textContent))", timeout=timeout_ms)


def _cell_index(page, pattern: str) -> int:
    sources = page.locator(".jp-Notebook .jp-Cell").evaluate_all(
        "cells => cells.map(c => (c.querySelector('.cm-content') || c).innerText)")
    return next(i for i, source in enumerate(sources) if re.search(pattern, source))


def test_learner_runs_a_check_before_and_after_answering(lab):
    server, browser = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console = Console(page)
    page.goto(server.url("/lab/tree/notebooks/01_rnn/01_rnn.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    _wait_for_idle_kernel(page)
    page.wait_for_timeout(1000)
    tab = page.locator(".lm-TabBar-tab.jp-mod-current")
    assert "jp-mod-dirty" not in (tab.get_attribute("class") or ""), "opening the notebook marked it modified"

    answer = _cell_index(page, r"def perplexity\(")
    check = _cell_index(page, r"checks\.check_perplexity\(perplexity\)")
    assert check == answer + 1
    # Run everything from the top down to the first check, as a learner does with Shift+Enter.
    _cell(page, 0).click()
    page.keyboard.press("Escape")
    for _ in range(check + 1):
        page.keyboard.press("Shift+Enter")
    shown = _wait_for_output(page, check, "not answered yet")
    _cell(page, check).scroll_into_view_if_needed()
    page.screenshot(path=str(server.course / "learner-unanswered.png"))
    assert "`perplexity`" in shown, shown
    assert not any(word in shown for word in ("Traceback", "_common.py", "course_lib", "File ")), \
        f"the unanswered check shows a traceback: {shown}"

    # Type a correct answer in place of the stub, run it, then the check.
    _cell(page, answer).locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(PERPLEXITY_ANSWER)
    page.wait_for_function("([i, text]) => document.querySelectorAll('.jp-Notebook .jp-Cell')[i]"
                           ".querySelector('.cm-content').innerText.includes(text)", arg=[answer, "math.exp"])
    _run_cell(page, answer)
    _run_cell(page, check)
    shown = _output_text(page, check)
    assert "not answered" not in shown and "Error" not in shown, shown
    assert shown.count("✓") >= 2, shown
    _cell(page, check).scroll_into_view_if_needed()
    page.screenshot(path=str(server.course / "learner-answered.png"))
    console.assert_clean()
    page.close()


def test_the_terminal_has_the_course_command(lab):
    server, browser = lab
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    console = Console(page)
    page.goto(server.url("/lab"))
    page.wait_for_selector(".lm-MenuBar-itemLabel:text-is('File')", timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel:text-is('File')").click()
    page.locator(".lm-Menu-itemLabel:text-is('New')").hover()
    page.locator(".lm-Menu-itemLabel:text-is('Terminal')").click()
    page.wait_for_selector(".jp-Terminal .xterm", timeout=30_000)
    page.locator(".jp-Terminal .xterm").click()
    page.wait_for_timeout(1000)
    page.keyboard.type("command -v course > terminal_path.txt; course list > terminal_list.txt 2>&1; "
                       "echo $? > terminal_done.txt")
    page.keyboard.press("Enter")
    done = server.course / "terminal_done.txt"
    deadline = time.time() + 60
    while time.time() < deadline and not (done.is_file() and done.read_text().strip()):
        time.sleep(0.25)
    assert done.is_file(), "the terminal did not run the command"
    where = (server.course / "terminal_path.txt").read_text().strip()
    listing = (server.course / "terminal_list.txt").read_text()
    assert where and Path(where).parent.resolve() == Path(sysconfig.get_path("scripts")).resolve(), \
        f"`course` in the Lab's terminal is {where!r}, not this environment's"
    assert done.read_text().strip() == "0", listing
    assert "01_rnn" in listing and "08_finetuning" in listing, listing
    console.assert_clean()
    page.close()


def test_instructor_sees_every_chapter_in_the_formgrader(lab):
    from course_lib import grader

    server, browser = lab
    chapters = [c.name for c in grader.chapters(ROOT)]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    console = Console(page)
    api = []
    page.on("response", lambda r: api.append((r.status, r.url)) if "/formgrader/api/" in r.url else None)
    page.goto(server.url("/formgrader"))
    page.wait_for_selector("#main-table tr td a", timeout=60_000)
    page.wait_for_function(f"() => document.querySelectorAll('#main-table tr').length >= {len(chapters)}",
                           timeout=60_000)
    listed = page.locator("#main-table tr td:first-child").all_inner_texts()
    assert [name.strip() for name in listed] == chapters
    assert api and all(status == 200 for status, _ in api), api
    assert page.locator(".alert-warning:visible").count() == 0, page.locator(".alert-warning").all_inner_texts()
    page.screenshot(path=str(server.course / "formgrader.png"))

    # Preview opens the released chapter in the Lab's file browser.
    href = page.locator("#main-table tr").first.locator("td.preview a").get_attribute("href")
    page.goto(server.url(href))
    page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
    assert page.url.split("?")[0].endswith(f"/lab/tree/notebooks/{chapters[0]}"), page.url
    page.wait_for_selector(f".jp-DirListing-item[title*='{chapters[0]}.ipynb']", timeout=30_000)
    assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
    console.assert_clean()
    page.close()
