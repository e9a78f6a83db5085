"""The book built once for every test that reads the rendered site (``tests/conftest.py``'s
``site`` fixture), and the Chromium that reads it."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from page_layout import BROWSER_FLAGS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MATHJAX = ROOT / "book" / "_static_mathjax" / "mathjax" / "tex-chtml.js"
CHROMIUM_FLAGS = [*BROWSER_FLAGS, "--virtual-time-budget=5000"]  # page_layout's, shorter
BUILD_LOG: list[str] = []  # the build's output, for the checks on what it prints


def build_book(shared: Path) -> Path:
    """The book built in book mode with -W into ``shared/book`` (a fresh folder), once for the
    whole test session: under pytest-xdist every worker shares ``shared`` and the first one to
    take the lock builds; the others wait for it and read its result. Returns the html folder;
    the build's output is appended to ``BUILD_LOG``."""
    if not MATHJAX.exists():
        pytest.fail(f"{MATHJAX} is missing: run `make setup` (it copies MathJax 3 from npm)")
    out, done = shared / "book", shared / "book.json"
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            jupyter_book = Path(sys.executable).parent / "jupyter-book"
            env = dict(os.environ, DCGAN_MODE="book")
            # a fresh output folder and --all: no cache or earlier build can hide a failing page
            cmd = [str(jupyter_book), "build", str(ROOT), "-W", "--all", "--path-output", str(out)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
            result = {"cmd": cmd, "returncode": proc.returncode, "log": proc.stdout + proc.stderr}
            done.write_text(json.dumps(result))
    result = json.loads(done.read_text())
    BUILD_LOG.append(result["log"])
    assert result["returncode"] == 0, (
        f"book build failed ({' '.join(result['cmd'])}):\n{result['log'][-6000:]}"
    )
    html = out / "_build" / "html"
    assert (html / "index.html").exists(), result["log"][-3000:]
    return html
