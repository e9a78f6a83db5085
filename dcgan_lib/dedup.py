"""De-duplication with an autoencoder hash (paper §4.1.1).

Paper §4.1.1: "we fit a 3072-128-3072 de-noising dropout regularized RELU autoencoder on 32x32
downsampled center-crops of training examples. The resulting code layer activations are then
binarized via thresholding the ReLU activation [...] and provides a convenient form of
semantic-hashing, allowing for linear time de-duplication."

The paper gives the shape and the kind of model, nothing more. What it leaves open, and what this
module chooses (each a ``DedupConfig`` field; the book's deviations page gives the reasons):

- input scaling: each 32x32x3 image is standardized on its own (zero mean, unit variance over its
  3,072 values), so a global brightness or contrast change does not move the code;
- corruption ("de-noising"): additive Gaussian noise, std 4 in those standardized units, drawn
  afresh for every image in every epoch;
- dropout ("dropout regularized"): p = 0.5 on the 128 code units during training only;
- loss and decoder: mean squared error of a linear decoder against the clean standardized image;
- optimizer: Adam, lr 3e-4, minibatch 256, 8 epochs on Tiny ImageNet train (100k) + CIFAR-10
  train (50k), about 2 minutes on 2 CPU cores;
- code: bit k = (pre-activation of unit k > 0), i.e. the ReLU output thresholded at 0;
- matching: exact 128-bit collisions (the paper), optionally a Hamming radius of 1 or 2.

Grouping is linear in the number of images: one dictionary pass for exact collisions; for a radius
of 1 each distinct code probes its 128 one-bit neighbours, for a radius of 2 each distinct code
enters its whole radius-1 ball (129 keys) into one dictionary and two codes sharing a key are at
most 2 bits apart. Groups are the connected components; the keep list holds the first image (in
dataset order) of every group.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

IMAGE_SIZE = 32  # paper: "32x32 downsampled center-crops"
N_IN = IMAGE_SIZE * IMAGE_SIZE * 3  # 3072
ARTIFACT = "dedup_ae"  # artifacts/dedup_ae/: ae.pt, metrics.json, speed.json
TRANSFORMS = ("jpeg", "shift", "crop", "brightness", "contrast", "resize")


@dataclass(frozen=True)
class DedupConfig:
    """The de-duplication autoencoder and its training. Comments give the paper's words."""

    n_in: int = N_IN  # paper: "3072-128-3072"
    n_code: int = 128  # paper: "3072-128-3072": a 128-bit hash
    standardize: bool = True  # open: per-image zero mean / unit variance (else x/127.5 - 1)
    noise_std: float = 4.0  # paper: "de-noising"; open: additive Gaussian, std in input units
    dropout: float = 0.5  # paper: "dropout regularized"; open: rate 0.5 on the code units
    lr: float = 3e-4  # open: Adam
    batch_size: int = 256  # open
    epochs: int = 8  # open
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_code % 8:
            raise ValueError(f"n_code must be a multiple of 8 (packed bits), not {self.n_code}")


# ---------------------------------------------------------------------------------------------
# The autoencoder and its codes


def preprocess(images: np.ndarray | torch.Tensor, standardize: bool = True) -> torch.Tensor:
    """(B, 32, 32, 3) uint8 -> (B, 3072) float32: per-image standardized, or scaled to [-1, 1]."""
    if isinstance(images, torch.Tensor):
        x = images.reshape(len(images), -1).float()
    else:  # a new float32 array: read-only memory maps are fine
        x = torch.from_numpy(np.asarray(images, dtype=np.float32).reshape(len(images), -1))
    if not standardize:
        return x / 127.5 - 1.0
    x = x - x.mean(1, keepdim=True)
    # a flat image has std 0: the floor (2 grey levels) keeps its code defined
    return x / x.std(1, keepdim=True).clamp_min(2.0)


class DedupAutoencoder(nn.Module):
    """3072 -> 128 (ReLU) -> 3072, linear decoder. Paper: §4.1.1 ("3072-128-3072 ... RELU")."""

    def __init__(self, cfg: DedupConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DedupConfig()
        self.encoder = nn.Linear(self.cfg.n_in, self.cfg.n_code)  # 3072 -> 128
        self.dropout = nn.Dropout(self.cfg.dropout)  # on the code, training only
        self.decoder = nn.Linear(self.cfg.n_code, self.cfg.n_in)  # 128 -> 3072

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3072) (corrupted) input -> (B, 3072) reconstruction."""
        return self.decoder(self.dropout(torch.relu(self.encoder(x))))

    @torch.no_grad()
    def bits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3072) clean input -> (B, 128) bool: ReLU activation > 0 (paper: "binarized via
        thresholding the ReLU activation")."""
        return self.encoder(x) > 0


