"""Starting JupyterLab for the course: the command line `course lab` (and `make lab`) runs, and the Lab's
settings this environment gives every user as defaults."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path


def jupyter_lab_command(root: Path, port: int | None = None, open_browser: bool = True) -> list[str]:
    """The JupyterLab command line `make lab` runs (tests start the same one)."""
    command = [
        sys.executable, "-m", "jupyter", "lab",
        f"--ServerApp.root_dir={root}",
        "--LabApp.default_url=/lab/tree/notebooks",
        # The formgrader's Preview links to /tree/...: JupyterLab's file browser
        # serves them (course_lib/labserver.py), not Notebook 7, whose router
        # mistakes our notebooks/ folder for a document to open.
        "--ServerApp.jpserver_extensions=course_lib.labserver=True",
        "--ServerApp.jpserver_extensions=notebook=False",
        # Opening a notebook must not mark it modified (see course_lib/labserver.py).
        "--ServerApp.contents_manager_class=course_lib.labserver.CourseContentsManager",
        # Nothing downloads: no news feed, no update check from the internet.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if port is not None:
        command += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    shell = os.environ.get("SHELL") or shutil.which("sh")
    if os.name != "nt" and shell:
        # Name the terminals' shell: left to itself, the terminal extension starts a
        # *login* shell whenever the server's output is not a terminal, and a login
        # shell re-reads /etc/profile, which resets PATH and loses this
        # environment's `course` (nbgrader's `alembic` too).
        command.append(f"--ServerApp.terminado_settings=shell_command={shlex.quote(shell)}")
    if not open_browser:
        command.append("--no-browser")
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        command.append("--allow-root")
    return command


# JupyterLab settings every user of this environment gets as defaults (each
# can still change them): no prompt to fetch news from the internet, no update check.
LAB_SETTING_DEFAULTS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def install_lab_setting_defaults() -> Path | None:
    """Write LAB_SETTING_DEFAULTS where JupyterLab reads default overrides for this environment."""
    folder = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d"
    path = folder / "sequence-models-course.json"
    text = json.dumps(LAB_SETTING_DEFAULTS, indent=2) + "\n"
    try:
        if not path.is_file() or path.read_text() != text:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError:  # a read-only environment: the Lab works, it just asks about news once
        return None
    return path
