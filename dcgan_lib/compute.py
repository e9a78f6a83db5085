"""What the book's Compute page reads: throughput benchmarks, the engine numerics check, and the
wall time and speed of every exported training run.

- ``artifacts/benchmarks/throughput.json``: ``benchmarks/throughput.py`` (``step`` and ``e2e``);
- ``artifacts/numerics/engines.json``: ``benchmarks/numerics.py`` (eager fp32 vs the fast engine);
- ``artifacts/<run>/metrics.jsonl`` + ``run.json``: copied by ``python -m dcgan_lib export``.

The paper reports no compute (§4 names no training time or speed): each ``*_readings`` below
formats the numbers the page's prose quotes, each ``check_*`` raises AssertionError when a
stored result or a sentence of the page no longer holds.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from dcgan_lib.artifacts import (
    THROUGHPUT,
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


def _check(ok: bool, message: str) -> None:
    """A page's claim or consistency check: AssertionError with ``message`` when it fails."""
    if not ok:
        raise AssertionError(message)


def machine_text(step: dict | None, measured: bool, root: Path | None = None) -> str | None:
    """The machine of a ``--mode step`` result: this one when the page just measured it, else
    the one the manifest records for the stored benchmark (None when it names none)."""
    if measured and step:
        return f"this machine ({step.get('gpu') or step['device']}, torch {step['torch']})"
    return machine_of(THROUGHPUT, root)


def is_gpu(machine: str) -> bool:
    """Whether a manifest's machine (or a device name) is a GPU."""
    return bool(re.search(r"NVIDIA|GPU|\bH100\b|\bH200\b|\bcuda\b", machine))


def machines_text(root: Path | None = None, gpu_only: bool = False) -> str:
    """Every machine the manifest names (``gpu_only``: the GPUs) with its number of files, for
    the how-to-run page."""
    found = {m: f for m, f in machines(root).items() if is_gpu(m) or not gpu_only}
    return "; ".join(
        f"{m} ({len(f)} file{'' if len(f) == 1 else 's'})" for m, f in found.items()
    ) or ("no machine yet: no stored result comes from a GPU")


def _extremes(values: dict[str, float]) -> tuple[str, str]:
    return max(values, key=values.get), min(values, key=values.get)  # type: ignore[arg-type]


def speed_readings(step: dict) -> dict[str, str]:
    """The fast engine's speed-ups over the reference loop, the eager engine's, and the fraction
    of the bf16 peak, as the page's prose quotes them."""
    speedups = {n: c["speedup"]["fast"] for n, c in step["configs"].items()}
    eager = {n: c["speedup"]["eager"] for n, c in step["configs"].items()}
    fractions = {n: c["fraction_of_peak"] for n, c in step["configs"].items()}
    fastest, slowest = _extremes(speedups)
    widest, _ = _extremes(fractions)
    return {
        "speedup_range": f"{min(speedups.values()):.1f}x to {max(speedups.values()):.1f}x",
        "speedup_best": f"{fastest} ({speedups[fastest]:.1f}x)",
        "speedup_worst": f"{slowest} ({speedups[slowest]:.1f}x)",
        "eager_range": f"{min(eager.values()):.2f}x to {max(eager.values()):.2f}x",
        "peak_best": f"{fractions[widest]:.0%} ({widest})",
        "peak_range": f"{min(fractions.values()):.0%} to {max(fractions.values()):.0%}",
        "peak_tflops": f"{step['peak_tflops']:.0f}",
    }


def check_step(step: dict) -> None:
    """A ``--mode step`` result is whole and one measurement: three loops per config, img/s is
    batch / step time, speed-ups and fractions of peak are the ratios of the stored numbers, and
    the fast engine captured a CUDA graph exactly on CUDA."""
    batch = step["batch_size"]
    for name, row in step["configs"].items():
        engines = row["engines"]
        _check(set(engines) == {"reference", "eager", "fast"}, f"{name}: loops {set(engines)}")
        _check(all(e["img_per_s"] > 0 and e["tflops"] > 0 for e in engines.values()), name)
        ratio = engines["fast"]["img_per_s"] / engines["reference"]["img_per_s"]
        _check(abs(row["speedup"]["fast"] - ratio) < 1e-9 * ratio, f"{name}: speed-up")
        cuda = step["device"].startswith("cuda")
        _check(engines["fast"]["graph_captured"] == cuda, f"{name}: graph capture")
        for e in engines.values():
            _check(abs(e["img_per_s"] * e["ms_per_step"] / 1000 - batch) < 1e-6 * batch, name)
        if "fraction_of_peak" in row:
            tflops = row["fraction_of_peak"] * step["peak_tflops"]
            _check(abs(tflops - engines["fast"]["tflops"]) < 1e-6, f"{name}: fraction of peak")