def image_codes(
    model: DedupAutoencoder,
    images: np.ndarray,
    batch_size: int = 4096,
    progress: bool = False,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> (N, 16) uint8: the 128-bit codes, packed. Paper: §4.1.1."""
    model = model.eval().to(device)
    out = np.empty((len(images), model.cfg.n_code // 8), np.uint8)
    for i in tqdm(range(0, len(images), batch_size), desc="hash", disable=not progress):
        x = preprocess(images[i : i + batch_size], model.cfg.standardize).to(device)
        out[i : i + batch_size] = np.packbits(model.bits(x).cpu().numpy(), axis=1)
    return out


def phash_codes(images: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, hash_size**2 / 8) uint8: imagehash's pHash, the baseline."""
    import imagehash

    return np.stack(
        [
            np.packbits(imagehash.phash(Image.fromarray(np.asarray(im)), hash_size).hash)
            for im in images
        ]
    )


def train_autoencoder(
    cfg: DedupConfig,
    images: np.ndarray,
    out: str | os.PathLike | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
) -> tuple[DedupAutoencoder, list[dict]]:
    """Fit the denoising autoencoder on (N, 32, 32, 3) uint8 images. Returns the model (eval mode)
    and one row per epoch. With ``out``, a checkpoint after every epoch; calling again resumes.
    Paper: §4.1.1."""
    with torch.random.fork_rng(devices=[]):  # seeds below stay inside this call
        torch.manual_seed(cfg.seed)
        model = DedupAutoencoder(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history: list[dict] = []
        ckpt = Path(out) / "dedup_ae_checkpoint.pt" if out is not None else None
        if ckpt is not None and ckpt.exists():
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
            if state["config"] != dataclasses.asdict(cfg):
                raise ValueError(f"{ckpt} was written with another DedupConfig; use another folder")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            history = json.loads(state["history"])
        data = torch.from_numpy(np.ascontiguousarray(images))
        n_batches = len(data) // cfg.batch_size
        started = time.monotonic()
        for epoch in range(len(history), cfg.epochs):
            model.train()
            g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # order and noise
            torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout masks: a resumed run is bit-exact
            order = torch.randperm(len(data), generator=g)
            total = 0.0
            bar = tqdm(
                range(n_batches),
                desc=f"dedup AE epoch {epoch + 1}/{cfg.epochs}",
                disable=not progress,
                leave=False,
            )
            for b in bar:
                x = preprocess(
                    data[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]], cfg.standardize
                )
                x_noisy = x + cfg.noise_std * torch.randn(
                    x.shape, generator=g
                )  # de-noising: corrupt
                loss = torch.mean((model(x_noisy) - x) ** 2)  # reconstruct the clean image
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item()
                if b % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.4f}")
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": total / max(n_batches, 1),
                    "seconds": time.monotonic() - started,
                }
            )
            if ckpt is not None:
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                tmp = ckpt.with_suffix(".tmp")
                torch.save(
                    {
                        "config": dataclasses.asdict(cfg),
                        "model": model.state_dict(),
                        "opt": opt.state_dict(),
                        "history": json.dumps(history),
                    },
                    tmp,
                )
                os.replace(tmp, ckpt)
            if max_minutes is not None and time.monotonic() - started > max_minutes * 60:
                break
    return model.eval(), history


def save_autoencoder(model: DedupAutoencoder, path: str | os.PathLike) -> None:
    """fp16 weights plus the config (about 1.6 MB)."""
    state = {k: v.half() for k, v in model.state_dict().items()}
    torch.save({"config": dataclasses.asdict(model.cfg), "state": state}, path)


def _as_stored(model: DedupAutoencoder) -> DedupAutoencoder:
    """The model with its weights rounded to fp16 and back, as ``save_autoencoder`` stores them."""
    model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return model


def load_autoencoder(path: str | os.PathLike | None = None) -> DedupAutoencoder:
    """The stored autoencoder (default: ``artifacts/dedup_ae/ae.pt``, sha256-checked), float32."""
    if path is None:
        from dcgan_lib.artifacts import require

        path = require(ARTIFACT, "ae.pt")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = DedupAutoencoder(DedupConfig(**blob["config"]))
    model.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Grouping in linear time


def _keys(codes: np.ndarray) -> list[int]:
    """(N, B) uint8 packed codes -> N Python ints of 8B bits."""
    w, raw = codes.shape[1], np.ascontiguousarray(codes).tobytes()
    return [int.from_bytes(raw[i : i + w], "big") for i in range(0, len(raw), w)]


