"""`make lab` serves the course: JupyterLab and nbgrader's formgrader answer, the log is clean.

Without a browser (tests/e2e/test_browser.py drives one): the pages and the APIs
they call answer, with the server started from a PATH that lacks this
environment, as `make lab` starts it.
"""
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from test_browser import path_without_this_environment

from course_lib.grader import environment_with_commands
from course_lib.lab import jupyter_lab_command

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _redirect(url: str, token: str) -> str:
    """Where `url` redirects to ("" if it does not)."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        urllib.request.build_opener(_NoRedirect).open(request, timeout=10)
    except urllib.error.HTTPError as error:
        if error.code in (301, 302, 303, 307, 308):
            return error.headers.get("Location", "")
    return ""


def test_jupyterlab_serves_notebooks_and_formgrader(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    command = jupyter_lab_command(ROOT, port=port, open_browser=False) + [f"--IdentityProvider.token={token}"]
    log_path = tmp_path / "lab.log"
    env = environment_with_commands(dict(os.environ, PATH=path_without_this_environment(),
                                         JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime")))
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 90
            status = None
            while time.time() < deadline:
                try:
                    status = _get(f"{base}/api/status", token)
                    break
                except (urllib.error.URLError, ConnectionError, socket.timeout):
                    assert server.poll() is None, log_path.read_text()
                    time.sleep(0.5)
            assert status == 200, f"server did not come up: {log_path.read_text()[-2000:]}"
            assert _get(f"{base}/lab", token) == 200
            assert _get(f"{base}/lab/tree/notebooks", token) == 200
            assert _get(f"{base}/formgrader", token) == 200
            # what the formgrader page calls to list the assignments (needs `alembic` on the server's PATH)
            assert _get(f"{base}/formgrader/api/assignments", token) == 200
            # its Preview links: /tree/<release> goes to the Lab, not to Notebook 7
            assert _redirect(f"{base}/tree/notebooks/01_rnn", token).endswith("/lab/tree/notebooks/01_rnn")
            assert _get(f"{base}/api/contents/notebooks", token) == 200
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log_path.read_text()
    assert "Traceback" not in text, text[-3000:]
    # Jupyter writes errors as "[E <time> ...]" lines; nbgrader's exchange
    # extensions would log some here if they were still enabled.
    errors = [line for line in text.splitlines() if line.startswith("[E ") or " ERROR " in line]
    assert not errors, "\n".join(errors)
