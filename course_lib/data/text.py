"""Load a text file a learner brings (their own book, code, lyrics...) for the LMs."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_text"]


def load_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Read a whole text file; Windows (\\r\\n) and old Mac (\\r) newlines become \\n.

    Raises FileNotFoundError for a missing path and ValueError for a directory,
    an empty file, or bytes that are not valid in `encoding` (the message gives
    the byte offset and line, so the culprit can be found in an editor).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"no such file: {str(path)!r} (looked in {str(path.resolve())!r}; "
            f"the notebook's working directory is {os.getcwd()!r})"
        )
    if path.is_dir():
        listing = sorted(p.name for p in path.iterdir() if p.is_file())[:5]
        hint = f"; files inside include {listing}" if listing else ""
        raise ValueError(f"{str(path)!r} is a directory, not a text file{hint}")
    data = path.read_bytes()
    if encoding.lower().replace("-", "").replace("_", "") == "utf8" and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte-order mark some Windows editors add; not part of the text
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        bad = data[err.start:err.end].hex(" ")
        raise ValueError(
            f"{str(path)!r} is not valid {encoding}: byte(s) {bad} at byte offset {err.start} "
            f"(line {line}) cannot be decoded ({err.reason}). If the file was saved by an "
            "older Windows program, try encoding='cp1252' or encoding='latin-1'."
        ) from None
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(f"{str(path)!r} is empty" + (" (only whitespace)" if text else ""))
    return text
