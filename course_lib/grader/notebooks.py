"""Reading and writing notebooks: every way a file can be broken becomes one CourseError, and what is
stored is normalised so that regenerating a notebook gives the same bytes."""
from __future__ import annotations

from pathlib import Path

import nbformat

NB_VERSION = 4


class CourseError(Exception):
    """A problem the user can fix; the CLI prints its message on one line."""


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read and validate a notebook, turning every way it can be broken into a CourseError."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path} does not exist")
    try:
        nb = nbformat.read(path, as_version=NB_VERSION)
        nbformat.validate(nb)
        nb = nbformat.from_dict(nb)  # converted from an older version: the same node type as any other
    except Exception as error:  # JSON errors, schema errors, encoding errors
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CourseError(f"{path} is not a readable notebook ({first_line[:200]})") from None
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _progress_bar_text(model_id: str, widgets: dict) -> str | None:
    """The text of a finished tqdm bar, rebuilt from the stored widget state.

    tqdm draws a notebook bar as an HBox of (HTML left text, FloatProgress,
    HTML right text); the output itself only keeps the text of its first
    frame ("0/500"), which would show a stale bar under a finished run.
    """
    import html

    box = widgets.get(model_id, {})
    children = box.get("state", {}).get("children", [])
    if box.get("model_name") != "HBoxModel" or len(children) != 3:
        return None
    left, bar, right = (widgets.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in children)
    if bar.get("model_name") != "FloatProgressModel":
        return None
    value, top = bar["state"].get("value", 0), bar["state"].get("max", 0) or 1
    filled = max(0, min(10, int(10 * value / top)))
    text = (html.unescape(left.get("state", {}).get("value", "")) + "|" + "█" * filled + " " * (10 - filled) + "|"
            + html.unescape(right.get("state", {}).get("value", "")))
    return text.replace("\u2007", " ")  # tqdm pads its HTML with figure spaces


def _store_progress_bars(nb) -> None:
    """Replace progress-bar widgets by their final text (or drop them when the state is gone)."""
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                kept.append(output)
                continue
            text = _progress_bar_text(view.get("model_id", ""), widgets)
            if text is not None:
                kept.append(nbformat.v4.new_output("display_data", data={"text/plain": text}))
        cell.outputs = kept


def normalize_notebook(nb):
    """Drop what changes from run to run or machine to machine.

    Executed notebooks carry timestamps, the Python patch version and widget
    state; none of it is content, and all of it would make the committed files
    differ from a fresh regeneration. Progress bars are widgets: they are
    stored as the text of the finished bar (a reader of a stored notebook
    sees "100%| 500/500", not the first frame's "0/500").
    """
    _store_progress_bars(nb)
    nb.metadata.pop("widgets", None)
    language_info = nb.metadata.get("language_info")
    if language_info is not None:
        nb.metadata["language_info"] = {"name": language_info.get("name", "python")}
    # ipykernel's own name for its kernel, so a Lab outside `course lab` does not rename it on open
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
    return nb


def write_notebook(nb, path: str | Path) -> None:
    nbformat.write(normalize_notebook(nb), str(path))