def check_speed_prose(step: dict, machine: str | None) -> None:
    """The prose on speed: the most speed-up for the cheapest model, the least speed-up and the
    best fraction of peak for the dearest, eager the reference loop's equal; and the machine
    the page names is the one the result records."""
    gflop = {n: c["gflop_per_step"] for n, c in step["configs"].items()}
    speedups = {n: c["speedup"]["fast"] for n, c in step["configs"].items()}
    fractions = {n: c["fraction_of_peak"] for n, c in step["configs"].items()}
    fastest, slowest = _extremes(speedups)
    dearest, cheapest = _extremes(gflop)
    _check(fastest == cheapest, "the fastest speed-up is not the cheapest model")
    _check(slowest == dearest, "the least speed-up is not the dearest model")
    _check(_extremes(fractions)[0] == dearest, "the best fraction of peak is not the widest model")
    eager = [c["speedup"]["eager"] for c in step["configs"].values()]
    _check(all(0.8 < v < 1.3 for v in eager), "eager is not the reference loop's equal")
    _check(
        bool(machine) and step["gpu"] in machine and step["torch"] in machine,  # type: ignore[operator]
        f"the machine named ({machine}) is not the result's",
    )


def e2e_rows(e2e: dict) -> list[dict]:
    """The end-to-end benchmark: our data path against pytorch/examples', one row each."""
    ours, base = e2e["ours"], e2e["pytorch_examples"]
    return [
        {
            "data path": "ours: decode once (cache), GPU-resident, fast engine",
            "one-time s": f"{ours['decode_s']:.1f} decode + {ours['upload_s']:.2f} upload",
            "epoch s": f"{ours['epoch_s']:.2f}",
            "img/s": round(ours["img_per_s"]),
        },
        {
            "data path": "pytorch/examples: ImageFolder + "
            f"DataLoader({base['num_workers']} workers)",
            "one-time s": f"{base['extract_s']:.1f} unpacking the archive",
            "epoch s": f"{base['epoch_s']:.2f}",
            "img/s": round(base["img_per_s"]),
        },
    ]


def _fast_img_per_s(step: dict | None, config: str) -> float | None:
    return step["configs"][config]["engines"]["fast"]["img_per_s"] if step else None


def e2e_readings(e2e: dict, step: dict | None) -> dict[str, str | None]:
    """The end-to-end speed-ups the prose quotes, and how much faster the step alone runs."""
    ours = e2e["ours"]
    fast = _fast_img_per_s(step, e2e["config"])
    return {
        "e2e_epoch": f"{e2e['speedup_epoch']:.1f}x",
        "e2e_with_decode": f"{e2e['speedup_with_decode']:.1f}x",
        "e2e_data": f"{e2e['data_description']} with {e2e['config']}",
        "e2e_steps": f"{ours['images'] // e2e['batch_size']}",
        "e2e_workers": f"{e2e['pytorch_examples']['num_workers']}",
        "e2e_fast_step_ratio": fast and f"{fast / ours['img_per_s']:.1f}x",
    }


def check_e2e(e2e: dict, step: dict) -> None:
    """Ours is faster per epoch, less so counting the one-time decode; img/s is images / epoch
    time; the data path is slower than the step alone (it is not free)."""
    ours = e2e["ours"]
    _check(e2e["speedup_epoch"] > 1, "our epoch is not faster than pytorch/examples'")
    _check(e2e["speedup_with_decode"] < e2e["speedup_epoch"], "the decode costs nothing?")
    img_per_s = ours["images"] / ours["epoch_s"]
    _check(abs(img_per_s - ours["img_per_s"]) < 1e-6 * ours["img_per_s"], "img/s != images / s")
    _check(_fast_img_per_s(step, e2e["config"]) > ours["img_per_s"], "an epoch beats the step")


def numerics_run_rows(numerics: dict) -> list[dict]:
    """The engine numerics check: one row per (engine, seed) run with its final FID."""
    return [
        {
            "engine": run["engine"],
            "seed": run["seed"],
            "steps": run["steps"],
            "FID": None if run["fid"] is None else round(run["fid"]["fid"], 2),
            "protocol": None if run["fid"] is None else run["fid"]["protocol"],
            "wall s": round(run["wall_s"], 1),
        }
        for run in numerics["runs"]
    ]


