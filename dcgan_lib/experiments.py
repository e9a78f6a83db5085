"""The paper's §4 training runs on real data, each as one resumable, time-boxed job with its FIDs.

One ``Experiment`` per row of the book's results table: a model config trained on a dataset for a
number of epochs, evaluated under ../shared/FID.md's protocols (the first reference set is the
headline number; a second one, where it exists, is the training split, for the memorization check
of §4.1: FID against held-out images vs against training images). ``run_experiment`` is the one
entry point (CLI ``python -m dcgan_lib experiment NAME``, notebooks, tests):

1. train, or resume, the run in ``runs/NAME-sSEED`` (stops cleanly at ``max_minutes``);
2. once training is done, FID/KID of the final generator against every reference set, and of the
   best-FID checkpoint when the run tracked FID during training (``fid_every``);
3. write ``artifacts/NAME/result_sSEED.json`` (every FID with its protocol, image-steps, GPU
   minutes, the device) and, for the first seed, the run's metrics, diagnostics and sample grids
   (and the fp16 weights where the book needs them).

Each step is recorded in the run folder's ``experiment.json`` ledger as soon as it finishes, so a
killed job loses at most the step in progress; calling it again continues. It prints ``complete``
when everything is written.

Stand-ins (paper's data not obtainable here): CelebA-10k for the unreleased faces set, Tiny ImageNet
at 64 px for LSUN bedrooms, Tiny ImageNet at 32 px for ImageNet-1k-32. Paper: §4.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan_lib.config import TrainConfig, get_model_config

RESULT_PREFIX = "result_s"  # artifacts/NAME/result_s1.json, result_s2.json, ...


@dataclass(frozen=True)
class Experiment:
    """One §4 training run and how it is measured."""

    name: str  # also the artifact folder: artifacts/<name>/
    config: str  # model config (dcgan_lib.config.MODEL_CONFIGS)
    data: str  # training dataset (dcgan_lib.data.DATASETS), split "train"
    image_size: int
    epochs: int
    references: tuple[tuple[str, str], ...]  # FID reference sets (dataset, split); first = headline
    stands_in_for: str  # the paper's experiment it reproduces, and on what stand-in data
    seeds: tuple[int, ...] = (1,)
    batch_size: int = 128  # paper §4
    fid_every: int | None = None  # FID during training (keeps best.pt); None = final only
    ship_weights: bool = False  # fp16 G.pt / D.pt into artifacts/ (the book loads them)
    max_steps: int | None = None  # stop after this many updates (a run sized in updates)
    # True: best.pt is chosen by the FID during training on the selection half of the headline
    # reference, the shipped weights are best.pt's, and every generator is also measured on the
    # reporting half (no image in common with the selection); see dcgan_lib.metrics
    select_half: bool = False

    def command(self, data_root: str = "../shared/data") -> str:
        """The shell command that produces this experiment's artifacts (all seeds)."""
        seeds = ", ".join(map(str, self.seeds))
        seed, which = ("SEED", f"for SEED in {seeds}; ") if len(self.seeds) > 1 else (seeds, "")
        return (
            f"python -m dcgan_lib experiment {self.name} --data-root {data_root} --seed {seed} "
            f"--max-minutes 9  (on a GPU; {which}repeat until it prints 'complete')"
        )


