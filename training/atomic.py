"""Atomic writes: every file caught writes goes to a temp file in the same directory, then is renamed into place.

A reader (a resumed sweep, `caught report`, a second process) never sees half a file, and a crash or Ctrl-C
mid-write leaves the previous version (or nothing) behind, plus no stray temp file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_with(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` to fill a temp file next to `path` (keeping `path`'s suffix, which pandas and
    matplotlib read), then rename it to `path`. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")
