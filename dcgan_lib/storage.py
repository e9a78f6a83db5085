"""Files that survive a kill: atomic writes, and JSON that any reader can parse.

Every result the library stores goes through here: ``atomic_write`` writes a temp file in the same
folder, fsyncs it and renames it over the target, so a reader (or a resumed run) never sees half a
file; ``write_json`` does the same for JSON made plain (numpy numbers -> Python numbers, NaN and
infinity -> null, as strict JSON has no such values). Logs that grow line by line (a run's
``metrics.jsonl``) are JSON lines: ``append_jsonl`` adds one, ``read_jsonl`` reads them back and
skips a last line that a kill cut short.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write via a temp file in the same folder, fsync, rename: never a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def plain(x: Any) -> Any:
    """``x`` with numpy scalars and arrays as Python numbers and lists, tuples as lists, and
    non-finite floats as None, recursively: what ``json.dumps`` writes as strict JSON."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, np.generic):
        return plain(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path: Path, obj: Any, indent: int | None = 1) -> None:
    """``obj`` made plain, as strict JSON, written atomically (with a final newline)."""
    text = json.dumps(plain(obj), indent=indent, allow_nan=False) + "\n"
    atomic_write(Path(path), lambda f: f.write(text.encode()))


def append_jsonl(path: Path, row: dict) -> None:
    """Add ``row`` as one JSON line at the end of ``path`` (created if missing)."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The rows of a JSON-lines file such as a run's ``metrics.jsonl`` (a line cut by a kill is
    ignored)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows
