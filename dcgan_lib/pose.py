"""An offline pose cue for face images: OpenCV's Haar cascades on the image and its mirror.

Not in the paper. Its §6.3.2 builds a "turn" vector from 4 left-looking and 4 right-looking face
samples picked by eye; the book picks them, and measures the turn, with this cue instead
(``dcgan_lib.latent.turn_vector``, ``pose_change``). OpenCV's profile-face cascade fires on faces
whose nose points image-left; run on the image and on its mirror it votes for left and right, and
the frontal-face cascade is a third vote for "neither" (``pose_score``, in [-1, 1], positive =
looking image-right, and mirroring an image negates it exactly).

Its reliability on real faces is measured against head-turn labels made by eye on CelebA-10k
(``artifacts/celeba_pose/labels.json``, protocol in the file; ``export_pose_reliability``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class PoseCue:
    """How ``pose_score`` runs OpenCV's cascades on a small face image."""

    upscale: int = 3  # 64 px faces are too small for the 20-24 px cascade windows' features
    pad: int = 8  # px of replicated border before upscaling: the crops are tight on the face
    min_size: float = 0.3  # smallest window, as a fraction of the padded, upscaled side
    scale_factor: float = 1.1  # the cascades' pyramid step


PROFILE_CASCADE = "haarcascade_profileface.xml"  # fires on faces whose nose points image-left
FRONTAL_CASCADE = "haarcascade_frontalface_default.xml"


@functools.lru_cache(maxsize=1)
def _cascades():
    import cv2

    profile = cv2.CascadeClassifier(cv2.data.haarcascades + PROFILE_CASCADE)
    frontal = cv2.CascadeClassifier(cv2.data.haarcascades + FRONTAL_CASCADE)
    if profile.empty() or frontal.empty():
        raise RuntimeError(
            "OpenCV's Haar cascades did not load: install opencv-python>=4.10,<5 "
            "(5.x ships none; see requirements.txt)"
        )
    return profile, frontal


