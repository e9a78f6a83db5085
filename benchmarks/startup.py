"""How fast the project starts: the command line, the plan, the book, the tests, the CPU check.

Each measurement runs its command as a user would, in a fresh process, and records the wall
time, the CPU time of every process it started (``getrusage`` of the reaped children: kernels,
Chromium and workers included) and its target (issue 23, for the 2-core machine):

- ``help``: ``python -m dcgan_lib --help`` and every command's ``--help`` (target: each < 1.5 s);
- ``plan``: ``python -m dcgan_lib reproduce --plan`` (< 5 s);
- ``book``: ``make book`` with the set-up done (< 2 min), with each page's execution time;
- ``test``: ``make test`` in a fresh clone, set-up included (< 10 min);
- ``smoke``: ``make reproduce ARGS=--smoke`` on the real data with an empty cache (< 3 min).

The machine (cores, CPU, load average before and after each measurement) is recorded too: a
machine shared with other jobs makes every wall time longer; the CPU times say how much work
each one is. Prints one JSON object; ``--only`` runs some of them; ``--store`` merges the result
into ``artifacts/benchmarks/startup.json`` (registered in the manifest) and rewrites the README's
block of these numbers.

    python benchmarks/startup.py [--only help plan] [--store]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dcgan_lib import startup  # noqa: E402
from dcgan_lib.datasets import default_data_root  # noqa: E402

PY = sys.executable
MEASUREMENTS = ("help", "plan", "book", "test", "smoke")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], cwd: Path = ROOT, env: dict | None = None, timeout: float = 3600) -> dict:
    """Run ``cmd``; its wall and CPU seconds, exit status, the load before and after, and the
    tail of its output."""
    load0, cpu0, t0 = os.getloadavg()[0], _children_cpu(), time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    return {
        "command": shlex.join(cmd),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "returncode": proc.returncode,
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "output": proc.stdout + proc.stderr,
    }


def _result(runs: list[dict], target_s: float, what: str, worst: bool = False) -> dict:
    """The measurement: its headline (the slowest run, or the only one) against its target."""
    head = max(runs, key=lambda r: r["wall_s"]) if worst else runs[0]
    return {
        "what": what,
        "target_s": target_s,
        "wall_s": head["wall_s"],
        "cpu_s": head["cpu_s"],
        "meets_target": head["wall_s"] < target_s and all(r["returncode"] == 0 for r in runs),
        "command": head["command"],
        "load_before": head["load_before"],
        "load_after": head["load_after"],
        "returncode": max(r["returncode"] for r in runs),
    }


def measure_help() -> dict:
    """``--help`` of the command and of every subcommand, each a fresh process."""
    from dcgan_lib.studies.cli import COMMANDS

    argvs = [["--help"]] + [[c.name, "--help"] for c in COMMANDS]
    runs = [timed([PY, "-m", "dcgan_lib", *argv]) for argv in argvs]
    out = _result(runs, 1.5, "python -m dcgan_lib --help and every command's --help", worst=True)
    out["each"] = {
        " ".join(a): {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"]}
        for a, r in zip(argvs, runs, strict=True)
    }
    return out


def measure_plan() -> dict:
    root = default_data_root()
    r = timed([PY, "-m", "dcgan_lib", "reproduce", "--plan"])
    out = _result([r], 5.0, "python -m dcgan_lib reproduce --plan")
    out["data_root"] = str(root) if root else None
    out["plan_head"] = r["output"].splitlines()[0] if r["output"] else ""
    return out


def measure_book() -> dict:
    """``make book`` (the set-up done first, untimed), with each page's execution seconds."""
    setup = timed(["make", "setup-python", "setup-mathjax"])
    if setup["returncode"]:
        raise SystemExit(f"make setup failed:\n{setup['output'][-3000:]}")
    r = timed(["make", "book"], env={"DCGAN_MODE": "book"})
    out = _result([r], 120.0, "make book (set-up done)")
    out["pages_s"] = page_seconds(r["output"])
    if r["returncode"]:
        out["error"] = r["output"][-3000:]
    return out


def page_seconds(log: str) -> dict[str, float]:
    """Each executed page's seconds, as myst-nb reports them ("Executed notebook in 12.3
    seconds"), by page path; slowest first."""
    pages = {}
    for line in log.splitlines():
        found = re.search(r"([\w/.-]+\.(?:ipynb|md)): Executed notebook in ([\d.]+) seconds", line)
        if found:
            path = Path(found.group(1))
            try:
                path = path.resolve().relative_to(ROOT)
            except ValueError:
                pass
            pages[str(path)] = float(found.group(2))
    return dict(sorted(pages.items(), key=lambda kv: -kv[1]))


def measure_test() -> dict:
    """``make test`` in a fresh clone of this checkout (its committed state), set-up included,
    as CI runs it: in a temporary folder, without ``../shared`` beside it."""
    with tempfile.TemporaryDirectory(prefix="dcgan-startup-clone-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        shared = (clone.parent / "shared" / "data").exists()
        r = timed(["make", "test"], cwd=clone, timeout=5400)
    out = _result([r], 600.0, "make test in a fresh clone, set-up included")
    out["shared_data_beside_the_clone"] = shared
    lines = r["output"].splitlines()
    summary = [ln for ln in lines if re.search(r"\d+ (passed|failed)", ln)]
    out["pytest_summary"] = summary[-1].strip("= ") if summary else ""
    slow = re.compile(r"\s*[\d.]+s (call|setup|teardown) ")
    out["slowest"] = [ln.strip() for ln in lines if slow.match(ln)][:15]
    if r["returncode"]:
        out["error"] = r["output"][-3000:]
    return out


def measure_smoke() -> dict:
    """``make reproduce ARGS=--smoke`` on the data root (the real data where present), with an
    empty packed-image cache and its outputs in a temporary folder."""
    root = default_data_root()
    with tempfile.TemporaryDirectory(prefix="dcgan-startup-smoke-") as tmp:
        args = f"--smoke --no-progress --artifacts {tmp}/artifacts --runs-dir {tmp}/runs"
        env = {"DCGAN_CACHE": f"{tmp}/cache"} | ({"DCGAN_DATA": str(root)} if root else {})
        r = timed(["make", "reproduce", f"ARGS={args}"], env=env)
    out = _result([r], 180.0, "make reproduce ARGS=--smoke on the real data, empty cache")
    out["data_root"] = str(root) if root else None
    out["last_line"] = r["output"].strip().splitlines()[-1] if r["output"].strip() else ""
    return out


def machine() -> dict:
    """Where it ran: cores, CPU, Python; the load average when the run started."""
    from dcgan_lib.device import cpu_name

    return {
        "cores": os.cpu_count(),
        "cpu": cpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=MEASUREMENTS, default=list(MEASUREMENTS))
    p.add_argument("--store", action="store_true", help=f"merge into artifacts/{startup.ARTIFACT}")
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args(argv)
    measure = {"help": measure_help, "plan": measure_plan, "book": measure_book,
               "test": measure_test, "smoke": measure_smoke}  # fmt: skip
    result = {
        "benchmark": "startup",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "benchmarks/startup.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "measurements": {},
    }
    for name in a.only:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        result["measurements"][name] = measure[name]() | {
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "benchmark_command": result["command"],
            "cores": os.cpu_count(),
        }
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    if a.store:
        for path in startup.store(result):
            print("wrote", path, file=sys.stderr)
    failed = [n for n, m in result["measurements"].items() if m["returncode"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
