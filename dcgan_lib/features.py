"""The discriminator as a feature extractor (paper §5): every conv layer, max-pooled to 4x4.

Paper §5.1: "we use the discriminator's convolutional features from all layers, maxpooling each
layers representation to produce a 4 x 4 spatial grid. These features are then flattened and
concatenated to form a 28672 dimensional vector". From the authors' SVHN script:

- each layer is taken after its LeakyReLU, pooled with non-overlapping windows
  (kernel = stride = H/4, the identity at 4x4), flattened channel-major, concatenated in layer
  order: ``16 * sum(channels)`` features (imagenet32: 16 x 1,792 = 28,672);
- BatchNorm at feature time uses statistics measured on the training images: the mean and biased
  variance of each 128-image batch (earlier layers normalized by that batch, as in training),
  averaged over the batches; the trained scale and shift are kept (``bn_mode="batch_avg"``).
  ``bn_mode="running"`` uses the running averages kept during GAN training instead;
- no scaling, PCA or normalization of the features afterwards.

``pixel_features`` is the no-learning baseline: the raw pixels, exactly as D sees them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.config import ModelConfig
from dcgan_lib.data import to_float
from dcgan_lib.models import Discriminator

M = TypeVar("M", bound=nn.Module)
BN_MODES = ("batch_avg", "running")
GRID = 4  # paper §5.1: a 4 x 4 spatial grid per layer


def layer_sizes(cfg: ModelConfig) -> list[tuple[int, int]]:
    """[(channels, map size), ...] of D's conv blocks, from pixels to 4x4."""
    size, out = cfg.image_size, []
    for channels, stride in cfg.discriminator_layers():
        size //= stride
        out.append((channels, size))
    return out


def feature_dim(cfg: ModelConfig) -> int:
    """Length of the feature vector: 16 per channel of every D conv layer (imagenet32: 28,672)."""
    return GRID * GRID * sum(c for c, _ in layer_sizes(cfg))