def group_codes(codes: np.ndarray, radius: int = 0) -> np.ndarray:
    """(N, B) uint8 packed codes -> (N,) int64: for every image, the smallest index in its group.

    radius 0: identical codes (the paper's hash collisions); 1, 2: codes at most that many bits
    apart, joined transitively, in time linear in N (8B probes per distinct code). A larger radius
    (for the 64-bit pHash baseline) compares all pairs of distinct codes: quadratic, for
    evaluation sets only. Paper: §4.1.1.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, not {radius}")
    keys = _keys(codes)
    first: dict[int, int] = {}
    rep = np.fromiter((first.setdefault(k, i) for i, k in enumerate(keys)), np.int64, len(keys))
    if radius == 0 or len(first) < 2:
        return rep
    parent = {i: i for i in first.values()}  # union-find over the distinct codes

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:  # the smaller index stays the root: roots are each group's first image
            parent[max(ra, rb)] = min(ra, rb)

    flips = [1 << b for b in range(codes.shape[1] * 8)]
    if radius == 1:
        for k, i in first.items():
            for f in flips:
                j = first.get(k ^ f)
                if j is not None:
                    union(i, j)
    elif radius == 2:  # two codes whose radius-1 balls share a key are at most 2 bits apart
        ball: dict[int, int] = {}
        for k, i in first.items():
            for key in (k, *(k ^ f for f in flips)):
                j = ball.setdefault(key, i)
                if j != i:
                    union(i, j)
    else:
        for i, j in _pairs_within(codes[list(first.values())], radius, list(first.values())):
            union(i, j)
    roots = {i: find(i) for i in parent}
    return np.fromiter((roots[r] for r in rep), np.int64, len(rep))


def _pairs_within(codes: np.ndarray, radius: int, ids: list[int], chunk: int = 1024):
    """All pairs (ids[a], ids[b]), a < b, whose codes differ in at most ``radius`` bits."""
    words = np.ascontiguousarray(codes)
    pad = (-words.shape[1]) % 8
    words = np.pad(words, ((0, 0), (0, pad))).view(np.uint64)  # (N, W) 64-bit words
    for s in range(0, len(words), chunk):
        dist = sum(
            np.bitwise_count(words[s : s + chunk, w, None] ^ words[None, :, w]).astype(np.int32)
            for w in range(words.shape[1])
        )
        for a, b in zip(*np.nonzero(dist <= radius), strict=True):
            if s + a < b:
                yield ids[s + a], ids[b]


def duplicate_groups(rep: np.ndarray) -> list[np.ndarray]:
    """Groups with two or more images (index arrays, first image first), largest first."""
    order = np.argsort(rep, kind="stable")
    starts = np.flatnonzero(np.r_[True, rep[order][1:] != rep[order][:-1]])
    groups = [g for g in np.split(order, starts[1:]) if len(g) > 1]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def keep_indices(rep: np.ndarray) -> np.ndarray:
    """Indices to keep: the first image (in dataset order) of every group."""
    return np.flatnonzero(rep == np.arange(len(rep)))


def predicted_pairs(rep: np.ndarray) -> set[tuple[int, int]]:
    """All pairs (i < j) that share a group."""
    pairs = set()
    for g in duplicate_groups(rep):
        g = np.sort(g)
        pairs.update((int(a), int(b)) for k, a in enumerate(g) for b in g[k + 1 :])
    return pairs


def n_pairs(rep: np.ndarray) -> int:
    """Number of pairs sharing a group (without listing them)."""
    _, counts = np.unique(rep, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def write_keep_list(names: Sequence[str], rep: np.ndarray, path: str | os.PathLike) -> int:
    """Write the names of the images to keep, one per line (``TrainConfig.keep_list`` reads it)."""
    keep = keep_indices(rep)
    Path(path).write_text("".join(f"{names[i]}\n" for i in keep))
    return len(keep)


# ---------------------------------------------------------------------------------------------
# Ground truth: planted near-duplicates and a pixel-space judge


def made_images(n: int, size: int = IMAGE_SIZE, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8 images, all distinct: random smooth colour fields with a few
    strokes. Test-made data for smoke runs and tests (no real data needed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.zeros((size, size, 3))
        for _ in range(4):  # low-frequency cosines in random directions
            f, phase = rng.uniform(0.5, 3.0, 2), rng.uniform(0, 2 * np.pi)
            img += np.cos(2 * np.pi * (f[0] * xx + f[1] * yy) + phase)[..., None] * rng.uniform(
                -60, 60, 3
            )
        for _ in range(rng.integers(1, 4)):  # a few bars
            x0, y0 = rng.integers(0, size - 4, 2)
            img[y0 : y0 + rng.integers(2, size // 2), x0 : x0 + rng.integers(2, size // 2)] += (
                rng.uniform(-90, 90, 3)
            )
        out[i] = np.clip(img + 128 + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    return out


def _resize(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    size = (size, size) if isinstance(size, int) else size
    return np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR))


def near_duplicate(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A near-duplicate of one (S, S, 3) uint8 image, and a note of what was done.

    kinds: ``jpeg`` (re-encode, quality 40-90), ``shift`` (1-3 px, edges replicated), ``crop``
    (1-3 px off each side, resized back), ``brightness`` (+-4 to 16 grey levels), ``contrast``
    (x 0.85-0.95 or 1.05-1.15 about the mean), ``resize`` (down to 16-24 px and back up).
    """
    s = img.shape[0]
    if kind == "jpeg":
        q = int(rng.integers(40, 91))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q)
        return np.asarray(Image.open(buf).convert("RGB")), f"q={q}"
    if kind == "shift":
        while True:
            dx, dy = (int(v) for v in rng.integers(-3, 4, 2))
            if dx or dy:
                break
        p = np.pad(img, ((3, 3), (3, 3), (0, 0)), mode="edge")
        return p[3 + dy : 3 + dy + s, 3 + dx : 3 + dx + s], f"dx={dx},dy={dy}"
    if kind == "crop":  # 1-3 px off each axis, split at random between its two sides
        cy, cx = (int(v) for v in rng.integers(1, 4, 2))
        t, left = int(rng.integers(0, cy + 1)), int(rng.integers(0, cx + 1))
        crop = img[t : s - (cy - t), left : s - (cx - left)]
        return _resize(np.ascontiguousarray(crop), s), f"crop y{cy} x{cx}"
    if kind == "brightness":
        d = int(rng.integers(4, 17)) * int(rng.choice([-1, 1]))
        return np.clip(img.astype(np.int16) + d, 0, 255).astype(np.uint8), f"{d:+d}"
    if kind == "contrast":
        c = float(rng.uniform(0.05, 0.15)) * float(rng.choice([-1, 1])) + 1
        m = img.mean()
        return np.clip((img - m) * c + m + 0.5, 0, 255).astype(np.uint8), f"x{c:.2f}"
    if kind == "resize":
        k = int(rng.integers(16, 25))
        return _resize(_resize(img, k), s), f"{s}->{k}->{s}"
    raise ValueError(f"unknown near-duplicate kind {kind!r}; choose one of {TRANSFORMS}")


@dataclass
class Planted:
    """Real images with near-duplicates mixed in: ``images[n_base + k]`` copies ``images[source[k]]``."""

    images: np.ndarray  # (n_base + n_planted, S, S, 3) uint8
    n_base: int
    source: np.ndarray  # (n_planted,) index of the original of each copy
    kind: list[str]  # (n_planted,) transform name
    note: list[str]

    @property
    def pairs(self) -> set[tuple[int, int]]:
        return {(int(s), self.n_base + k) for k, s in enumerate(self.source)}


