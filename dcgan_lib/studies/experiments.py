"""The §4 experiments as jobs: train, measure FID, store; and the stored results read back.

``run_experiment`` is the one entry point (CLI ``python -m dcgan_lib experiment NAME``, notebooks,
tests) of an experiment of ``dcgan_lib.experiments``:

1. train, or resume, the run in ``runs/NAME-sSEED`` (stops cleanly at ``max_minutes``);
2. once training is done, FID/KID of the final generator against every reference set, and of the
   best-FID checkpoint when the run tracked FID during training (``fid_every``);
3. write ``artifacts/NAME/result_sSEED.json`` (every FID with its protocol, image-steps, GPU
   minutes, the device) and, for the first seed, the run's metrics, diagnostics and sample grids
   (and the fp16 weights where the book needs them).

Each step is recorded in the run folder's ``experiment.json`` ledger as soon as it finishes, so a
killed job loses at most the step in progress; calling it again continues. It prints ``complete``
when everything is written. ``select_faces_model`` chooses the §6 faces model among the faces
runs; ``dcgan_lib.studies.experiments_results`` reads the stored results back. Paper: §4.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import time
from pathlib import Path

import torch

from dcgan_lib import artifacts
from dcgan_lib.config import TrainConfig
from dcgan_lib.device import describe_machine, device_label, resolve_device
from dcgan_lib.experiments import (
    EXPERIMENTS,
    FACES_CANDIDATES,
    FACES_MODEL,
    RESULT_PREFIX,
    Experiment,
    get_experiment,
    train_config,
)
from dcgan_lib.metrics import evaluate_generator, feature_network
from dcgan_lib.storage import read_jsonl, write_json
from dcgan_lib.train import train


def _read_ledger(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"chunks": [], "fid": {}}


def run_experiment(
    name: str,
    seed: int | None = None,
    data_root: str | None = None,
    max_minutes: float | None = None,
    runs_dir: str | Path = "runs",
    root: Path | None = None,
    fid_n: int = 10_000,
    progress: bool = True,
    experiment: Experiment | None = None,
    **train_overrides: object,
) -> dict:
    """Train (or resume) one seed of an experiment, then measure and export it. Paper: §4.

    Returns ``{"status": "complete" | "incomplete", ...}``; "incomplete" means the time budget
    ran out (or a signal came): call again with the same arguments to continue.
    ``experiment`` replaces the named one (tests and smoke mode use tiny ones).
    """
    exp = experiment or get_experiment(name)
    seed = exp.seeds[0] if seed is None else seed
    cfg = train_config(exp, seed, data_root, runs_dir, max_minutes=max_minutes, **train_overrides)
    if cfg.fid_every:
        cfg = dataclasses.replace(cfg, fid_n=fid_n)
    run = Path(cfg.out)  # made by train(), only once its inputs are known good
    ledger_path = run / "experiment.json"
    ledger = _read_ledger(ledger_path)
    device = resolve_device(cfg.device)
    deadline = None if max_minutes is None else time.monotonic() + max_minutes * 60

    status = _train(exp, cfg, ledger, ledger_path, device, progress)
    if status is not None:
        return status
    if not _measure(
        exp, cfg, run, ledger, ledger_path, device, data_root, fid_n, deadline, progress
    ):
        return {
            "status": "incomplete",
            "train_status": "done",
            "step": ledger["chunks"][-1]["step"],
        }
    summary = _summary(exp, cfg, run, ledger)
    _store(exp, seed, run, summary, data_root, root or artifacts.artifacts_dir(), device)
    summary["status"] = "complete"
    return summary


def _train(exp, cfg, ledger, ledger_path, device, progress) -> dict | None:
    """Train (or resume) and record the call in the ledger; None when training is finished."""
    t0 = time.monotonic()
    result = train(cfg, progress=progress)
    ledger["chunks"].append(
        {
            "seconds": time.monotonic() - t0,
            "step": result.step,
            "status": result.status,
            "device": device_label(device),
            "ended": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
    )
    write_json(ledger_path, ledger)
    sized_in_updates = result.status == "max steps" and result.step == exp.max_steps
    if result.status != "done" and not sized_in_updates:
        return {"status": "incomplete", "train_status": result.status, "step": result.step}
    return None


def _measure(exp, cfg, run, ledger, ledger_path, device, data_root, fid_n, deadline, progress):
    """Every FID of the final (and best) generator not yet in the ledger; False when out of time."""
    net = feature_network(cfg.fid_network)
    generators = {"final": run / "checkpoint.pt"}
    if (run / "best.pt").exists():
        generators["best"] = run / "best.pt"
    for which, path in generators.items():
        for dataset, split, part in exp.fid_sets():
            key = f"{which}:{dataset}/{split}" + ("" if part == "all" else f"#{part}")
            if key in ledger["fid"]:
                continue
            if deadline is not None and time.monotonic() > deadline:
                return False
            t0 = time.monotonic()
            G = artifacts.load_generator(path).to(device)
            n = fid_n if part == "all" else fid_n // 2
            fid = evaluate_generator(
                G, dataset, data_root, split, n, seed=0, device=device, cache_dir=cfg.cache_dir,
                progress=progress, part=part, net=net, limit=cfg.fid_limit,
            )  # fmt: skip
            fid["seconds"] = time.monotonic() - t0
            fid["step"] = torch.load(path, map_location="cpu", weights_only=True)["step"]
            ledger["fid"][key] = fid
            write_json(ledger_path, ledger)
    return True


def _store(exp, seed, run, summary, data_root, root, device) -> None:
    """``result_sSEED.json`` and, for the first seed, the run's files, into ``root/NAME``."""
    dest = root / exp.name
    dest.mkdir(parents=True, exist_ok=True)
    result_path = dest / f"{RESULT_PREFIX}{seed}.json"
    result_path.write_text(json.dumps(summary, indent=1) + "\n")
    command = exp.command(data_root or "DIR", seed)
    extra = {"machine": describe_machine(device)}
    artifacts.register(f"{exp.name}/{result_path.name}", result_path, command, exp.config, root,
                       extra)  # fmt: skip
    if seed != exp.seeds[0]:
        return
    shipped = "best.pt" if exp.select_half and (run / "best.pt").exists() else "checkpoint.pt"
    artifacts.export_run(run, exp.name, command, root, weights=exp.ship_weights,
                         checkpoint=shipped, machine=extra["machine"])  # fmt: skip
    for name in ("fid.jsonl", "diagnostics.jsonl"):
        if (run / name).exists():
            shutil.copyfile(run / name, dest / name)
            artifacts.register(f"{exp.name}/{name}", dest / name, command, exp.config, root, extra)