_CELEBA = (("celeba", "train"),)  # FID-10k/celeba10k: all 10,000 images are training images
_TINY = (("tinyimagenet", "val"), ("tinyimagenet", "train"))
_CIFAR = (("cifar10", "test"), ("cifar10", "train"))

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "celeba_dcgan64",
            "dcgan64",
            "celeba",
            64,
            25,
            _CELEBA,
            "§4.2 faces (unreleased) on CelebA-10k; the model of §6",
            seeds=(1, 2, 3),
            ship_weights=True,
        ),
        Experiment(
            "celeba_dcgan64_long",
            "dcgan64",
            "celeba",
            64,
            200,
            _CELEBA,
            "§4.2 faces on CelebA-10k, trained longer; the checkpoint with the best FID on the "
            "selection half of CelebA-10k is kept",
            fid_every=1560,  # every 20 epochs of 78 steps: 10 candidates
            ship_weights=True,
            select_half=True,
        ),
        Experiment(
            "celeba_dcgan64_updates",
            "dcgan64",
            "celeba",
            64,
            51,  # 78 updates an epoch: 3,925 updates end in the 51st epoch
            _CELEBA,
            "§4.2 faces on CelebA-10k at pytorch/examples' number of updates (3,925: its 25 "
            "epochs at batch 64; about 50 epochs at batch 128)",
            ship_weights=True,
            max_steps=3925,
        ),
        Experiment(
            "celeba_examples64",
            "examples64",
            "celeba",
            64,
            25,
            _CELEBA,
            "pytorch/examples' network at the same image-steps as celeba_dcgan64",
            seeds=(1, 2, 3),
        ),
        Experiment(
            "celeba_paper64",
            "paper64",
            "celeba",
            64,
            25,
            _CELEBA,
            "Fig. 1's width (4x4x1024) at the same image-steps; weights too big to ship",
        ),
        Experiment(
            "tinyimagenet_dcgan64",
            "dcgan64",
            "tinyimagenet",
            64,
            10,
            _TINY,
            "§4.1 LSUN bedrooms, Figs. 2-3, on Tiny ImageNet at 64 px; the scene model of §6.2",
            ship_weights=True,
        ),
        Experiment(
            "imagenet32_tinyimagenet",
            "imagenet32",
            "tinyimagenet",
            32,
            30,
            _TINY,
            "§4.3 ImageNet-1k at 32 px on Tiny ImageNet at 32 px; the D of §5",
            ship_weights=True,
        ),
        Experiment(
            "cifar10_imagenet32",
            "imagenet32",
            "cifar10",
            32,
            30,
            _CIFAR,
            "a 32 px DCGAN (the authors' ImageNet-32 model) on the CIFAR-10 train split, unlabelled",
            seeds=(1, 2, 3),
        ),
    )
}

# Numbers measured by others, each under its own protocol (../shared/FID.md), beside ours.
ANCHORS = (
    {
        "experiment": "celeba_dcgan64",
        "what": "pytorch/examples dcgan, unchanged defaults, 25 epochs on CelebA-10k",
        "protocol": "FID-10k/celeba10k",
        "fid": 89.1,
        "source": "measured on an H100 with this book's protocol (../shared/FID.md)",
        "difference": "its network (4x4 kernels, normal z, batch 64) at the same 25 epochs",
    },
    {
        "experiment": "cifar10_imagenet32",
        "what": "PyTorch-StudioGAN 'DCGAN' on CIFAR-10",
        "protocol": "FID-10k/cifar10-test",
        "fid": 49.03,
        "source": "StudioGAN's table (10k test images vs 10k samples; IS 6.64)",
        "difference": "the SNGAN paper's CNN, not the paper's DCGAN; their Inception pipeline",
    },
)
TARGETS = {  # issue 8's targets: (experiment, protocol) -> FID to get below
    ("celeba_dcgan64", "FID-10k/celeba10k"): 89.1,
    ("celeba_dcgan64_long", "FID-10k/celeba10k"): 40.0,
    ("cifar10_imagenet32", "FID-10k/cifar10-test"): 49.0,
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def train_config(
    exp: Experiment,
    seed: int,
    data_root: str | None = None,
    runs_dir: str | Path = "runs",
    **overrides: object,
) -> TrainConfig:
    """The TrainConfig of one seed of ``exp`` (overrides: e.g. ``max_minutes``, ``device``)."""
    fields = dict(
        model=get_model_config(exp.config, image_size=exp.image_size),
        data=exp.data,
        data_root=data_root,
        out=str(Path(runs_dir) / f"{exp.name}-s{seed}"),
        epochs=exp.epochs,
        batch_size=exp.batch_size,
        seed=seed,
        fid_every=exp.fid_every,
        fid_data=exp.references[0][0],
        fid_split=exp.references[0][1],
        fid_selection=exp.select_half,
        max_steps=exp.max_steps,
    )
    fields.update(overrides)
    return TrainConfig(**fields)  # type: ignore[arg-type]


def machine_description(device: torch.device) -> str:
    """What made an artifact, for the manifest: the GPU (memory, CUDA) or the CPU, and torch."""
    import os
    import platform

    soft = f"torch {torch.__version__}, Python {platform.python_version()}"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gb = props.total_memory / 1e9
        return f"one {props.name} ({gb:.0f} GB), CUDA {torch.version.cuda}, {soft}"
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores), {soft}"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def _read_ledger(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"chunks": [], "fid": {}}