def _uint8_hwc(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float (B, 3, S, S) in [-1, 1], uint8 (B, 3, S, S) or uint8 (B, S, S, 3) -> uint8 NHWC."""
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8:
            from dcgan_lib.data import to_uint8

            images = to_uint8(images)
        images = images.cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.shape[1] == 3 and images.shape[-1] != 3:
        images = images.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images)


def pose_votes(images: torch.Tensor | np.ndarray, cue: PoseCue = PoseCue()) -> np.ndarray:
    """(B, 3) window counts (left, right, frontal) for face images (see ``pose_score``).

    left: profile-cascade windows on the image (that cascade finds faces looking image-left);
    right: the same on the mirrored image; frontal: the frontal cascade's windows, averaged over
    the image and its mirror. Windows are counted before OpenCV's grouping (minNeighbors=0): the
    count is the strength of the evidence.
    """
    import cv2

    profile, frontal = _cascades()
    out = []
    for img in _uint8_hwc(images) if len(images) else []:
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        gray = cv2.copyMakeBorder(gray, *(cue.pad,) * 4, cv2.BORDER_REPLICATE)
        gray = cv2.resize(gray, None, fx=cue.upscale, fy=cue.upscale, interpolation=cv2.INTER_CUBIC)
        gray = cv2.equalizeHist(gray)
        mirror = np.ascontiguousarray(gray[:, ::-1])
        side = int(cue.min_size * gray.shape[0])
        kw = {"scaleFactor": cue.scale_factor, "minNeighbors": 0, "minSize": (side, side)}
        left = len(profile.detectMultiScale(gray, **kw))
        right = len(profile.detectMultiScale(mirror, **kw))
        front = (
            len(frontal.detectMultiScale(gray, **kw)) + len(frontal.detectMultiScale(mirror, **kw))
        ) / 2
        out.append((left, right, front))
    return np.asarray(out, dtype=np.float64).reshape(-1, 3)


def pose_score(images: torch.Tensor | np.ndarray, cue: PoseCue = PoseCue()) -> np.ndarray:
    """(B,) head-turn cue in (-1, 1) for face images (float NCHW in [-1, 1] or uint8):
    (right - left) / (right + left + frontal + 1) from ``pose_votes``.

    Positive: the face looks towards the image's right (its nose points right); negative: left;
    near 0: frontal, or no evidence. Mirroring an image negates its score exactly. Not in the paper
    (it turned faces by eye); its reliability on CelebA-10k is measured in the book. Paper: §6.3.2.
    """
    v = pose_votes(images, cue)
    if len(v) == 0:
        return np.zeros(0)
    return (v[:, 1] - v[:, 0]) / (v.sum(1) + 1)


POSE_LABELS = "celeba_pose"  # artifacts/celeba_pose/labels.json: head-turn labels by eye


def pose_cue_reliability(
    images: np.ndarray, labels: dict, cue: PoseCue = PoseCue(), threshold: float = 0.3
) -> dict:
    """How well ``pose_score`` agrees with head-turn labels by eye on real faces.

    images: the labelled dataset's uint8 images (N, S, S, 3), indexed by the labels' ``index``;
    labels: ``artifacts/celeba_pose/labels.json`` (turned faces with the side the nose points to,
    frontal faces). Turned faces looked at next to their cue values are left out. Returns, for
    the turned faces (all, and per sample), how many get a non-zero score and how often its sign
    is the labelled side, the same above ``threshold``, and the share of frontal faces whose
    score exceeds ``threshold`` in size. Paper: §6.3.2 (the cue is ours).
    """
    from dcgan_lib.latent import wilson_interval

    turned = [t for t in labels["turned"] if not t["seen_with_score"]]
    s_turned = pose_score(images[[t["index"] for t in turned]], cue)
    want_right = np.array([t["facing"] == "R" for t in turned])
    s_front = pose_score(images[[f["index"] for f in labels["frontal"]]], cue)

    def side_stats(s: np.ndarray, right: np.ndarray) -> dict:
        out = {"n": len(s)}
        for name, thr in (("nonzero", 0.0), ("above_threshold", threshold)):
            dec = np.abs(s) > thr
            out[name] = {
                "decided": int(dec.sum()),
                "sign_correct": int(((s > 0) == right)[dec].sum()),
                "ci95": wilson_interval(int(((s > 0) == right)[dec].sum()), int(dec.sum())),
            }
        return out

    samples = sorted({t["sample"] for t in turned})
    return {
        "cue": dataclasses.asdict(cue),
        "threshold": threshold,
        "turned": side_stats(s_turned, want_right),
        "turned_by_sample": {
            k: side_stats(
                s_turned[[t["sample"] == k for t in turned]],
                want_right[[t["sample"] == k for t in turned]],
            )
            for k in samples
        },
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


def export_pose_reliability(data_root=None, root=None) -> dict:
    """Recompute ``pose_cue_reliability`` on CelebA-10k from the stored labels and write
    ``artifacts/celeba_pose/reliability.json`` (registered in the manifest). CPU, about 15 s."""
    from dcgan_lib.artifacts import artifacts_dir, register, require
    from dcgan_lib.data import load_dataset

    labels = json.loads(require(POSE_LABELS, "labels.json", root).read_text())
    packed = load_dataset("celeba", data_root, image_size=64, progress=False)
    result = pose_cue_reliability(packed.images, labels)
    result["data"] = "CelebA-10k (first 10,000 aligned CelebA images), 64 px"
    result["command"] = POSE_COMMAND
    path = (root or artifacts_dir()) / POSE_LABELS / "reliability.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    register(f"{POSE_LABELS}/reliability.json", path, POSE_COMMAND, "PoseCue()", root=root)
    return result


POSE_COMMAND = (
    "python -m dcgan_lib latent --pose-reliability --data-root ../shared/data  (CPU, 15 s)"
)
