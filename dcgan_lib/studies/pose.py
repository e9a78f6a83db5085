"""How reliable the pose cue is on real faces: ``dcgan_lib.pose`` against head-turn labels by eye.

The labels (``artifacts/celeba_pose/labels.json``, its protocol in the file) mark turned CelebA-10k
faces with the side their nose points to, and frontal ones. ``pose_cue_reliability`` counts how
often the cue's sign is the labelled side; ``export_pose_reliability`` stores that as
``artifacts/celeba_pose/reliability.json`` (the command: ``python -m dcgan_lib latent
--pose-reliability``). Paper: §6.3.2 (the cue is ours).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from dcgan_lib.artifacts import artifacts_dir, register, require
from dcgan_lib.data import load_dataset
from dcgan_lib.pose import PoseCue, pose_score
from dcgan_lib.stats import wilson_interval
from dcgan_lib.storage import write_json

POSE_LABELS = "celeba_pose"  # artifacts/celeba_pose/labels.json: head-turn labels by eye
POSE_COMMAND = (
    "python -m dcgan_lib latent --pose-reliability --data-root ../shared/data  (CPU, 15 s)"
)


def _side_stats(s: np.ndarray, right: np.ndarray, threshold: float) -> dict:
    """Of the scores ``s`` of turned faces (``right``: labelled right-facing), how many are
    decided (non-zero; above ``threshold`` in size) and how many of those have the right sign."""
    out: dict = {"n": len(s)}
    for name, thr in (("nonzero", 0.0), ("above_threshold", threshold)):
        dec = np.abs(s) > thr
        correct = int(((s > 0) == right)[dec].sum())
        out[name] = {
            "decided": int(dec.sum()),
            "sign_correct": correct,
            "ci95": wilson_interval(correct, int(dec.sum())),
        }
    return out


def pose_cue_reliability(
    images: np.ndarray, labels: dict, cue: PoseCue | None = None, threshold: float = 0.3
) -> dict:
    """How well ``pose_score`` agrees with head-turn labels by eye on real faces.

    images: the labelled dataset's uint8 images (N, S, S, 3), indexed by the labels' ``index``;
    labels: ``artifacts/celeba_pose/labels.json`` (turned faces with the side the nose points to,
    frontal faces). Turned faces looked at next to their cue values are left out. Returns, for
    the turned faces (all, and per sample), how many get a non-zero score and how often its sign
    is the labelled side, the same above ``threshold``, and the share of frontal faces whose
    score exceeds ``threshold`` in size (``cue``: default ``PoseCue()``). Paper: §6.3.2 (the cue
    is ours).
    """
    cue = cue or PoseCue()
    turned = [t for t in labels["turned"] if not t["seen_with_score"]]
    s_turned = pose_score(images[[t["index"] for t in turned]], cue)
    want_right = np.array([t["facing"] == "R" for t in turned])
    s_front = pose_score(images[[f["index"] for f in labels["frontal"]]], cue)
    by_sample = {}
    for k in sorted({t["sample"] for t in turned}):
        mine = np.array([t["sample"] == k for t in turned])
        by_sample[k] = _side_stats(s_turned[mine], want_right[mine], threshold)
    return {
        "cue": dataclasses.asdict(cue),
        "threshold": threshold,
        "turned": _side_stats(s_turned, want_right, threshold),
        "turned_by_sample": by_sample,
        "frontal": {
            "n": len(s_front),
            "above_threshold": int((np.abs(s_front) > threshold).sum()),
            "above_0.5": int((np.abs(s_front) > 0.5).sum()),
        },
        "median_abs_score": {
            "turned": float(np.median(np.abs(s_turned))),
            "frontal": float(np.median(np.abs(s_front))),
        },
    }


def export_pose_reliability(data_root=None, root: Path | None = None) -> dict:
    """Recompute ``pose_cue_reliability`` on CelebA-10k from the stored labels and write
    ``artifacts/celeba_pose/reliability.json`` (registered in the manifest). CPU, about 15 s."""
    labels = json.loads(require(POSE_LABELS, "labels.json", root).read_text())
    packed = load_dataset("celeba", data_root, image_size=64, progress=False)
    result = pose_cue_reliability(packed.images, labels)
    result["data"] = "CelebA-10k (first 10,000 aligned CelebA images), 64 px"
    result["command"] = POSE_COMMAND
    path = (root or artifacts_dir()) / POSE_LABELS / "reliability.json"
    write_json(path, result)
    register(f"{POSE_LABELS}/reliability.json", path, POSE_COMMAND, "PoseCue()", root=root)
    return result


def load_reliability(root: Path | None = None) -> dict:
    """The stored reliability (``artifacts/celeba_pose/reliability.json``) with its labels'
    protocol (``"protocol"``, from ``labels.json``); raises ArtifactMissing."""
    rel = json.loads(require(POSE_LABELS, "reliability.json", root).read_text())
    labels = json.loads(require(POSE_LABELS, "labels.json", root).read_text())
    return {**rel, "protocol": labels["protocol"]}


def reliability(size: str, data_root=None) -> dict:
    """The pose cue's reliability as a page shows it: the stored one, measured again first at
    full size when the data is present (``export_pose_reliability``, CPU, about 15 s)."""
    if size == "full" and data_root is not None:
        export_pose_reliability(data_root)
    return load_reliability()