def _write_ledger(path: Path, ledger: dict) -> None:
    from dcgan_lib.train import atomic_write

    atomic_write(path, lambda f: f.write(json.dumps(ledger, indent=1).encode()))


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
    from dcgan_lib import artifacts
    from dcgan_lib.metrics import evaluate_generator, feature_network
    from dcgan_lib.train import resolve_device, train

    exp = experiment or get_experiment(name)
    seed = exp.seeds[0] if seed is None else seed
    cfg = train_config(exp, seed, data_root, runs_dir, max_minutes=max_minutes, **train_overrides)
    if cfg.fid_every:
        cfg = dataclasses.replace(cfg, fid_n=fid_n)
    run = Path(cfg.out)  # made by train(), only once its inputs are known good
    ledger_path = run / "experiment.json"
    ledger = _read_ledger(ledger_path)
    device = resolve_device(cfg.device)
    started = time.monotonic()

    t0 = time.monotonic()
    result = train(cfg, progress=progress)
    ledger["chunks"].append(
        {
            "seconds": time.monotonic() - t0,
            "step": result.step,
            "status": result.status,
            "device": _device_name(device),
            "ended": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
    )
    _write_ledger(ledger_path, ledger)
    sized_in_updates = result.status == "max steps" and result.step == exp.max_steps
    if result.status != "done" and not sized_in_updates:
        return {"status": "incomplete", "train_status": result.status, "step": result.step}

    def out_of_time() -> bool:
        return max_minutes is not None and time.monotonic() - started > max_minutes * 60

    net = feature_network(cfg.fid_network)
    generators = {"final": run / "checkpoint.pt"}
    if (run / "best.pt").exists():
        generators["best"] = run / "best.pt"
    for which, path in generators.items():
        for dataset, split, part in _fid_sets(exp):
            key = f"{which}:{dataset}/{split}" + ("" if part == "all" else f"#{part}")
            if key in ledger["fid"]:
                continue
            if out_of_time():
                return {"status": "incomplete", "train_status": "done", "step": result.step}
            t0 = time.monotonic()
            G = artifacts.load_generator(path).to(device)
            n = fid_n if part == "all" else fid_n // 2
            fid = evaluate_generator(
                G,
                dataset,
                data_root,
                split,
                n,
                seed=0,
                device=device,
                cache_dir=cfg.cache_dir,
                progress=progress,
                part=part,
                net=net,
            )
            fid["seconds"] = time.monotonic() - t0
            fid["step"] = torch.load(path, map_location="cpu", weights_only=True)["step"]
            ledger["fid"][key] = fid
            _write_ledger(ledger_path, ledger)

    summary = _summary(exp, cfg, run, ledger)
    root = root or artifacts.artifacts_dir()
    dest = root / exp.name
    dest.mkdir(parents=True, exist_ok=True)
    result_path = dest / f"{RESULT_PREFIX}{seed}.json"
    result_path.write_text(json.dumps(summary, indent=1) + "\n")
    command = exp.command(data_root or "DIR").replace("SEED", str(seed))
    machine = machine_description(device)
    artifacts.register(
        f"{exp.name}/{result_path.name}", result_path, command, exp.config, root, machine=machine
    )
    if seed == exp.seeds[0]:
        shipped = "best.pt" if exp.select_half and "best" in generators else "checkpoint.pt"
        artifacts.export_run(
            run,
            exp.name,
            command,
            root,
            weights=exp.ship_weights,
            checkpoint=shipped,
            machine=machine,
        )
        for extra in ("fid.jsonl", "diagnostics.jsonl"):
            if (run / extra).exists():
                shutil.copyfile(run / extra, dest / extra)
                artifacts.register(
                    f"{exp.name}/{extra}", dest / extra, command, exp.config, root, machine=machine
                )
    summary["status"] = "complete"
    return summary


def _fid_sets(exp: Experiment) -> list[tuple[str, str, str]]:
    """(dataset, split, part) of every FID measured at the end: each reference set whole, and,
    for a run that selects on a half, the headline reference's reporting half."""
    sets = [(d, s, "all") for d, s in exp.references]
    if exp.select_half:
        sets.append((*exp.references[0], "report"))
    return sets


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
    from dcgan_lib.train import read_metrics

    dataset, split = exp.references[0]
    rows = read_metrics(run / "fid.jsonl") if (run / "fid.jsonl").exists() else []
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

FACES_MODEL = "faces_model"  # artifacts/faces_model/selection.json names the chosen run
FACES_DEFAULT = "celeba_dcgan64"  # the §6 model until a selection has been made
FACES_CANDIDATES = ("celeba_dcgan64", "celeba_dcgan64_updates", "celeba_dcgan64_long")


def faces_model_artifact(root: Path | None = None) -> str:
    """The artifact folder of the §6 faces model: the run ``select_faces_model`` chose (its
    selection.json checked against the manifest), else ``celeba_dcgan64``."""
    from dcgan_lib import artifacts

    try:
        path = artifacts.require(FACES_MODEL, "selection.json", root)
    except artifacts.ArtifactMissing:
        return FACES_DEFAULT
    return json.loads(path.read_text())["chosen"]


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
) -> dict:
    """Choose the §6 faces model: the candidate run whose shipped G has the lowest FID on the
    selection half of CelebA-10k (``n`` samples against ``n`` of its images; never the reporting
    half), and write ``artifacts/faces_model/selection.json`` with every candidate's selection
    FID and its reported ones. Each candidate's G.pt must exist (its run finished first)."""
    from dcgan_lib import artifacts
    from dcgan_lib.metrics import evaluate_generator, feature_network
    from dcgan_lib.train import resolve_device

    experiments = experiments or EXPERIMENTS
    root = root or artifacts.artifacts_dir()
    dev = resolve_device(device)
    net = feature_network(network)
    rows = []
    for name in candidates:
        exp = experiments[name]
        weights = artifacts.require(name, "G.pt", root)
        G = artifacts.load_generator(weights)
        dataset, split = exp.references[0]
        fid = evaluate_generator(
            G,
            dataset,
            data_root,
            split,
            n,
            seed=0,
            device=dev,
            cache_dir=cache_dir,
            progress=progress,
            part="select",
            net=net,
        )
        result = json.loads(
            artifacts.require(name, f"{RESULT_PREFIX}{exp.seeds[0]}.json", root).read_text()
        )
        manifest = artifacts.read_manifest(root)["files"][f"{name}/G.pt"]
        rows.append(
            {
                "experiment": name,
                "stands_in_for": exp.stands_in_for,
                "weights": f"{name}/G.pt",
                "weights_sha256": manifest["sha256"],
                "weights_from": manifest.get("weights_from", "checkpoint.pt"),
                "step": manifest.get("step"),
                "selection_fid": fid["fid"],
                "selection_kid": fid["kid_mean"],
                "reported": {
                    k: {"protocol": v["protocol"], "fid": v["fid"]}
                    for k, v in result["fid"].items()
                },
            }
        )
    best = min(rows, key=lambda r: r["selection_fid"])
    selection = {
        "chosen": best["experiment"],
        "rule": "lowest FID on the selection half; the reported FIDs are measured elsewhere",
        "selection_protocol": fid["protocol"],
        "selection_images": fid["reference_images"],
        "sampling": fid["sampling"],
        "samples_seed": 0,
        "candidates": rows,
        "machine": machine_description(dev),
    }
    if "feature_network" in fid:
        selection["feature_network"] = fid["feature_network"]
    dest = root / FACES_MODEL
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "selection.json").write_text(json.dumps(selection, indent=1) + "\n")
    artifacts.register(
        f"{FACES_MODEL}/selection.json",
        dest / "selection.json",
        command,
        "dcgan64",
        root,
        machine=selection["machine"],
    )
    return selection


# ---------------------------------------------------------------------------------------------
# Reading the stored results back


def read_results(name: str, root: Path | None = None) -> list[dict]:
    """Every stored seed's result of experiment ``name`` (empty when none is produced yet)."""
    from dcgan_lib import artifacts

    folder = (root or artifacts.artifacts_dir()) / name
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"{RESULT_PREFIX}*.json"))]


def _mean_spread(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(a.mean()),
        "sd": float(a.std(ddof=1)) if len(a) > 1 else math.nan,
        "min": float(a.min()),
        "max": float(a.max()),
        "n": len(a),
    }


def summarize(results: list[dict]) -> dict:
    """Per FID key (``final:celeba/train``, ...): protocol, mean, sd, min, max over seeds."""
    out: dict[str, dict] = {}
    keys = sorted({k for r in results for k in r["fid"]})
    for key in keys:
        rows = [r["fid"][key] for r in results if key in r["fid"]]
        out[key] = {
            "protocol": rows[0]["protocol"],
            "sampling": rows[0]["sampling"],
            "fid": _mean_spread([r["fid"] for r in rows]),
            "kid": _mean_spread([r["kid_mean"] for r in rows]),
            "step": _mean_spread([r["step"] for r in rows]),
        }
    return out


def fid_text(stats: dict) -> str:
    """'71.3 ± 2.1 (3 seeds)' or '71.3 (1 seed)'."""
    f = stats["fid"]
    if f["n"] > 1:
        return f"{f['mean']:.1f} ± {f['sd']:.1f} (sd, {f['n']} seeds)"
    return f"{f['mean']:.1f} (1 seed)"


def results_table(
    root: Path | None = None, experiments: dict[str, Experiment] | None = None
) -> list[dict]:
    """One row per experiment with its headline FID (or "not produced yet" and the command)."""
    rows = []
    for exp in (experiments or EXPERIMENTS).values():
        results = read_results(exp.name, root)
        dataset, split = exp.references[0]
        row = {
            "experiment": exp.name,
            "config": exp.config,
            "stands_in_for": exp.stands_in_for,
            "seeds_done": [r["seed"] for r in results],
        }
        if not results:
            row.update(status="not produced yet", command=exp.command())
            rows.append(row)
            continue
        stats = summarize(results)
        head = stats[f"final:{dataset}/{split}"]
        row.update(
            status="measured",
            protocol=head["protocol"],
            fid=fid_text(head),
            fid_mean=head["fid"]["mean"],
            kid=f"{head['kid']['mean']:.4f}",
            image_steps=results[0]["image_steps"],
            train_minutes=float(np.mean([r["train_minutes"] for r in results])),
            devices=sorted({d for r in results for d in r["devices"]}),
        )
        if f"best:{dataset}/{split}" in stats:
            best = stats[f"best:{dataset}/{split}"]
            row.update(best_fid=fid_text(best), best_step=int(best["step"]["mean"]))
        target = TARGETS.get((exp.name, head["protocol"]))
        if target is not None:
            # a run that tracks FID is judged by its best checkpoint, the others by the final one
            judged = stats.get(f"best:{dataset}/{split}", head) if exp.fid_every else head
            row.update(target=target, target_met=judged["fid"]["mean"] < target)
        rows.append(row)
    return rows


def memorization_rows(
    root: Path | None = None, experiments: dict[str, Experiment] | None = None
) -> list[dict]:
    """FID against held-out images vs against training images, where both were measured."""
    rows = []
    for exp in (experiments or EXPERIMENTS).values():
        if len(exp.references) < 2:
            continue
        results = read_results(exp.name, root)
        if not results:
            continue
        stats = summarize(results)
        (d0, s0), (d1, s1) = exp.references[:2]
        held, seen = stats.get(f"final:{d0}/{s0}"), stats.get(f"final:{d1}/{s1}")
        if held and seen:
            rows.append(
                {
                    "experiment": exp.name,
                    "held_out": f"{held['protocol']}: {fid_text(held)}",
                    "training": f"{seen['protocol']}: {fid_text(seen)}",
                    "gap": held["fid"]["mean"] - seen["fid"]["mean"],
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------
# CLI


def add_cli(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="train + FID + export one §4 experiment (resumable; repeat until 'complete')",
    )
    p.add_argument("name", nargs="?", choices=sorted(EXPERIMENTS))
    p.add_argument("--seed", type=int, default=None, help="default: the experiment's first seed")
    p.add_argument("--data-root", default=None, help="folder holding the data (or $DCGAN_DATA)")
    p.add_argument("--max-minutes", type=float, default=None, help="time budget for this call")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--fid-n", type=int, default=10_000, help="samples and reference images")
    p.add_argument("--device", default="auto")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--list", action="store_true", help="print every experiment's command and exit")


def run_cli(a) -> int:
    if a.list or a.name is None:
        for exp in EXPERIMENTS.values():
            print(f"{exp.name}: {exp.stands_in_for}\n  {exp.command()}")
        return 0
    result = run_experiment(
        a.name,
        seed=a.seed,
        data_root=a.data_root,
        max_minutes=a.max_minutes,
        runs_dir=a.runs_dir,
        fid_n=a.fid_n,
        progress=not a.no_progress,
        device=a.device,
        cache_dir=a.cache_dir,
    )
    if result["status"] == "complete":
        for key, fid in result["fid"].items():
            print(f"{key}: {fid['protocol']} = {fid['fid']:.2f} (step {fid['step']})")
        print("complete")
    else:
        print(f"incomplete ({result['train_status']}, step {result['step']}): run the same command")
    return 0
