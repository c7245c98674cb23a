"""What `course lab` (and `make lab`) adds to the Jupyter server.

nbgrader's formgrader links each assignment's Preview to `/tree/<release>`,
the classic Notebook's URL. Served by Notebook 7, that URL breaks for this
course: its router takes any path containing `notebooks/` for a document to
open, so `/tree/notebooks/01_rnn` tries to open a file called `01_rnn`
("File Load Error ... 404"). The course is used in JupyterLab, so `course lab`
switches Notebook 7's server extension off and this one sends `/tree/<path>`
to JupyterLab's file browser at the same path.

Notebooks are stored with machine-independent metadata (grading.normalize_notebook):
no Python patch version, a fixed kernel name. When the Lab opens one, the
kernel then reports its own language_info and display name, and the Lab
marks the notebook modified, so merely opening a chapter would autosave a
change into the learner's (or the instructor's) git checkout.
`CourseContentsManager` hands the Lab a notebook's metadata as this
environment's python3 kernel will report it; the file on disk is untouched
until the user saves an edit of their own.
"""
from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.utils import url_path_join
from tornado import web


class TreeToLab(JupyterHandler):
    """/tree/<path> -> /lab/tree/<path>, keeping the query string (a token, say)."""

    @web.authenticated
    def get(self, path: str = ""):
        target = url_path_join(self.base_url, "lab", "tree", path.strip("/"))
        query = self.request.query
        self.redirect(target + (f"?{query}" if query else ""))


@functools.lru_cache(maxsize=1)
def python3_kernel_metadata() -> tuple[dict, dict] | None:
    """(kernelspec, language_info) as the python3 kernel reports them, if it runs this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return None
    program = spec.argv[0] if spec.argv else ""
    found = shutil.which(program) if program in ("python", "python3") else program
    if not found or Path(found).resolve() != Path(sys.executable).resolve():
        return None  # another interpreter: we cannot know what it reports
    from ipykernel.ipkernel import IPythonKernel

    kernelspec = {"display_name": spec.display_name, "language": spec.language, "name": "python3"}
    return kernelspec, dict(IPythonKernel.language_info)


class CourseContentsManager(AsyncLargeFileManager):
    """Serves notebooks with the metadata the running kernel will report (see the module's docstring)."""

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model.get("type") == "notebook" and model.get("content") is not None:
            metadata = model["content"].get("metadata", {})
            reported = python3_kernel_metadata()
            if reported and metadata.get("kernelspec", {}).get("name") == "python3" \
                    and metadata.get("language_info", {}).get("name", "python") == "python":
                metadata["kernelspec"], metadata["language_info"] = reported
        return model


def _jupyter_server_extension_points():
    return [{"module": "course_lib.labserver"}]


def _load_jupyter_server_extension(serverapp):
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base_url, r"/tree/?(.*)"), TreeToLab)])
