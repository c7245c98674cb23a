"""`make lab` serves the course: JupyterLab and nbgrader's formgrader answer, the log is clean."""
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course_lib.cli import jupyter_lab_command

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


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


def test_jupyterlab_serves_notebooks_and_formgrader(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    command = jupyter_lab_command(ROOT, port=port, open_browser=False) + [f"--IdentityProvider.token={token}"]
    log_path = tmp_path / "lab.log"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
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