GAP_LABELS = {  # the curves of the numerics check, as the page's table heads them
    "loss_d": "loss D",
    "loss_g": "loss G",
    "d_real": "D(x)",
    "d_fake": "D(G(z))",
    "d_acc_real": "D right on real",
    "d_acc_fake": "D right on fake",
}


def numerics_gap_rows(numerics: dict) -> list[dict]:
    """Mean absolute differences of the logged curves and of the final FID: between the engines
    at one seed, and between the seeds under one engine (columns headed by ``GAP_LABELS``)."""
    gaps = numerics["summary"]

    def row(between: str, g: dict) -> dict:
        curves = {GAP_LABELS.get(k, k): round(v, 3) for k, v in g["curves"].items()}
        return {"between": between, **curves, "FID": round(g["fid"], 1)}

    return [row(f"engines, seed {s[4:]}", g) for s, g in gaps["engine_gap"].items()] + [
        row(f"seeds, {e} engine", g) for e, g in gaps["seed_gap"].items()
    ]


def engine_mean_fid(numerics: dict) -> dict[str, float]:
    """Each engine's final FID averaged over its seeds in the numerics check."""
    out = {}
    for e in ("eager", "fast"):
        fids = [r["fid"]["fid"] for r in numerics["runs"] if r["engine"] == e]
        out[e] = sum(fids) / len(fids)
    return out


REPEATED = 0.01  # FID points: two runs that end this close repeated (FID's own rounding)


def rerun_rows(numerics: dict, experiment: list[dict]) -> list[dict]:
    """The numerics check's fast runs beside the §4 experiment's results of the same seed,
    config and epochs (``experiment``: its stored ``result_s*.json`` dicts); ``difference`` is
    not rounded (``rerun_table`` rounds it)."""
    fast = {r["seed"]: r["fid"]["fid"] for r in numerics["runs"] if r["engine"] == "fast"}
    rows = []
    for r in experiment:
        same = r["config"] == numerics["config"] and r["epochs"] == numerics["epochs"]
        if r["seed"] in fast and same:
            ours = r["fid"]["final:celeba/train"]["fid"]
            rows.append(
                {
                    "seed": r["seed"],
                    "steps": r["steps"],
                    "numerics check (fast)": round(fast[r["seed"]], 2),
                    "§4 experiment (fast)": round(ours, 2),
                    "difference": abs(fast[r["seed"]] - ours),
                }
            )
    return rows


def rerun_table(rerun: list[dict]) -> list[dict]:
    """``rerun_rows`` for a page: the difference to 3 significant digits."""
    return [r | {"difference": float(f"{r['difference']:.3g}")} for r in rerun]


def _seeds(rows: list[dict]) -> str:
    return ("seed " if len(rows) == 1 else "seeds ") + " and ".join(str(r["seed"]) for r in rows)


def rerun_text(rerun: list[dict]) -> str | None:
    """What training the same fast run twice gave, in words (None: no rerun): which seeds
    repeated to within ``REPEATED`` FID, which did not, and what that says."""
    if not rerun:
        return None
    same = [r for r in rerun if r["difference"] < REPEATED]
    apart = [r for r in rerun if r["difference"] >= REPEATED]
    parts = []
    if same:
        diffs = " and ".join(f"{r['difference']:.2g}" for r in same)
        parts.append(f"{_seeds(same)} repeated to within {REPEATED} FID ({diffs} apart)")
    if apart:
        diffs = " and ".join(f"{r['difference']:.2f}" for r in apart)
        parts.append(f"{_seeds(apart)} ended {diffs} FID points away")
    text = "; ".join(parts) + "."
    if apart:
        text += " The fast engine is not bit-reproducible from run to run on the GPU."
    return text[0].upper() + text[1:]


def _gaps(numerics: dict, kind: str, what: str) -> list[float]:
    gaps = numerics["summary"][kind].values()
    return [g["fid"] if what == "fid" else g["curves"][what] for g in gaps]