def plant_duplicates(
    base: np.ndarray, n_planted: int, seed: int = 0, kinds: Sequence[str] = TRANSFORMS
) -> Planted:
    """Append ``n_planted`` near-duplicates of distinct random base images, kinds in turn."""
    rng = np.random.default_rng(seed)
    source = rng.choice(len(base), size=n_planted, replace=False)
    copies, kind, note = [], [], []
    for k, s in enumerate(source):
        name = kinds[k % len(kinds)]
        img, how = near_duplicate(np.asarray(base[s]), name, rng)
        copies.append(img)
        kind.append(name)
        note.append(how)
    images = np.concatenate([np.asarray(base), np.stack(copies)]) if copies else np.asarray(base)
    return Planted(images, len(base), source, kind, note)


def pair_distance(a: np.ndarray, b: np.ndarray, max_shift: int = 3, blur: int = 3) -> np.ndarray:
    """Pixel-space judge: (P, S, S, 3) uint8 pairs -> (P,) distance. Both images are blurred
    (a ``blur`` x ``blur`` box, so re-sampling and small crops barely count); for every shift up to
    ``max_shift`` px the overlapping parts are standardized (mean 0, std 1 per image: brightness
    and contrast do not count) and compared by RMS difference; the smallest over shifts is kept.
    Planted near-duplicates score below about 0.4, unrelated images above about 0.5."""

    def smooth(x: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x)).float().permute(0, 3, 1, 2)
        x = torch.nn.functional.avg_pool2d(x, blur, 1, blur // 2, count_include_pad=False)
        return x.permute(0, 2, 3, 1)

    a, b = smooth(a), smooth(b)
    s, m = a.shape[1], max_shift
    best = torch.full((len(a),), float("inf"))
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            pa = a[:, max(dy, 0) : s + min(dy, 0), max(dx, 0) : s + min(dx, 0)].reshape(len(a), -1)
            pb = b[:, max(-dy, 0) : s + min(-dy, 0), max(-dx, 0) : s + min(-dx, 0)].reshape(
                len(b), -1
            )
            pa = pa - pa.mean(1, keepdim=True)
            pb = pb - pb.mean(1, keepdim=True)
            va, vb, cov = pa.pow(2).mean(1), pb.pow(2).mean(1), (pa * pb).mean(1)
            sa, sb = va.sqrt().clamp_min(2.0), vb.sqrt().clamp_min(2.0)  # a flat image: std floor
            d2 = va / sa**2 + vb / sb**2 - 2 * cov / (sa * sb)  # mean((pa/sa - pb/sb)^2)
            best = torch.minimum(best, d2.clamp_min(0).sqrt())
    return best.numpy()


JUDGE_THRESHOLD = 0.45  # pair_distance below this: a near-duplicate (calibrated on planted pairs)


def judge_pairs(
    images: np.ndarray, pairs: Sequence[tuple[int, int]], batch: int = 2048
) -> np.ndarray:
    """pair_distance for index pairs into ``images``."""
    pairs = np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)
    out = [
        pair_distance(images[p[:, 0]], images[p[:, 1]])
        for p in (pairs[i : i + batch] for i in range(0, len(pairs), batch))
    ]
    return np.concatenate(out) if out else np.zeros(0)


def sample_group_pairs(
    rep: np.ndarray, k: int, seed: int = 0, exclude: set[tuple[int, int]] = frozenset()
) -> list[tuple[int, int]]:
    """Up to ``k`` pairs (i < j) drawn uniformly from all pairs sharing a group, none in
    ``exclude``; without listing the pairs, so a huge group costs nothing extra."""
    groups = duplicate_groups(rep)
    if not groups:
        return []
    rng = np.random.default_rng(seed)
    w = np.array([len(g) * (len(g) - 1) / 2 for g in groups])
    out: set[tuple[int, int]] = set()
    total = int(w.sum())
    for _ in range(20 * k):
        if len(out) >= min(k, total):
            break
        g = groups[rng.choice(len(groups), p=w / w.sum())]
        a, b = sorted(int(x) for x in rng.choice(g, 2, replace=False))
        if (a, b) not in exclude:
            out.add((a, b))
    return sorted(out)


