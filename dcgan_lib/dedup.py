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

How well the hash finds near-duplicates is measured in ``dcgan_lib.near_duplicates`` (planted
copies, a pixel-space judge) by the study ``dcgan_lib.studies.dedup``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dcgan_lib.artifacts import require
from dcgan_lib.storage import atomic_write

IMAGE_SIZE = 32  # paper: "32x32 downsampled center-crops"
N_IN = IMAGE_SIZE * IMAGE_SIZE * 3  # 3072
ARTIFACT = "dedup_ae"  # artifacts/dedup_ae/: ae.pt, metrics.json, speed.json


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
                state = {
                    "config": dataclasses.asdict(cfg),
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "history": json.dumps(history),
                }
                atomic_write(ckpt, lambda f, state=state: torch.save(state, f))
            if max_minutes is not None and time.monotonic() - started > max_minutes * 60:
                break
    return model.eval(), history


def save_autoencoder(model: DedupAutoencoder, path: str | os.PathLike) -> None:
    """fp16 weights plus the config (about 1.6 MB)."""
    state = {k: v.half() for k, v in model.state_dict().items()}
    torch.save({"config": dataclasses.asdict(model.cfg), "state": state}, path)


def as_stored(model: DedupAutoencoder) -> DedupAutoencoder:
    """The model with its weights rounded to fp16 and back, as ``save_autoencoder`` stores them."""
    model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return model


def load_autoencoder(path: str | os.PathLike | None = None) -> DedupAutoencoder:
    """The stored autoencoder (default: ``artifacts/dedup_ae/ae.pt``, sha256-checked), float32."""
    if path is None:
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
