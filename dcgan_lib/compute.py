"""What the book's Compute page reads: throughput benchmarks, the engine numerics check, and the
wall time and speed of every exported training run.

- ``artifacts/benchmarks/throughput.json``: ``benchmarks/throughput.py`` (``step`` and ``e2e``);
- ``artifacts/numerics/engines.json``: ``benchmarks/numerics.py`` (eager fp32 vs the fast engine);
- ``artifacts/<run>/metrics.jsonl`` + ``run.json``: copied by ``python -m dcgan_lib export``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dcgan_lib.artifacts import (
    ArtifactMissing,
    artifacts_dir,
    producer,
    read_manifest,
    require_json,
)
from dcgan_lib.storage import read_jsonl


def load_result(name: str, root: Path | None = None, part: str | None = None) -> dict:
    """A benchmark's JSON (``artifacts.THROUGHPUT``, ``artifacts.NUMERICS``) from ``artifacts/``,
    checked against the manifest, or its ``part`` (a mode of the throughput benchmark: ``step``,
    ``e2e``, ...); else ArtifactMissing naming the command that makes it."""
    folder, filename = name.split("/", 1)
    result = require_json(folder, filename, root)
    if part is None:
        return result
    if part not in result:
        raise ArtifactMissing(f"{name} has no {part!r} result yet: run {producer(name)}")
    return result[part]


def wall_seconds(rows: list[dict]) -> float:
    """Training wall time from a run's metrics rows. ``time`` restarts at 0 in each process (a
    resumed run), so the total is the sum of each process's last ``time``; steps redone after a
    kill count twice, as they cost twice."""
    total, last = 0.0, 0.0
    for r in rows:
        if r["time"] < last:  # a new process: the previous one ended at `last`
            total += last
        last = r["time"]
    return total + last


def run_summary(folder: str | os.PathLike) -> dict:
    """Config, data, device, engine, steps, wall time and median img/s of a run (a run folder or
    an exported ``artifacts/<name>/``)."""
    folder = Path(folder)
    rows = read_jsonl(folder / "metrics.jsonl")
    info = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    cfg = info.get("config", {})
    speeds = sorted(r["img_per_s"] for r in rows[1:] or rows)  # the first window holds startup
    return {
        "name": folder.name,
        "config": cfg.get("model", {}).get("name"),
        "data": cfg.get("data"),
        "device": info.get("device"),
        "gpu": info.get("gpu"),
        "engine": info.get("engine", "eager"),  # runs from before the engines were eager
        "world_size": info.get("world_size", 1),
        "steps": rows[-1]["step"] if rows else 0,
        "wall_s": wall_seconds(rows) if rows else 0.0,
        "median_img_per_s": speeds[len(speeds) // 2] if speeds else None,
    }


def exported_runs(root: Path | None = None) -> list[dict]:
    """``run_summary`` of every exported training run under ``artifacts/``."""
    root = root or artifacts_dir()
    if not root.exists():
        return []
    return [
        run_summary(d)
        for d in sorted(root.iterdir())
        if (d / "metrics.jsonl").exists() and (d / "run.json").exists()
    ]


def throughput_rows(result: dict) -> list[dict]:
    """One row per (config, loop) of a ``--mode step`` result, for a table."""
    rows = []
    for name, cfg in result["configs"].items():
        for loop, r in cfg["engines"].items():
            rows.append(
                {
                    "config": name,
                    "loop": loop,
                    "img/s": round(r["img_per_s"]),
                    "ms/step": round(r["ms_per_step"], 2),
                    "TFLOP/s": float(f"{r['tflops']:.3g}"),
                    "speed-up": round(cfg["speedup"].get(loop, 1.0), 2),
                    "peak MiB": (
                        None
                        if r["peak_memory_bytes"] is None
                        else round(r["peak_memory_bytes"] / 2**20)
                    ),
                }
            )
    return rows


def machines(root: Path | None = None) -> dict[str, list[str]]:
    """Each machine named in the manifest (its ``machine`` field: GPU, driver, CUDA, torch,
    Python) -> the artifact files it produced, in name order."""
    out: dict[str, list[str]] = {}
    for name, entry in sorted(read_manifest(root)["files"].items()):
        if entry.get("machine"):
            out.setdefault(entry["machine"], []).append(name)
    return out


def machine_of(name: str, root: Path | None = None) -> str | None:
    """The machine the manifest records for ``artifacts/<name>``, or None."""
    return read_manifest(root)["files"].get(name, {}).get("machine")


def throughput_summary(step: dict) -> list[dict]:
    """One row per model config of a ``--mode step`` result: each loop's img/s, the fast
    engine's speed-up over the reference loop, its TFLOP/s and its fraction of the bf16 peak."""
    rows = []
    for name, cfg in step["configs"].items():
        e = cfg["engines"]
        fraction = cfg.get("fraction_of_peak")
        rows.append(
            {
                "config": name,
                "reference img/s": round(e["reference"]["img_per_s"]),
                "eager img/s": round(e["eager"]["img_per_s"]),
                "fast img/s": round(e["fast"]["img_per_s"]),
                "fast / reference": f"{cfg['speedup']['fast']:.2f}x",
                "fast TFLOP/s": round(e["fast"]["tflops"]),
                "of bf16 peak": None if fraction is None else f"{fraction:.0%}",
            }
        )
    return rows


def experiment_times(results: dict[str, list[dict]]) -> list[dict]:
    """Per experiment (name -> its stored ``result_s*.json`` dicts, see
    ``dcgan_lib.studies.experiments_results.read_results``): seeds, steps, and the training and FID seconds of
    each seed, with the device; experiments with no stored result are left out."""
    rows = []
    for name, runs in results.items():
        if not runs:
            continue
        rows.append(
            {
                "run": name,
                "seeds": ", ".join(str(r["seed"]) for r in runs),
                "steps": runs[0]["steps"],
                "train s per seed": ", ".join(f"{r['train_minutes'] * 60:.0f}" for r in runs),
                "FID s per seed": ", ".join(f"{r['fid_minutes'] * 60:.0f}" for r in runs),
                "device": ", ".join(sorted({d for r in runs for d in r["devices"]})),
            }
        )
    return rows