def random_pairs(n: int, k: int, seed: int = 0) -> np.ndarray:
    """(k, 2) random pairs of distinct indices below n."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, k)
    return np.stack([a, (a + rng.integers(1, n, k)) % n], 1)


def planted_scores(planted: Planted, rep: np.ndarray, judged_duplicate: float = 0.0) -> dict:
    """Recall (overall and per kind) and precision of a grouping against the planted pairs.

    precision_strict counts every predicted pair that is not planted as a false positive;
    precision counts as true also the share ``judged_duplicate`` of the other pairs that the pixel
    judge calls near-duplicates (the real images hold natural duplicates of their own)."""
    truth = sorted(planted.pairs)
    found = np.array([rep[a] == rep[b] for a, b in truth]) if truth else np.zeros(0, bool)
    kinds = [planted.kind[k - planted.n_base] for _, k in truth]
    predicted, tp = n_pairs(rep), int(found.sum())
    nan = float("nan")
    return {
        "n_images": len(rep),
        "n_planted": len(truth),
        "predicted_pairs": predicted,
        "true_positives": tp,
        "other_pairs": predicted - tp,
        "other_pairs_judged_duplicate": judged_duplicate,
        "recall": float(found.mean()) if len(found) else nan,
        "recall_by_kind": {
            k: float(found[[x == k for x in kinds]].mean()) for k in dict.fromkeys(kinds)
        },
        "precision_strict": tp / predicted if predicted else nan,
        "precision": (tp + judged_duplicate * (predicted - tp)) / predicted if predicted else nan,
    }


# ---------------------------------------------------------------------------------------------
# Speed


def hash_speed(
    model: DedupAutoencoder,
    images: np.ndarray,
    sizes: Sequence[int],
    device: str = "cpu",
    repeats: int = 3,
    radius_1: bool = True,
) -> list[dict]:
    """Seconds to hash and to group the first n images, for each n in ``sizes`` (best of
    ``repeats``; grouping at radius 1 timed once): the cost grows linearly with n."""
    rows = []
    for n in sizes:
        x = np.ascontiguousarray(images[:n])
        t_hash, t_group = math.inf, math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            codes = image_codes(model, x, device=device)  # ends with a copy to the CPU: synchronous
            t1 = time.perf_counter()
            rep = group_codes(codes)
            t2 = time.perf_counter()
            t_hash, t_group = min(t_hash, t1 - t0), min(t_group, t2 - t1)
        row = {
            "n": int(n),
            "hash_s": t_hash,
            "group_s": t_group,
            "images_per_s": n / (t_hash + t_group),
            "hash_images_per_s": n / t_hash,
            "groups": int(len(keep_indices(rep))),
        }
        if radius_1:
            t0 = time.perf_counter()
            row["groups_radius_1"] = int(len(keep_indices(group_codes(codes, 1))))
            row["group_radius_1_s"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def linear_fit(n: Sequence[float], seconds: Sequence[float]) -> dict:
    """Least-squares seconds = a + b n: slope b (s per image), intercept a, R^2."""
    n, t = np.asarray(n, float), np.asarray(seconds, float)
    b, a = np.polyfit(n, t, 1)
    r2 = 1 - ((t - (a + b * n)) ** 2).sum() / max(((t - t.mean()) ** 2).sum(), 1e-30)
    return {"seconds_per_image": float(b), "intercept_s": float(a), "r2": float(r2)}


def speed_benchmark(
    model: DedupAutoencoder,
    images: np.ndarray,
    sizes: Sequence[int],
    repeats: int = 3,
    data: str = "",
) -> dict:
    """hash_speed on the CPU and, when CUDA is available, on the GPU, with a linear fit of the
    total time against n. The JSON of ``benchmarks/dedup_speed.py`` and ``speed.json``."""
    import platform

    sizes = sorted({min(int(n), len(images)) for n in sizes})
    out: dict = {
        "benchmark": "dedup_speed",
        "data": data,
        "n_available": len(images),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": None,
    }
    runs = [("cpu", "cpu")] + ([("cuda", "cuda")] if torch.cuda.is_available() else [])
    for key, device in runs:
        if device == "cuda":
            image_codes(model, images[:4096], device=device)  # warm-up
        rows = hash_speed(model, images, sizes, device, repeats, radius_1=device == "cpu")
        out[key] = {
            "device": device_name(device),
            "rows": rows,
            "fit_total": linear_fit(
                [r["n"] for r in rows], [r["hash_s"] + r["group_s"] for r in rows]
            ),
        }
    model.to("cpu")
    return out


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import platform

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {torch.get_num_threads()} threads"


# ---------------------------------------------------------------------------------------------
# The study: one entry point for the CLI, the notebook and the tests


@dataclass
class StudyConfig:
    """One de-duplication study: train (or load) the autoencoder, planted pairs, natural
    collisions, speed. Three sizes: ``STUDY_CONFIGS['smoke' | 'book' | 'full']``."""

    mode: str = "book"
    ae: DedupConfig = field(default_factory=DedupConfig)
    train: bool = False  # full: train on train_sets; book: load artifacts/dedup_ae
    train_sets: tuple[tuple[str, str], ...] = (("tinyimagenet", "train"), ("cifar10", "train"))
    eval_sets: tuple[tuple[str, str], ...] = (("tinyimagenet", "val"), ("cifar10", "test"))
    natural_sets: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("cifar10", ("train", "test")),
        ("tinyimagenet", ("train", "val")),
    )
    n_planted: int = 3000
    radii: tuple[int, ...] = (0, 1, 2)
    phash_radii: tuple[int, ...] = (0, 2, 4, 8)
    natural_radii: tuple[int, ...] = (0, 1)  # must start with 0 (the paper's rule, the galleries)
    natural_phash_radii: tuple[int, ...] = (0, 2)  # linear-time radii only: 170k images
    speed_sizes: tuple[int, ...] = ()  # empty: no speed measurement
    gallery: int = 12  # natural collision groups kept for display, per dataset and radius
    judge_sample: int = 1000  # natural colliding pairs judged per dataset (all if fewer)
    limit: int | None = None  # first N images of each set (smoke)
    max_minutes: float | None = 10.0


STUDY_CONFIGS = {
    "smoke": StudyConfig(
        mode="smoke",
        ae=DedupConfig(epochs=3, batch_size=64),
        train=True,
        train_sets=(),
        eval_sets=(),
        natural_sets=(),
        n_planted=60,
        radii=(0, 1),
        phash_radii=(0, 4),
        speed_sizes=(200, 400),
        gallery=4,
        judge_sample=100,
        max_minutes=1.0,
    ),
    "book": StudyConfig(mode="book"),
    "full": StudyConfig(
        mode="full", train=True, speed_sizes=(10_000, 20_000, 40_000, 85_000, 170_000)
    ),
}


@dataclass
class StudyResult:
    """Metrics (JSON-able) and, when the data was at hand, images for the galleries."""

    metrics: dict
    model: DedupAutoencoder | None = None
    planted: Planted | None = None
    galleries: dict = field(
        default_factory=dict
    )  # "dataset, radius r" -> [{names, images, distance}]
    recomputed: bool = True


def _load(
    sets: Sequence[tuple[str, str]], data_root, cache_dir, limit, progress
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """(images, 'dataset:name' names, class labels or None) of several sets, concatenated."""
    from dcgan_lib.data import load_dataset

    images, names, labels = [], [], []
    for name, split in sets:
        p = load_dataset(name, data_root, split, IMAGE_SIZE, cache_dir, limit, progress=progress)
        images.append(np.asarray(p.images))
        names += [f"{name}:{n}" for n in p.names]
        labels.append(p.labels if p.labels is not None and p.labels.ndim == 1 else None)
    has_labels = all(lab is not None for lab in labels)
    return np.concatenate(images), names, np.concatenate(labels) if has_labels else None


def evaluate_planted(
    planted: Planted, codes: np.ndarray, radii: Sequence[int], judge_sample: int = 1000
) -> dict:
    """planted_scores for each radius; up to ``judge_sample`` of the predicted pairs that are not
    planted are judged in pixel space."""
    out = {}
    for r in radii:
        rep = group_codes(codes, r)
        other = sample_group_pairs(rep, judge_sample, exclude=planted.pairs)
        dist = judge_pairs(planted.images, other)
        out[str(r)] = planted_scores(
            planted, rep, float((dist < JUDGE_THRESHOLD).mean()) if len(dist) else 0.0
        )
    return out


def natural_duplicates(
    images: np.ndarray,
    names: Sequence[str],
    codes: np.ndarray,
    radius: int = 0,
    judge_sample: int = 1000,
    gallery: int = 16,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> tuple[dict, list]:
    """Collision groups in a real dataset: counts, a pixel-judged precision (on up to
    ``judge_sample`` pairs, each image against its group's first), and ``gallery`` groups drawn at
    random for display ({names, images, distance to the first}). A name's split is its part
    before the first '/' (after an optional 'dataset:' prefix); test and val are held out."""
    rep = group_codes(codes, radius)
    groups = duplicate_groups(rep)
    rng = np.random.default_rng(seed)
    pairs = [(int(g[0]), int(b)) for g in groups for b in g[1:]]
    pick = np.sort(rng.choice(len(pairs), min(judge_sample, len(pairs)), replace=False))
    dist = judge_pairs(images, [pairs[i] for i in pick])
    split = np.array([n.split(":", 1)[-1].split("/", 1)[0] for n in names])
    heldout = np.isin(split, ("test", "val"))
    in_group = np.zeros(len(rep), bool)
    for g in groups:
        in_group[g] = True
    metrics = {
        "n_images": len(rep),
        "radius": radius,
        "groups": len(groups),
        "images_in_groups": int(in_group.sum()),
        "removed": int(len(rep) - len(keep_indices(rep))),
        "largest_group": int(max((len(g) for g in groups), default=1)),
        "identical_pairs": sum(bool((images[a] == images[b]).all()) for a, b in pairs),
        "cross_split_groups": sum(len(set(split[g])) > 1 for g in groups),
        "cross_class_groups": None
        if labels is None
        else sum(len(set(labels[g])) > 1 for g in groups),
        "n_heldout": int(heldout.sum()),
        "heldout_in_groups": int((heldout & in_group).sum()),  # test/val images with any duplicate
        "judged_pairs": len(dist),
        "judged_duplicate": int((dist < JUDGE_THRESHOLD).sum()),
        "precision_judged": float((dist < JUDGE_THRESHOLD).mean()) if len(dist) else float("nan"),
    }
    shown = [
        groups[i]
        for i in np.sort(rng.choice(len(groups), min(gallery, len(groups)), replace=False))
    ]
    gal = [
        {
            "names": [names[i] for i in g],
            "images": np.asarray(images[g]),
            "distance": judge_pairs(images, [(int(g[0]), int(b)) for b in g]).tolist(),
        }
        for g in shown
    ]
    return metrics, gal


def _artifact_json(filename: str = "metrics.json") -> dict | None:
    from dcgan_lib.artifacts import ArtifactMissing, require

    try:
        return json.loads(require(ARTIFACT, filename).read_text())
    except ArtifactMissing:
        return None


def run_dedup_study(
    cfg: StudyConfig,
    data_root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    export: bool | None = None,
    progress: bool = True,
) -> StudyResult:
    """The whole §4.1.1 study. smoke: test-made images, a short training; book: the stored
    autoencoder, recomputed on the real data when ``data_root`` is given, else the stored metrics;
    full: trains on the real data (checkpoints in ``out``, default ``runs/dedup_ae``: run again to
    resume) and, with ``export`` (default in full mode), writes ``artifacts/dedup_ae``.
    Paper: §4.1.1."""
    t_start = time.monotonic()
    metrics: dict = {"mode": cfg.mode, "config": dataclasses.asdict(cfg)}
    smoke = not cfg.train_sets and not cfg.eval_sets
    if cfg.mode == "book" and data_root is None:
        stored = _artifact_json()
        if stored is None:
            from dcgan_lib.artifacts import PRODUCERS, ArtifactMissing

            raise ArtifactMissing(
                f"{ARTIFACT}/metrics.json: not produced yet: run {PRODUCERS[ARTIFACT]}"
            )
        stored["speed"] = _artifact_json("speed.json") or stored.get("speed", {})
        return StudyResult(stored, load_autoencoder(), recomputed=False)

    # 1. the autoencoder
    if cfg.train:
        train_images = (
            made_images(2000, seed=1)
            if smoke
            else _load(cfg.train_sets, data_root, cache_dir, cfg.limit, progress)[0]
        )
        if out is None and not smoke:
            from dcgan_lib.book import repo_root

            out = repo_root() / "runs" / "dedup_ae"
        model, history = train_autoencoder(cfg.ae, train_images, out, cfg.max_minutes, progress)
        model = _as_stored(model)  # measure exactly the model that ae.pt will hold (fp16 weights)
        metrics["train"] = {
            "n_images": len(train_images),
            "history": history,
            "sets": [list(s) for s in cfg.train_sets] or ["made_images"],
        }
    else:
        model = load_autoencoder()
        stored = _artifact_json() or {}
        metrics["train"] = stored.get("train", {})
    metrics["n_params"] = sum(p.numel() for p in model.parameters())

    # 2. planted near-duplicates in held-out real images: AE and pHash on the same ground truth
    base = (
        made_images(400, seed=2)
        if smoke
        else _load(cfg.eval_sets, data_root, cache_dir, cfg.limit, progress)[0]
    )
    planted = plant_duplicates(base, cfg.n_planted, seed=cfg.ae.seed)
    ae_codes = image_codes(model, planted.images)
    ph_codes = phash_codes(planted.images)
    metrics["planted"] = {
        "sets": [list(s) for s in cfg.eval_sets] or ["made_images"],
        "autoencoder": evaluate_planted(planted, ae_codes, cfg.radii, cfg.judge_sample),
        "phash": evaluate_planted(planted, ph_codes, cfg.phash_radii, cfg.judge_sample),
    }
    planted_dist = judge_pairs(planted.images, sorted(planted.pairs))
    metrics["planted"]["judge"] = {
        "threshold": JUDGE_THRESHOLD,
        "planted_below": float((planted_dist < JUDGE_THRESHOLD).mean()),
        "random_below": float(
            (judge_pairs(base, random_pairs(len(base), 2000)) < JUDGE_THRESHOLD).mean()
        ),
    }

    # 3. natural near-duplicates in each real dataset
    result = StudyResult(metrics, model, planted)
    metrics["natural"] = {}
    natural = cfg.natural_sets or ((("made_images", ("made",)),) if smoke else ())
    for name, splits in natural:
        if name == "made_images":  # the base images and 20 exact copies: the smoke run's duplicates
            images, labels = np.concatenate([base, base[:20]]), None
            names = [f"made/{i:05d}" for i in range(len(images))]
        else:
            sets = [(name, s) for s in splits]
            images, names, labels = _load(sets, data_root, cache_dir, cfg.limit, progress)
        codes, ph = image_codes(model, images, progress=progress), phash_codes(images)
        kw = {"judge_sample": cfg.judge_sample, "labels": labels}
        ae_runs = {
            str(r): natural_duplicates(images, names, codes, r, gallery=cfg.gallery, **kw)
            for r in cfg.natural_radii
        }
        metrics["natural"][name] = {
            "n_images": len(images),
            "n_heldout": ae_runs["0"][0]["n_heldout"],
            "autoencoder": {r: m for r, (m, _) in ae_runs.items()},
            "phash": {
                str(r): natural_duplicates(images, names, ph, r, gallery=0, **kw)[0]
                for r in cfg.natural_phash_radii
            },
        }
        result.galleries.update({f"{name}, radius {r}": gal for r, (_, gal) in ae_runs.items()})

    # 4. speed: hashing + grouping, several sizes (book mode: the stored benchmark)
    if cfg.speed_sizes:
        if smoke:
            pool, what = made_images(max(cfg.speed_sizes), seed=3), "made_images"
        else:
            pool = np.concatenate(
                [
                    _load([(n, s) for s in sp], data_root, cache_dir, cfg.limit, False)[0]
                    for n, sp in cfg.natural_sets
                ]
            )
            what = ", ".join(f"{n} {'+'.join(sp)}" for n, sp in cfg.natural_sets)
        metrics["speed"] = speed_benchmark(model, pool, cfg.speed_sizes, data=what)
    else:
        metrics["speed"] = _artifact_json("speed.json") or {}
    metrics["seconds"] = time.monotonic() - t_start

    if export if export is not None else cfg.mode == "full":
        export_study(result)
    return result


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.integer | np.floating):
        return _jsonable(x.item())
    return x


def export_study(result: StudyResult, root: Path | None = None) -> list[Path]:
    """Write ``artifacts/dedup_ae/{ae.pt, metrics.json, speed.json}`` and record them in the
    manifest (speed.json only when the study measured speed)."""
    from dcgan_lib.artifacts import PRODUCERS, artifacts_dir, register

    dest = (root or artifacts_dir()) / ARTIFACT
    dest.mkdir(parents=True, exist_ok=True)
    save_autoencoder(result.model, dest / "ae.pt")
    files = ["ae.pt", "metrics.json"]
    (dest / "metrics.json").write_text(json.dumps(_jsonable(result.metrics), indent=1) + "\n")
    if result.metrics.get("speed", {}).get("cpu"):
        (dest / "speed.json").write_text(
            json.dumps(_jsonable(result.metrics["speed"]), indent=1) + "\n"
        )
        files.append("speed.json")
    config = json.dumps(dataclasses.asdict(result.model.cfg), sort_keys=True)
    return [
        register(f"{ARTIFACT}/{f}", dest / f, PRODUCERS[ARTIFACT], config, root=root) for f in files
    ]


# ---------------------------------------------------------------------------------------------
# The sweep behind the open settings: short trainings scored on the study's planted pairs

SWEEP_COMMAND = (
    "python -m dcgan_lib dedup-sweep --data-root ../shared/data  (CPU, about an hour on 2 cores)"
)
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


SWEEP_SIZES = {
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
    codes = image_codes(_as_stored(model), planted.images)
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
        train_pool = _load(base.train_sets, data_root, cache_dir, None, progress)[0]
        held_out = _load(base.eval_sets, data_root, cache_dir, None, progress)[0]
    pick = np.sort(np.random.default_rng(base.ae.seed).permutation(len(train_pool))[: size.n_train])
    train_images = train_pool[pick]
    planted = plant_duplicates(held_out, size.n_planted, seed=base.ae.seed)
    result.update(
        n_train_pool=len(train_pool),
        n_planted_images=len(planted.images),
        machine=device_name("cpu"),
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
        result = _jsonable(result)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, out)
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
# Command line: `python -m dcgan_lib dedup ...` and `python -m dcgan_lib dedup-study ...`


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="write a keep list without near-duplicates; paper §4.1.1")
    p.add_argument("--data", required=True, help="dataset name (as for train)")
    p.add_argument(
        "--data-root", default=None, help="folder holding the data (default: $DCGAN_DATA)"
    )
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True, help="keep list to write: image names, one per line")
    p.add_argument(
        "--radius", type=int, default=0, choices=(0, 1, 2), help="paper: 0 (exact collisions)"
    )
    p.add_argument(
        "--model", default=None, help="autoencoder weights (default: artifacts/dedup_ae/ae.pt)"
    )
    p.add_argument(
        "--groups", default=None, help="also write the duplicate groups here (tab-separated names)"
    )
    p.add_argument("--cache-dir", default=None)
    s = sub.add_parser(
        "dedup-study", help="train / evaluate the dedup autoencoder (artifacts/dedup_ae)"
    )
    s.add_argument("--mode", default="full", choices=sorted(STUDY_CONFIGS))
    s.add_argument("--data-root", default=None, help="default: $DCGAN_DATA")
    s.add_argument("--cache-dir", default=None)
    s.add_argument(
        "--out",
        default=None,
        help="training checkpoint folder (default runs/dedup_ae); "
        "run the same command again to resume",
    )
    s.add_argument(
        "--no-export", action="store_true", help="full mode: do not write artifacts/dedup_ae"
    )
    w = sub.add_parser(
        "dedup-sweep",
        help="the settings sweep behind the dedup autoencoder's open choices "
        "(artifacts/dedup_ae/sweep.json)",
    )
    w.add_argument("--size", default="full", choices=sorted(SWEEP_SIZES))
    w.add_argument("--data-root", default=None, help="default: $DCGAN_DATA")
    w.add_argument("--cache-dir", default=None)
    w.add_argument("--out", default=None, help="default: artifacts/dedup_ae/sweep.json (full size)")


def run_cli(a: argparse.Namespace) -> int:
    from dcgan_lib.data import load_dataset, resolve_data_root

    if a.command == "dedup-sweep":
        return _run_sweep_cli(a)
    if a.command == "dedup-study":
        root = resolve_data_root(a.data_root) if a.mode != "smoke" else None
        result = run_dedup_study(
            STUDY_CONFIGS[a.mode],
            root,
            a.cache_dir,
            a.out,
            export=a.mode == "full" and not a.no_export,
        )
        print(
            json.dumps(
                _jsonable(
                    {k: result.metrics[k] for k in ("planted", "natural") if k in result.metrics}
                ),
                indent=1,
            )
        )
        return 0
    packed = load_dataset(a.data, a.data_root, a.split, IMAGE_SIZE, a.cache_dir)
    model = load_autoencoder(a.model)
    rep = group_codes(image_codes(model, np.asarray(packed.images), progress=True), a.radius)
    kept = write_keep_list(packed.names, rep, a.out)
    if a.groups:
        Path(a.groups).write_text(
            "".join("\t".join(packed.names[i] for i in g) + "\n" for g in duplicate_groups(rep))
        )
    print(
        f"{a.data} {a.split}: kept {kept} of {len(rep)} images "
        f"({len(rep) - kept} near-duplicates removed, radius {a.radius}); keep list {a.out}"
    )
    return 0


def _run_sweep_cli(a: argparse.Namespace) -> int:
    from dcgan_lib.artifacts import artifacts_dir, register
    from dcgan_lib.data import resolve_data_root

    size = SWEEP_SIZES[a.size]
    root = None if size.smoke else resolve_data_root(a.data_root)
    default = artifacts_dir() / ARTIFACT / "sweep.json" if not size.smoke else Path("sweep.json")
    out = Path(a.out) if a.out else default
    started = time.monotonic()
    result = run_sweep(size, root, out, cache_dir=a.cache_dir)
    try:
        name = out.resolve().relative_to(artifacts_dir().resolve()).as_posix()
    except ValueError:
        name = None  # a file outside artifacts/ (smoke, tests)
    if name is not None:
        seconds = sum(s["seconds"] for s in result["settings"].values())
        config = json.dumps(dataclasses.asdict(size), sort_keys=True)
        register(
            name,
            out,
            SWEEP_COMMAND,
            config,
            extra={"machine": result["machine"], "cpu_seconds": round(seconds)},
        )
    print(f"{len(result['settings'])} settings in {out} ({time.monotonic() - started:.0f} s)")
    return 0
