"""Training the judge of the §6 face experiments: the CelebA attribute classifier, stored.

``python -m dcgan_lib attributes --data-root ../shared/data`` (CPU, about 4 minutes) trains
``dcgan_lib.attributes.AttributeClassifier`` on the first 80% of CelebA-10k, evaluates it on the
rest next to the majority-class baseline, and writes ``artifacts/celeba_attributes/{classifier.pt,
metrics.json}`` (registered in the manifest). Not in the paper: it picks and counts what the paper
picked by eye (§6.3.1, §6.3.2).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import torch

from dcgan_lib.artifacts import PRODUCERS, artifacts_dir, register
from dcgan_lib.attributes import (
    ARTIFACT,
    DATA_DESCRIPTION,
    AttributeClassifier,
    AttributeConfig,
    evaluate,
    save_classifier,
    split_indices,
    train_classifier,
)
from dcgan_lib.data import load_dataset
from dcgan_lib.device import describe_machine
from dcgan_lib.storage import write_json


def run_attributes(
    cfg: AttributeConfig, data_root=None, command: str = "", progress: bool = True
) -> tuple[AttributeClassifier, dict]:
    """Train on CelebA-10k's train part, evaluate on the held-out part: (model, metrics);
    ``command`` is recorded in the metrics."""
    packed = load_dataset("celeba", data_root, image_size=cfg.image_size)
    t0 = time.perf_counter()
    model = train_classifier(cfg, packed, progress=progress)
    seconds = time.perf_counter() - t0
    train_idx, held_idx = split_indices(len(packed), cfg.heldout_fraction)
    metrics = {
        "heldout": evaluate(model, packed),
        "n_train": len(train_idx),
        "n_heldout": len(held_idx),
        "split": f"train: images 0..{len(train_idx) - 1}, held out: the last {len(held_idx)}",
        "augmentation": "random horizontal flip" if cfg.hflip else "none",
        "epochs": cfg.epochs,
        "seconds": round(seconds, 1),
        "machine": describe_machine(torch.device("cpu")),
        "command": command,
        "data": DATA_DESCRIPTION,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "config": dataclasses.asdict(cfg),
    }
    return model, metrics


def export(model: AttributeClassifier, metrics: dict, root: Path | None = None) -> list[Path]:
    """Write ``artifacts/celeba_attributes/{classifier.pt, metrics.json}`` and register them."""
    dest = (root or artifacts_dir()) / ARTIFACT
    dest.mkdir(parents=True, exist_ok=True)
    save_classifier(model, dest / "classifier.pt")
    write_json(dest / "metrics.json", metrics)
    config = json.dumps(dataclasses.asdict(model.cfg), sort_keys=True)
    command = PRODUCERS.get(ARTIFACT, "")
    return [
        register(f"{ARTIFACT}/{f}", dest / f, command, config, root=root)
        for f in ("classifier.pt", "metrics.json")
    ]


# ---------------------------------------------------------------------------------------------
# Command line


def run_cli(a: argparse.Namespace) -> int:
    torch.set_num_threads(os.cpu_count() or 1)
    command = (
        "python -m dcgan_lib attributes"
        + (f" --data-root {a.data_root}" if a.data_root else "")
        + (f" --epochs {a.epochs}" if a.epochs != AttributeConfig.epochs else "")
        + (f" --seed {a.seed}" if a.seed != AttributeConfig.seed else "")
    )
    cfg = AttributeConfig(epochs=a.epochs, seed=a.seed)
    model, metrics = run_attributes(cfg, a.data_root, command)
    print(f"trained in {metrics['seconds']:.0f} s; held-out accuracy (majority baseline):")
    for attr, m in metrics["heldout"].items():
        print(f"  {attr:20s} {m['accuracy']:.3f} ({m['majority_baseline']:.3f})")
    if not a.no_export:
        for path in export(model, metrics):
            print("wrote", path)
    return 0