def _summary(exp: Experiment, cfg: TrainConfig, run: Path, ledger: dict) -> dict:
    run_info = json.loads((run / "run.json").read_text())
    train_seconds = sum(c["seconds"] for c in ledger["chunks"])
    fid_seconds = sum(f.get("seconds", 0.0) for f in ledger["fid"].values())
    step = run_info["step"]
    return {
        "experiment": exp.name,
        "stands_in_for": exp.stands_in_for,
        "config": exp.config,
        "data": run_info["data"].get("description", exp.data),
        "n_images": run_info["n_images"],
        "seed": cfg.seed,
        "epochs": run_info["epoch"],
        "steps": step,
        "batch_size": cfg.batch_size,
        "image_steps": step * cfg.batch_size,
        "train_minutes": train_seconds / 60,
        "fid_minutes": fid_seconds / 60,
        "devices": sorted({c["device"] for c in ledger["chunks"]}),
        "chunks": len(ledger["chunks"]),
        "fid": ledger["fid"],
        **({"selection": _selection(exp, run, ledger)} if exp.select_half else {}),
    }


def _selection(exp: Experiment, run: Path, ledger: dict) -> dict:
    """How best.pt was chosen and where its reported FIDs were measured (``select_half`` runs)."""
    rows = read_jsonl(run / "fid.jsonl") if (run / "fid.jsonl").exists() else []
    best = min(rows, key=lambda r: r["fid"]) if rows else None
    reported = {}
    for key, fid in ledger["fid"].items():
        if key.startswith("best:"):
            overlap = (
                "none: the other half of the split"
                if key.endswith("#report")
                else "includes every selection image (the whole split)"
            )
            reported[fid["protocol"]] = {"fid": fid["fid"], "overlap_with_selection": overlap}
    return {
        "chosen_by": rows[0]["protocol"] if rows else None,
        "selection_images": best.get("reference_images") if best else None,
        "evaluated_steps": [r["step"] for r in rows],
        "chosen_step": best["step"] if best else None,
        "chosen_fid": best["fid"] if best else None,
        "shipped_weights": "best.pt (the chosen step)" if best else "checkpoint.pt (final)",
        "reported": reported,
    }