def pool_to_grid(h: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C*16): max over non-overlapping H/4 x W/4 windows, channel-major."""
    height, width = h.shape[-2:]
    if height % GRID or width % GRID:
        raise ValueError(f"a {height}x{width} map cannot be max-pooled to a {GRID}x{GRID} grid")
    kernel = (height // GRID, width // GRID)
    if kernel != (1, 1):
        h = F.max_pool2d(h, kernel, kernel)  # authors: dnn_pool(h, (k, k), (k, k), mode="max")
    return h.flatten(1)  # (B, C, 4, 4) -> index c*16 + 4*i + j


def pooled_features(D: Discriminator, x: torch.Tensor) -> torch.Tensor:
    """images (B, nc, S, S) in [-1, 1] -> features (B, feature_dim). Paper: §5.1."""
    return torch.cat([pool_to_grid(h) for h in D.features(x)], dim=1)


def pixel_features(images_uint8: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Raw pixels as features: (N, S, S, 3) uint8 -> (N, 3*S*S) float32 in [-1, 1], channel-major
    (the images exactly as D sees them). The no-learning baseline of §5."""
    n = len(images_uint8)
    out = np.empty((n, int(np.prod(images_uint8.shape[1:]))), np.float32)
    for s in range(0, n, chunk):
        batch = torch.from_numpy(np.array(images_uint8[s : s + chunk]))
        out[s : s + chunk] = to_float(batch).flatten(1).numpy()
    return out


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def average_batch_stats(
    model: nn.Module, batches: Iterable[torch.Tensor], device: torch.device | str = "cpu"
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per BatchNorm layer of ``model`` (in module order): the mean and biased variance of its
    input over each batch (per channel; per unit for BatchNorm1d), averaged over the batches.

    Each batch runs through a copy of the model in training mode, so every layer is normalized by
    that batch's own statistics while the next layer's are measured (the authors'
    ``infer_bnorm_stats``). The model itself is not changed; the batches must be on ``device``.
    Paper: §5, authors' SVHN script.
    """
    work = copy.deepcopy(model).to(device).train()
    bns = _batch_norms(work)
    sums: list[torch.Tensor | None] = [None] * len(bns)
    hooks = []

    def hook(i: int):
        def record(_m: nn.Module, inputs: tuple[torch.Tensor]) -> None:
            h = inputs[0].double()
            dims = (0, 2, 3) if h.dim() == 4 else (0,)
            mean = h.mean(dim=dims)
            var = h.var(dim=dims, unbiased=False)  # biased, as BN normalizes with it
            stat = torch.stack([mean, var])
            sums[i] = stat if sums[i] is None else sums[i] + stat

        return record

    for i, bn in enumerate(bns):
        hooks.append(bn.register_forward_pre_hook(hook(i)))
    run = work.features if isinstance(work, Discriminator) else work  # D's head has no BN
    n_batches = 0
    try:
        for batch in batches:
            run(batch)
            n_batches += 1
    finally:
        for h in hooks:
            h.remove()
    if n_batches == 0:
        raise ValueError("BN statistics need at least one batch of 2 or more")
    return [(s[0] / n_batches, s[1] / n_batches) for s in sums]  # type: ignore[index]


def batch_average_bn_stats(
    D: Discriminator,
    images_uint8: np.ndarray,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per BN layer: (mean, biased variance) of its input, averaged over 128-image batches.

    Each batch runs through D in training mode, so every layer is normalized by that batch's own
    statistics while the next layer's are measured (the authors' ``infer_bnorm_stats``,
    ``average_batch_stats``). Batches are taken in the given order (shuffle the pool first); a
    last batch of one image is dropped (its variance is zero). D itself is not changed.
    Paper: §5, authors' SVHN script.
    """
    starts = [s for s in range(0, len(images_uint8), batch_size) if len(images_uint8) - s >= 2]
    if not starts:
        raise ValueError("BN statistics need at least 2 images")

    def batches() -> Iterator[torch.Tensor]:
        for s in tqdm(starts, desc="BN statistics", unit="batch", disable=not progress):
            batch = torch.from_numpy(np.array(images_uint8[s : s + batch_size]))
            yield to_float(batch.to(device))

    return average_batch_stats(D, batches(), device)


def with_bn_stats(D: M, stats: list[tuple[torch.Tensor, torch.Tensor]]) -> M:
    """A copy of D (or any model with BatchNorm, G too) in eval mode whose BN layers normalize
    with ``stats`` (scale, shift kept)."""
    out = copy.deepcopy(D).eval()
    bns = _batch_norms(out)
    if len(bns) != len(stats):
        raise ValueError(f"D has {len(bns)} BatchNorm layers, but {len(stats)} statistics given")
    for bn, (mean, var) in zip(bns, stats, strict=True):
        bn.running_mean.copy_(mean.to(bn.running_mean))
        bn.running_var.copy_(var.to(bn.running_var))
    return out


def bn_stats_of(D: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The (mean, variance) buffers D's BN layers use in eval mode."""
    return [(bn.running_mean.clone(), bn.running_var.clone()) for bn in _batch_norms(D)]


def _allocate(shape: tuple[int, int], dtype: np.dtype, out: str | os.PathLike | None) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(out, mode="w+", dtype=dtype, shape=shape)


@torch.no_grad()
def extract_features(
    D: Discriminator,
    images_uint8: np.ndarray,
    bn_mode: str = "batch_avg",
    bn_images_uint8: np.ndarray | None = None,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    progress: bool = True,
    dtype: np.dtype | type = np.float32,
    out: str | os.PathLike | None = None,
    bn_stats: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> np.ndarray:
    """images (N, S, S, 3) uint8 -> features (N, feature_dim) of ``dtype``. Paper: §5.1.

    ``bn_mode="batch_avg"`` (the authors'): BN statistics from ``bn_images_uint8`` (the training
    pool, shuffled; default ``images_uint8``) via ``batch_average_bn_stats``, or the given
    ``bn_stats``; ``"running"``: the running statistics stored with D. ``dtype=np.float16`` halves
    the memory (60k x 28,672 float32 is 6.9 GB); ``out`` writes a ``.npy`` memmap there instead
    of holding the array in memory. D itself is not changed.
    """
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, not {bn_mode!r}")
    if bn_mode == "batch_avg" and bn_stats is None:
        pool = images_uint8 if bn_images_uint8 is None else bn_images_uint8
        bn_stats = batch_average_bn_stats(D, pool, batch_size, device, progress)
    model = with_bn_stats(D, bn_stats) if bn_mode == "batch_avg" else copy.deepcopy(D).eval()
    model = model.to(device)
    n, dim = len(images_uint8), feature_dim(D.cfg)
    feats = _allocate((n, dim), np.dtype(dtype), out)
    bar = tqdm(total=n, desc="D features", unit="img", disable=not progress)
    for s in range(0, n, batch_size):
        batch = torch.from_numpy(np.array(images_uint8[s : s + batch_size]))
        f = pooled_features(model, to_float(batch.to(device)))
        feats[s : s + len(batch)] = f.cpu().numpy().astype(feats.dtype, copy=False)
        bar.update(len(batch))
    bar.close()
    if isinstance(feats, np.memmap):
        feats.flush()
    return feats
