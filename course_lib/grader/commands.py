"""Running nbgrader and the Lab's server with this environment's commands on PATH."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def environment_bin_dirs() -> list[str]:
    """The folders holding this environment's commands (`course`, `alembic`, `jupyter`).

    `make lab` runs .venv/bin/course without activating the venv, so these
    folders are not on the user's PATH. The server needs them there: nbgrader's
    formgrader runs `alembic` by bare name to create its gradebook, and the
    Lab's terminals inherit the server's PATH, where a learner types `course check`.
    """
    folders = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    return list(dict.fromkeys(folders))  # once each, in order (they are the same folder in a venv)


def environment_with_commands(base: dict | None = None) -> dict:
    """The environment for nbgrader and the Lab's server: `base` (default os.environ) with this environment's commands first on PATH."""
    env = dict(os.environ if base is None else base)
    first = environment_bin_dirs()
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in first]
    env["PATH"] = os.pathsep.join(first + rest)
    return env


def run_nbgrader(args: list[str], cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = environment_with_commands()
    # The kernel must find this course_lib even from nbgrader's autograded/ folder.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    env.pop("COURSE_FAST", None)  # nbgrader sets NBGRADER_EXECUTION itself
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )
