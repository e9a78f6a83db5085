"""The sweep behind the de-duplication autoencoder's open settings (paper §4.1.1):
``python -m dcgan_lib dedup-sweep``.

The paper leaves the input scaling, the corruption, the dropout and the optimizer open. Each
setting of ``SWEEP`` trains for a few epochs on a seeded subset of the study's training images and
is scored on the study's planted pairs (the same images, the same seed); the file it writes
(``artifacts/dedup_ae/sweep.json``) is rewritten after each setting, so a run resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dcgan_lib.artifacts import PRODUCERS, artifacts_dir, register_if_stored
from dcgan_lib.datasets import resolve_data_root
from dcgan_lib.dedup import (
    ARTIFACT,
    DedupConfig,
    as_stored,
    group_codes,
    image_codes,
    train_autoencoder,
)
from dcgan_lib.device import describe_machine
from dcgan_lib.near_duplicates import Planted, plant_duplicates, planted_scores
from dcgan_lib.storage import write_json
from dcgan_lib.studies.dedup import StudyConfig, load_sets, made_images

SWEEP_COMMAND = PRODUCERS[f"{ARTIFACT}/sweep.json"]
# (name, DedupConfig fields): each open choice against its neighbours; the first differs from the
# second only in the input scaling, "chosen" is the shipped configuration (DedupConfig())
SWEEP = (
    ("standardized, noise 1, dropout 0.1", {"noise_std": 1.0, "dropout": 0.1}),
    ("x/127.5 - 1, noise 1, dropout 0.1", {"standardize": False, "noise_std": 1.0, "dropout": 0.1}),
    ("noise 1, no dropout", {"noise_std": 1.0, "dropout": 0.0}),
    ("noise 1, dropout 0.5", {"noise_std": 1.0, "dropout": 0.5}),
    ("noise 1, dropout 0.7", {"noise_std": 1.0, "dropout": 0.7}),
    ("noise 2, dropout 0.5", {"noise_std": 2.0, "dropout": 0.5}),
    ("noise 2, dropout 0.7", {"noise_std": 2.0, "dropout": 0.7}),
    ("chosen: noise 4, dropout 0.5", {}),
    ("noise 8, dropout 0.5", {"noise_std": 8.0, "dropout": 0.5}),
    ("noise 16, dropout 0.5", {"noise_std": 16.0, "dropout": 0.5}),
    ("noise 4, dropout 0.5, lr 1e-3", {"lr": 1e-3}),
)


@dataclass(frozen=True)
class SweepSize:
    """How long each setting of the sweep trains, and on what."""

    n_train: int = 50_000  # a seeded random subset of the study's training images
    epochs: int = 3
    n_planted: int = 3000  # the study's planted pairs (same images, same seed)
    radii: tuple[int, ...] = (0, 1, 2)
    smoke: bool = False  # test-made images instead of the real data


SIZES = {
    "full": SweepSize(),
    "smoke": SweepSize(n_train=600, epochs=1, n_planted=40, radii=(0, 1), smoke=True),
}


def sweep_setting(
    overrides: dict, train_images: np.ndarray, planted: Planted, size: SweepSize, progress: bool
) -> dict:
    """Train one setting for ``size.epochs`` and score its exact and radius-r collisions on the
    planted pairs (precision counts every other pair as false: no pixel judge here)."""
    cfg = dataclasses.replace(DedupConfig(), epochs=size.epochs, **overrides)
    model, history = train_autoencoder(cfg, train_images, progress=progress)
    codes = image_codes(as_stored(model), planted.images)
    scores = {str(r): planted_scores(planted, group_codes(codes, r)) for r in size.radii}
    return {"config": dataclasses.asdict(cfg), "history": history, "planted": scores}


def run_sweep(
    size: SweepSize,
    data_root: str | os.PathLike | None,
    out: str | os.PathLike,
    settings: Sequence[tuple[str, dict]] = SWEEP,
    cache_dir: str | os.PathLike | None = None,
    command: str = SWEEP_COMMAND,
    progress: bool = True,
) -> dict:
    """Every setting of ``settings`` on the same training subset and the same planted pairs as the
    study; ``out`` (a JSON file) is rewritten after each setting, and a run started again skips
    the settings already there. Returns the file's content."""
    out = Path(out)
    base = StudyConfig()
    # as JSON stores it (tuples become lists), so that a stored run compares equal
    identity = json.loads(
        json.dumps({"size": dataclasses.asdict(size), "study_seed": base.ae.seed})
    )
    result = json.loads(out.read_text()) if out.exists() else {}
    if {k: result.get(k) for k in identity} != identity:
        result = {**identity, "settings": {}}
    if size.smoke:
        train_pool, held_out = made_images(2 * size.n_train, seed=1), made_images(300, seed=2)
    else:
        train_pool = load_sets(base.train_sets, data_root, cache_dir, None, progress)[0]
        held_out = load_sets(base.eval_sets, data_root, cache_dir, None, progress)[0]
    pick = np.sort(np.random.default_rng(base.ae.seed).permutation(len(train_pool))[: size.n_train])
    train_images = train_pool[pick]
    planted = plant_duplicates(held_out, size.n_planted, seed=base.ae.seed)
    result.update(
        n_train_pool=len(train_pool),
        n_planted_images=len(planted.images),
        machine=describe_machine(torch.device("cpu")),
        command=command,
    )
    for name, overrides in settings:
        done = result["settings"].get(name)
        if done is not None and done.get("overrides") == overrides:
            continue
        started = time.monotonic()
        row = sweep_setting(overrides, train_images, planted, size, progress)
        result["settings"][name] = {
            "overrides": overrides,
            **row,
            "seconds": time.monotonic() - started,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result)
        result = json.loads(out.read_text())
        if progress:
            r0 = row["planted"]["0"]
            print(f"{name}: recall {r0['recall']:.3f}, precision {r0['precision_strict']:.3f}")
    return result


def sweep_table(sweep: dict, radius: str = "0") -> list[dict]:
    """One row per setting: its name, fields, and recall / strict precision at ``radius``."""
    rows = []
    for name, s in sweep.get("settings", {}).items():
        scores = s["planted"].get(radius, {})
        rows.append(
            {
                "setting": name,
                "recall": scores.get("recall"),
                "precision": scores.get("precision_strict"),
                "recall_brightness": scores.get("recall_by_kind", {}).get("brightness"),
                **{f: s["config"][f] for f in ("standardize", "noise_std", "dropout", "lr")},
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Command line: `python -m dcgan_lib dedup-sweep`


def run_cli(a: argparse.Namespace) -> int:
    size = SIZES[a.size]
    root = None if size.smoke else resolve_data_root(a.data_root)
    default = artifacts_dir() / ARTIFACT / "sweep.json" if not size.smoke else Path("sweep.json")
    out = Path(a.out) if a.out else default
    started = time.monotonic()
    result = run_sweep(size, root, out, cache_dir=a.cache_dir)
    seconds = sum(s["seconds"] for s in result["settings"].values())
    config = json.dumps(dataclasses.asdict(size), sort_keys=True)
    extra = {"machine": result["machine"], "cpu_seconds": round(seconds)}
    register_if_stored(out, SWEEP_COMMAND, config, extra)  # smoke, tests: a file elsewhere
    print(f"{len(result['settings'])} settings in {out} ({time.monotonic() - started:.0f} s)")
    return 0
