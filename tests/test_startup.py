"""benchmarks/startup.py's stored result (dcgan_lib.startup): read, shown on the how-to-run page
and in the README (whose copy is current), merged run by run; and how the benchmark reads a
book build's page times."""

import importlib.util
import json
from pathlib import Path

from dcgan_lib import startup
from dcgan_lib.artifacts import read_manifest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("startup_bench", ROOT / "benchmarks" / "startup.py")
BENCH = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BENCH)


def _measurement(what: str, wall: float, target: float) -> dict:
    return {
        "what": what, "target_s": target, "wall_s": wall, "cpu_s": wall / 2,
        "meets_target": wall < target, "command": what, "load_before": 3.0, "load_after": 2.5,
        "returncode": 0,
    }  # fmt: skip


def _result(**measurements: dict) -> dict:
    return {
        "benchmark": "startup",
        "created": "2026-12-07T10:00:00+00:00",
        "command": "python benchmarks/startup.py --only help",
        "machine": {"cores": 2, "cpu": "AMD EPYC", "python": "3.11.7", "load_average": [3, 2, 1]},
        "measurements": measurements,
    }


def test_the_readme_shows_the_stored_measurements():
    text = (ROOT / "README.md").read_text()
    assert startup.readme_block(startup.load()) in text, (
        "README.md's startup block is stale: run `python benchmarks/startup.py --store`"
    )


def test_rows_follow_the_order_and_say_whether_each_met_its_target():
    blob = _result(
        smoke=_measurement("the smoke plan", 200.0, 180.0),
        help=_measurement("--help", 0.4, 1.5),
    )
    rows = startup.rows(blob)
    assert [r["measurement"] for r in rows] == ["--help", "the smoke plan"]
    assert [r["met"] for r in rows] == ["yes", "**no**"]
    assert rows[1]["wall"] == "3.3 min" and rows[0]["wall"] == "0.4 s"
    text = startup.markdown(blob)
    assert "load average 3.0, 2.0, 1.0" in text and "| --help | 1.5 s |" in text


def test_store_merges_runs_registers_the_file_and_rewrites_the_readme(tmp_path):
    root, readme = tmp_path / "artifacts", tmp_path / "README.md"
    readme.write_text(f"# x\n\n{startup.readme_block(None)}\n\nafter\n")
    startup.store(_result(help=_measurement("--help", 0.4, 1.5)), root, readme)
    later = _result(plan=_measurement("the plan", 1.0, 5.0))
    later["created"] = "2026-12-08T10:00:00+00:00"
    written = startup.store(later, root, readme)
    blob = json.loads((root / startup.ARTIFACT).read_text())
    assert set(blob["measurements"]) == {"help", "plan"}  # the first run's entry is kept
    assert blob["measurements"]["help"]["created"].startswith("2026-12-07")
    assert blob["measurements"]["plan"]["created"].startswith("2026-12-08")
    entry = read_manifest(root)["files"][startup.ARTIFACT]
    assert entry["command"] == later["command"] and entry["machine"]
    assert readme in written and readme.read_text().endswith("after\n")
    assert "| the plan | 5.0 s | 1.0 s |" in readme.read_text()


def test_the_benchmark_reads_each_page_time_from_the_build_log():
    log = (
        f"{ROOT}/notebooks/03_dedup.ipynb: Executing notebook using local CWD [mystnb]\n"
        f"{ROOT}/notebooks/03_dedup.ipynb: Executed notebook in 12.50 seconds [mystnb]\n"
        f"{ROOT}/book/intro.md: Executed notebook in 3.25 seconds [mystnb]\n"
    )
    assert BENCH.page_seconds(log) == {"notebooks/03_dedup.ipynb": 12.5, "book/intro.md": 3.25}
    assert set(BENCH.MEASUREMENTS) == set(startup.ORDER)