# ---------------------------------------------------------------------------------------------
# The faces model of §6: the best of the faces runs, chosen on the selection half


def select_faces_model(
    data_root: str | None = None,
    device: str = "auto",
    root: Path | None = None,
    experiments: dict[str, Experiment] | None = None,
    candidates: tuple[str, ...] = FACES_CANDIDATES,
    n: int = 5_000,
    network: str = "inception",
    cache_dir: str | None = None,
    progress: bool = True,
    command: str = "",
    limit: int | None = None,
) -> dict:
    """Choose the §6 faces model: the candidate run whose shipped G has the lowest FID on the
    selection half of CelebA-10k (``n`` samples against ``n`` of its images; never the reporting
    half), and write ``artifacts/faces_model/selection.json`` with every candidate's selection
    FID and its reported ones. Each candidate's G.pt must exist (its run finished first).
    ``limit``: the reference's first images only (smoke runs)."""
    experiments = experiments or EXPERIMENTS
    root = root or artifacts.artifacts_dir()
    dev = resolve_device(device)
    net = feature_network(network)
    rows, fid = [], {}
    for name in candidates:
        exp = experiments[name]
        G = artifacts.load_generator(artifacts.require(name, "G.pt", root))
        dataset, split = exp.references[0]
        fid = evaluate_generator(
            G, dataset, data_root, split, n, seed=0, device=dev, cache_dir=cache_dir,
            progress=progress, part="select", net=net, limit=limit,
        )  # fmt: skip
        rows.append(_candidate(exp, fid, root))
    best = min(rows, key=lambda r: r["selection_fid"])
    selection = {
        "chosen": best["experiment"],
        "rule": "lowest FID on the selection half; the reported FIDs are measured elsewhere",
        "selection_protocol": fid["protocol"],
        "selection_images": fid["reference_images"],
        "sampling": fid["sampling"],
        "samples_seed": 0,
        "candidates": rows,
        "machine": describe_machine(dev),
        **({"feature_network": fid["feature_network"]} if "feature_network" in fid else {}),
    }
    dest = root / FACES_MODEL
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "selection.json").write_text(json.dumps(selection, indent=1) + "\n")
    artifacts.register(f"{FACES_MODEL}/selection.json", dest / "selection.json", command,
                       "dcgan64", root, {"machine": selection["machine"]})  # fmt: skip
    return selection


def _candidate(exp: Experiment, fid: dict, root: Path) -> dict:
    """One candidate of the faces model: its weights, selection FID and reported FIDs."""
    result = artifacts.require_json(exp.name, f"{RESULT_PREFIX}{exp.seeds[0]}.json", root)
    manifest = artifacts.read_manifest(root)["files"][f"{exp.name}/G.pt"]
    return {
        "experiment": exp.name,
        "stands_in_for": exp.stands_in_for,
        "weights": f"{exp.name}/G.pt",
        "weights_sha256": manifest["sha256"],
        "weights_from": manifest.get("weights_from", "checkpoint.pt"),
        "step": manifest.get("step"),
        "selection_fid": fid["fid"],
        "selection_kid": fid["kid_mean"],
        "reported": {
            k: {"protocol": v["protocol"], "fid": v["fid"]} for k, v in result["fid"].items()
        },
    }


# ---------------------------------------------------------------------------------------------
# CLI: python -m dcgan_lib experiment NAME


def run_cli(a: argparse.Namespace) -> int:
    if a.list or a.name is None:
        for exp in EXPERIMENTS.values():
            print(f"{exp.name}: {exp.stands_in_for}\n  {exp.command()}")
        return 0
    result = run_experiment(
        a.name, seed=a.seed, data_root=a.data_root, max_minutes=a.max_minutes,
        runs_dir=a.runs_dir, fid_n=a.fid_n, progress=not a.no_progress, device=a.device,
        cache_dir=a.cache_dir,
    )  # fmt: skip
    if result["status"] == "complete":
        for key, fid in result["fid"].items():
            print(f"{key}: {fid['protocol']} = {fid['fid']:.2f} (step {fid['step']})")
        print("complete")
    else:
        print(f"incomplete ({result['train_status']}, step {result['step']}): run the same command")
    return 0
