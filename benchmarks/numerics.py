"""Numerics of the fast engine: the same runs under eager fp32 and under the fast path.

    python benchmarks/numerics.py --data-root ../shared/data            # on a GPU (see below)
    python benchmarks/numerics.py --smoke                               # the code, on a CPU

For each seed, the two engines train from the same initial weights, on the same data order and
the same z stream (``train`` with ``engine="eager"`` and ``engine="fast"``); only the arithmetic
differs (bf16 autocast, channels_last kernels, fused Adam, the CUDA graph). Run-to-run noise is
measured the same way between two seeds under one engine. The engines agree when the differences
between them (training curves, final FID) are within that noise.

Default: ``dcgan64`` on CelebA-10k, 25 epochs, seeds 1 and 2, FID-10k against CelebA-10k (four
runs). ``--engines eager fast fast+compile`` adds the fast engine with ``torch.compile`` of G and D
(``engine_gap_compiled`` in the summary: it against eager, per seed). Runs live in ``--work`` and resume: with ``--max-minutes`` each call stops cleanly and the
next continues. When every run is done, writes ``artifacts/numerics/engines.json`` (``--out``):
per run the logged metrics, wall time and FID/KID, and a summary of the differences.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from dcgan_lib.artifacts import artifacts_dir
from dcgan_lib.checkpoint import load_generator
from dcgan_lib.compute import wall_seconds
from dcgan_lib.config import TrainConfig, get_model_config
from dcgan_lib.device import resolve_device
from dcgan_lib.metrics import evaluate_generator
from dcgan_lib.storage import read_jsonl
from dcgan_lib.train import train

DEFAULT_OUT = artifacts_dir() / "numerics/engines.json"
CURVES = ("loss_d", "loss_g", "d_real", "d_fake", "d_acc_real", "d_acc_fake")
ENGINES = ("eager", "fast")
CHOICES = ("eager", "fast", "fast+compile")


def run_config(a: argparse.Namespace, engine: str, seed: int, work: Path) -> TrainConfig:
    if a.smoke:
        return TrainConfig(
            model=get_model_config("smoke32"),
            data="synthetic",
            limit=128,
            batch_size=32,
            epochs=2,
            log_every=2,
            sample_every=10_000,
            checkpoint_every=10_000,
            sample_epochs=(),
            seed=seed,
            engine=engine.split("+")[0],
            compile=engine == "fast+compile",
            device=a.device,
            out=str(work / f"{engine}-seed{seed}"),
        )
    return TrainConfig(
        model=get_model_config(a.config),
        data=a.data,
        data_root=a.data_root,
        epochs=a.epochs,
        seed=seed,
        engine=engine.split("+")[0],
        compile=engine == "fast+compile",
        device=a.device,
        max_minutes=a.max_minutes,
        out=str(work / f"{engine}-seed{seed}"),
    )


def _curve_gap(a: list[dict], b: list[dict]) -> dict:
    """Mean absolute difference of each logged stat over the steps both runs logged."""
    by_step = {r["step"]: r for r in b}
    pairs = [(r, by_step[r["step"]]) for r in a if r["step"] in by_step]
    return {k: float(np.mean([abs(r[k] - s[k]) for r, s in pairs])) for k in CURVES}


def summarise(runs: list[dict], seeds: list[int]) -> dict:
    """Engine-vs-engine differences per seed, next to seed-vs-seed differences per engine."""
    get = {(r["engine"], r["seed"]): r for r in runs}
    out: dict = {"engine_gap": {}, "seed_gap": {}}
    for s in seeds:
        e, f = get[("eager", s)], get[("fast", s)]
        row = {"curves": _curve_gap(e["metrics"], f["metrics"])}
        if e.get("fid") is not None:
            row["fid"] = abs(e["fid"]["fid"] - f["fid"]["fid"])
        out["engine_gap"][f"seed{s}"] = row
    for s in seeds:
        if ("fast+compile", s) in get:
            e, c = get[("eager", s)], get[("fast+compile", s)]
            row = {"curves": _curve_gap(e["metrics"], c["metrics"])}
            if e.get("fid") is not None:
                row["fid"] = abs(e["fid"]["fid"] - c["fid"]["fid"])
            out.setdefault("engine_gap_compiled", {})[f"seed{s}"] = row
    if len(seeds) >= 2:
        s1, s2 = seeds[:2]
        for eng in sorted({e for e, _ in get}, key=CHOICES.index):
            a, b = get[(eng, s1)], get[(eng, s2)]
            row = {"curves": _curve_gap(a["metrics"], b["metrics"])}
            if a.get("fid") is not None:
                row["fid"] = abs(a["fid"]["fid"] - b["fid"]["fid"])
            out["seed_gap"][eng] = row
    return out


def main(argv: list[str] | None = None) -> dict | None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="dcgan64")
    p.add_argument("--data", default="celeba")
    p.add_argument("--data-root", default=None)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--fid-n", type=int, default=10_000, help="0: no FID")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-minutes", type=float, default=None, help="per training call")
    p.add_argument("--work", default="runs/numerics", help="the run folders (resumable)")
    p.add_argument("--out", default=None, help=f"default: {DEFAULT_OUT} (none with --smoke)")
    p.add_argument("--smoke", action="store_true", help="smoke32, synthetic data, CPU, no FID")
    p.add_argument(
        "--engines",
        nargs="+",
        default=list(ENGINES),
        choices=CHOICES,
        help="eager and fast, optionally fast+compile",
    )
    a = p.parse_args(argv)
    if not {"eager", "fast"} <= set(a.engines):
        p.error("--engines must include eager and fast (the comparison is against them)")
    if a.smoke:
        a.device, a.fid_n = "cpu", 0
    tmp = tempfile.TemporaryDirectory(prefix="dcgan-numerics-") if a.smoke else None
    work = Path(tmp.name if tmp else a.work)
    device = resolve_device(a.device)
    runs = []
    try:
        for seed in a.seeds:
            for engine in a.engines:
                cfg = run_config(a, engine, seed, work)
                result = train(cfg, progress=not a.smoke)
                if result.status != "done":
                    print(
                        f"{cfg.out}: {result.status} at step {result.step}; run the same "
                        "command again to continue",
                        file=sys.stderr,
                    )
                    return None
                out = Path(cfg.out)
                info = json.loads((out / "run.json").read_text())
                metrics = read_jsonl(out / "metrics.jsonl")
                run = {
                    "engine": engine,
                    "seed": seed,
                    "engine_options": info.get("engine_options"),
                    "steps": result.step,
                    "metrics": metrics,
                    "wall_s": wall_seconds(metrics),
                    "fid": None,
                }
                if a.fid_n:
                    G = load_generator(out / "checkpoint.pt")
                    run["fid"] = evaluate_generator(
                        G, cfg.data, cfg.data_root, cfg.split, a.fid_n, 0, device, progress=False
                    )
                runs.append(run)
    finally:
        if tmp:
            tmp.cleanup()
    result = {
        "config": "smoke32" if a.smoke else a.config,
        "data": "synthetic" if a.smoke else a.data,
        "epochs": 2 if a.smoke else a.epochs,
        "seeds": a.seeds,
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "runs": runs,
        "summary": summarise(runs, a.seeds),
        "command": " ".join(["python benchmarks/numerics.py", *(argv or sys.argv[1:])]),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
    out = a.out or (None if a.smoke else DEFAULT_OUT)
    if out:
        from dcgan_lib.artifacts import register

        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
        try:
            name = path.resolve().relative_to(artifacts_dir().resolve()).as_posix()
        except ValueError:
            return result
        register(name, path, command=result["command"], config=result["config"])
    return result


if __name__ == "__main__":
    main()