def _sd(values: list[float]) -> float:
    m = sum(values) / len(values)
    return (sum((v - m) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def numerics_readings(
    numerics: dict, rerun: list[dict], seed_fids: list[float] | None = None
) -> dict[str, str | None]:
    """The FID and loss-curve gaps between engines and between seeds, each engine's mean FID and
    their difference, the differences from the §4 experiment's rerun, and (``seed_fids``: the
    final FIDs of the §4 run's seeds) the standard deviation between seeds beside which the
    prose reads the engines' difference."""
    mean = engine_mean_fid(numerics)
    several = bool(seed_fids) and len(seed_fids) > 1  # type: ignore[arg-type]
    return {
        "num_engine_fid": " and ".join(f"{v:.1f}" for v in _gaps(numerics, "engine_gap", "fid")),
        "num_seed_fid": " and ".join(f"{v:.1f}" for v in _gaps(numerics, "seed_gap", "fid")),
        "num_engine_curve": " and ".join(
            f"{v:.3f}" for v in _gaps(numerics, "engine_gap", "loss_d")
        ),
        "num_seed_curve": " and ".join(f"{v:.3f}" for v in _gaps(numerics, "seed_gap", "loss_d")),
        "num_mean_eager": f"{mean['eager']:.1f}",
        "num_mean_fast": f"{mean['fast']:.1f}",
        "num_mean_diff": f"{abs(mean['fast'] - mean['eager']):.1f}",
        "num_seeds": f"{len(numerics['seeds'])}",
        "num_seed_sd": f"{_sd(seed_fids):.1f}" if several else None,  # type: ignore[arg-type]
        "num_seed_sd_n": f"{len(seed_fids)}" if several else None,  # type: ignore[arg-type]
        "num_rerun": " and ".join(f"{r['difference']:.2f} (seed {r['seed']})" for r in rerun)
        or None,
        "num_rerun_text": rerun_text(rerun),
    }


def check_numerics(numerics: dict, rerun: list[dict], seed_fids: list[float] | None = None) -> None:
    """Both engines logged the same steps; the summary's FID gaps are the runs' differences; the
    engines' curves differ about as far as another seed's ("within a factor 2"); the rerun of
    the §4 experiment was not bit-identical (unrounded); and, given the §4 run's seed FIDs, the
    engines' mean FIDs differ by less than the seeds' standard deviation (the prose says so)."""
    runs = {(r["engine"], r["seed"]): r for r in numerics["runs"]}
    for seed in numerics["seeds"]:
        steps = [[m["step"] for m in runs[(e, seed)]["metrics"]] for e in ("eager", "fast")]
        _check(steps[0] == steps[1] and bool(steps[0]), f"seed {seed}: the engines' steps differ")
        gap = abs(runs[("eager", seed)]["fid"]["fid"] - runs[("fast", seed)]["fid"]["fid"])
        stored = numerics["summary"]["engine_gap"][f"seed{seed}"]["fid"]
        _check(abs(stored - gap) < 1e-9, f"seed {seed}: the stored FID gap is not the runs'")
    engine, seed = _gaps(numerics, "engine_gap", "loss_d"), _gaps(numerics, "seed_gap", "loss_d")
    _check(max(engine) < 2 * max(seed) and min(engine) > min(seed) / 2, "engine gap vs seed gap")
    _check(bool(rerun) and max(r["difference"] for r in rerun) > 0, "the rerun was identical")
    if seed_fids and len(seed_fids) > 1:
        mean = engine_mean_fid(numerics)
        _check(
            abs(mean["fast"] - mean["eager"]) < _sd(seed_fids),
            "the engines' means differ by more than the seeds' sd: reword",
        )


def run_rows(runs: list[dict]) -> list[dict]:
    """The ``exported_runs`` summaries as a table: steps, wall time, median speed, engine, GPU."""
    return [
        {
            "run": r["name"],
            "config": r["config"],
            "data": r["data"],
            "steps": r["steps"],
            "steps s": round(r["wall_s"], 1),
            "median img/s": None if r["median_img_per_s"] is None else round(r["median_img_per_s"]),
            "engine": r["engine"],
            "GPU": r["gpu"] or r["device"],
        }
        for r in runs
    ]


def split_constant(rows: list[dict], keep: tuple[str, ...] = ("run",)) -> tuple[list[dict], dict]:
    """A table without the columns whose value is the same in every row, and those values
    (``{column: value}``, for a sentence above the table); the columns of ``keep`` stay, and a
    table of fewer than two rows keeps all."""
    if len(rows) < 2:
        return rows, {}
    constant = {
        k: rows[0][k] for k in rows[0] if k not in keep and all(r[k] == rows[0][k] for r in rows)
    }
    return [{k: v for k, v in r.items() if k not in constant} for r in rows], constant


def check_runs(runs: list[dict], results: dict[str, list[dict]]) -> None:
    """Every exported run trained and took time; no experiment stores a seed twice."""
    for r in runs:
        _check(r["steps"] > 0 and r["wall_s"] > 0, r["name"])
    for name, stored in results.items():
        _check(len({r["seed"] for r in stored}) == len(stored), f"{name}: a seed stored twice")
