"""An offline pose cue for face images: OpenCV's Haar cascades on the image and its mirror.

Not in the paper. Its §6.3.2 builds a "turn" vector from 4 left-looking and 4 right-looking face
samples picked by eye; the book picks them, and measures the turn, with this cue instead
(``dcgan_lib.arithmetic.turn_vector``, ``pose_change``). OpenCV's profile-face cascade fires on faces
whose nose points image-left; run on the image and on its mirror it votes for left and right, and
the frontal-face cascade is a third vote for "neither" (``pose_score``, in [-1, 1], positive =
looking image-right, and mirroring an image negates it exactly).

Its reliability on real faces is measured against head-turn labels made by eye on CelebA-10k
(``artifacts/celeba_pose/labels.json``, protocol in the file; ``dcgan_lib.studies.pose``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from dcgan_lib.data import to_uint8


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
