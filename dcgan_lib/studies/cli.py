"""What the §6 study commands share on the command line: the one size flag and the metrics output.

``add_size_flag`` adds ``--size`` (``"smoke" | "book" | "full"``, the keys of a study's
``SIZES``) with ``--mode`` kept as its old spelling; ``add_output_flags`` adds ``--out`` and
``--export``; ``emit_json`` prints a command's metrics or writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_size_flag(p: argparse.ArgumentParser, sizes: dict, default: str = "book") -> None:
    """``--size`` among ``sizes``' keys; ``--mode`` is its old spelling."""
    p.add_argument("--size", "--mode", dest="size", default=default, choices=sorted(sizes))


def add_output_flags(p: argparse.ArgumentParser, export_help: str) -> None:
    """``--out`` (the metrics as JSON) and ``--export`` (store the book's study in artifacts/)."""
    p.add_argument("--out", default=None, help="write the metrics here as JSON")
    p.add_argument("--export", action="store_true", help=export_help)


def emit_json(obj: dict, out: str | None) -> None:
    """Write ``obj`` as JSON to ``out`` (and say so), or print it without one."""
    text = json.dumps(obj, indent=1)
    if out:
        Path(out).write_text(text + "\n")
        print("wrote", out)
    else:
        print(text)
