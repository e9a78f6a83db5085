"""What a reader runs themselves: the loop on the §4 page and the measured cost of each exercise.

``MINIMAL_LOOP`` (``examples/dcgan_minimal.py``) is the paper's training loop in about 40 lines on
the library's G, D and data, for a learner to copy; ``tests/test_minimal_loop.py`` checks that it
is ``dcgan_lib.step.train_step``'s algorithm bit for bit. A page shows it verbatim
(``show_minimal_loop``) and runs it in smoke mode (``run_minimal_loop``).

``COSTS`` (``artifacts/benchmarks/exercise_costs.json``, made by ``benchmarks/exercise_costs.py``)
holds what each command a page offers cost on a 2-core CPU: CPU seconds (the honest number on a
shared machine) and wall seconds. ``cost`` reads one entry and ``cost_text`` says it in words, or
"not measured". Paper: §4.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import tempfile
from pathlib import Path
from types import ModuleType

from dcgan_lib.artifacts import ArtifactMissing, artifacts_dir, require
from dcgan_lib.book import repo_root

MINIMAL_LOOP = repo_root() / "examples" / "dcgan_minimal.py"
COSTS = "benchmarks/exercise_costs.json"  # artifact name (folder/file)
NOT_MEASURED = "not measured"


def loop_source() -> str:
    """The text of ``examples/dcgan_minimal.py``, as a reader copies it."""
    return MINIMAL_LOOP.read_text()


def loop_code_lines() -> int:
    """Lines of code in the loop file: neither blank, nor comment-only, nor the module docstring."""
    text = loop_source()
    body = text.split('"""', 2)[2] if text.startswith('"""') else text
    return sum(1 for line in body.splitlines() if line.strip() and not line.strip().startswith("#"))


def show_minimal_loop() -> None:
    """Display the loop file verbatim, as a Python code block named by its path. Paper: §4."""
    from IPython.display import Markdown, display

    display(Markdown(f"`examples/{MINIMAL_LOOP.name}`\n\n```python\n{loop_source()}```"))


def load_minimal_loop() -> ModuleType:
    """The loop file as a module (its ``step`` and ``main``), without running it."""
    spec = importlib.util.spec_from_file_location("dcgan_minimal", MINIMAL_LOOP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_minimal_loop(*args: str, out: str | Path | None = None) -> tuple[Path, str]:
    """Run the loop file's ``main`` in this process with ``args`` (the page: ``"--smoke",
    "--epochs", "2"``), writing its sample grids into ``out`` (default: a new temporary folder).
    Returns (the folder, what it printed). Paper: §4."""
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="dcgan-minimal-"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        load_minimal_loop().main([*args, "--out", str(out)])
    return out, printed.getvalue()


# ---------------------------------------------------------------------------------------------
# Measured costs of the commands the pages offer


def costs(root: Path | None = None) -> dict:
    """The stored cost measurements (``COSTS``, sha256-checked), or ``{"commands": {}}`` when they
    are not stored."""
    try:
        return json.loads(require(*COSTS.split("/", 1), root or artifacts_dir()).read_text())
    except ArtifactMissing:
        return {"commands": {}}


def cost(key: str, root: Path | None = None) -> dict | None:
    """The measurement of command ``key`` (``"minimal_loop_smoke"``, ...): its ``command``,
    ``cpu_seconds``, ``wall_seconds``, ``machine``, ``note``; None when not measured."""
    return costs(root)["commands"].get(key)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cost_text(key: str, root: Path | None = None, machine: bool = True) -> str:
    """The cost of command ``key`` in words for a page ("41 s of CPU time (1.2 min wall) on a
    2-core x86_64 CPU (...), shared with other jobs"), or "not measured". ``machine=False``
    leaves the machine and the note out ("41 s of CPU time (1.2 min wall)"), for a page that
    lists several costs and names the machine once (``machine_text``)."""
    c = cost(key, root)
    if c is None:
        return NOT_MEASURED
    text = f"{_duration(c['cpu_seconds'])} of CPU time ({_duration(c['wall_seconds'])} wall)"
    if not machine:
        return text
    return f"{text} on {c['machine']}" + (f", {c['note']}" if c.get("note") else "")


def machine_text(keys: list[str] | tuple[str, ...], root: Path | None = None) -> str:
    """The machine(s) the commands ``keys`` were measured on, with the note, in words ("on 2-core
    CPU, shared with other jobs"); "" when none of them is measured."""
    found = [c for k in keys if (c := cost(k, root)) is not None]
    machines = list(dict.fromkeys(c["machine"] for c in found))
    notes = list(dict.fromkeys(c["note"] for c in found if c.get("note")))
    if not machines:
        return ""
    return "on " + " and ".join(machines) + (f", {'; '.join(notes)}" if notes else "")
