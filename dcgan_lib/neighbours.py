"""Nearest training images of generated samples: the memorization check (paper §6.1, §4).

The paper argues against memorization by pictures: smooth latent walks (§6.1) and samples that do
not look like copies (§4, Fig. 2). The direct check is to look up each sample's nearest images in
the training set, in two spaces, and see how close they are compared with how close real images
are to each other:

- ``pixel``: the RMS difference of the two images in [-1, 1] (0: identical; a copy is found at
  distance 0 exactly, a near copy just above it);
- a feature space: L2-normalised features of a network, so that a sample and a training image that
  differ by small shifts or colour changes can still be neighbours. ``ClassifierSpace`` uses the
  stored CelebA attribute classifier's pooled features (256-d, a few seconds for 10,000 images on a
  CPU, trained on faces); ``InceptionSpace`` the FID Inception pool features (2048-d, generic
  images, minutes for 10,000 images on a CPU: use it on a GPU or for small reference sets).

Everything works on any generator and any ``Packed`` dataset, chunk by chunk (10,000 64x64 images
are never held as one float array), and returns indices and distances only, so results can be
stored as JSON without the dataset's images; a gallery is drawn from the data at build time
(``dcgan_lib.plotting.neighbours_figure``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.data import Packed, to_float, to_uint8
from dcgan_lib.metrics import InceptionFeatures

# ---------------------------------------------------------------------------------------------
# Spaces: images (B, 3, S, S) float in [-1, 1] -> vectors (B, D); distance = Euclidean


class PixelSpace:
    """Flattened pixels scaled by 1/sqrt(D): the Euclidean distance is the RMS pixel difference
    on the [-1, 1] scale (0 to 2)."""

    name = "pixel"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        v = x.float().flatten(1)
        return v / math.sqrt(v.shape[1])


class ClassifierSpace:
    """The attribute classifier's global-average-pooled features (B, 256), L2-normalised
    (distances 0 to 2). BatchNorm in eval mode: a vector depends only on its own image."""

    name = "attribute classifier features"

    def __init__(self, classifier: torch.nn.Module) -> None:
        self.classifier = classifier.eval()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = self.classifier.features(x.float()).mean(dim=(2, 3))  # (B, widths[-1])
        return F.normalize(h, dim=1)


class InceptionSpace:
    """The FID Inception's 2048-d pool features (``dcgan_lib.metrics``), L2-normalised."""

    name = "Inception pool features"

    def __init__(self, net: torch.nn.Module | None = None, device: str = "cpu") -> None:
        self.net = (net or InceptionFeatures()).to(device)
        self.device = device

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(to_uint8(x).to(self.device)).float().cpu()
        return F.normalize(h, dim=1)


Space = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# The search


@dataclass
class Neighbours:
    """The ``k`` nearest reference images of each query: indices (Q, k) into the reference set
    and distances (Q, k), nearest first."""

    indices: np.ndarray
    distances: np.ndarray
    space: str

    def to_json(self, names: Sequence[str] | None = None) -> dict:
        """JSON-able: indices, distances (6 decimals) and, given the dataset's names, the names
        of the neighbours (never the images)."""
        out = {
            "space": self.space,
            "k": int(self.indices.shape[1]),
            "indices": self.indices.tolist(),
            "distances": np.round(self.distances, 6).tolist(),
        }
        if names is not None:
            out["names"] = [[names[int(i)] for i in row] for row in self.indices]
        return out

    @classmethod
    def from_json(cls, d: dict) -> Neighbours:
        """Back from ``to_json`` (a stored study): indices and distances, no images."""
        return cls(
            indices=np.asarray(d["indices"], dtype=np.int64),
            distances=np.asarray(d["distances"], dtype=np.float64),
            space=d["space"],
        )


def _images_of(reference: Packed | np.ndarray, idx: np.ndarray | slice) -> torch.Tensor:
    """(n, 3, S, S) float in [-1, 1] from uint8 (N, S, S, 3) images."""
    images = reference.images if isinstance(reference, Packed) else reference
    return to_float(torch.from_numpy(np.array(images[idx])))  # a writable copy of the rows


def _vectors(space: Space, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([space(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def reference_vectors(
    reference: Packed | np.ndarray, space: Space, chunk: int = 500, progress: bool = False
) -> torch.Tensor:
    """All reference images' vectors (N, D) float32: worth keeping for a feature space (10,000 x
    256 floats is 10 MB), not for pixels (10,000 x 12,288 floats is 490 MB)."""
    n = len(reference)
    return torch.cat(
        [
            _vectors(space, _images_of(reference, slice(s, s + chunk)))
            for s in tqdm(range(0, n, chunk), desc="reference vectors", disable=not progress)
        ]
    )


@torch.no_grad()
def nearest_training(
    samples: torch.Tensor,
    reference: Packed | np.ndarray,
    space: Space | None = None,
    k: int = 5,
    chunk: int = 500,
    reference_vecs: torch.Tensor | None = None,
    exclude: np.ndarray | None = None,
    progress: bool = False,
) -> Neighbours:
    """The ``k`` nearest reference images of each sample.

    samples: (Q, 3, S, S) float in [-1, 1] (generator outputs); reference: a ``Packed`` dataset or
    uint8 images (N, S, S, 3) of the same size; space: ``PixelSpace()`` (default) or a feature
    space; reference_vecs: the reference's vectors if already computed (``reference_vectors``);
    exclude: (Q,) one reference index per query never to return (-1: none), for leave-one-out
    distances of real images among themselves. The search runs over chunks of ``chunk`` reference
    images with the |a|^2 + |b|^2 - 2ab expansion, then recomputes the kept candidates' distances
    exactly, so an image that equals a sample is found at distance 0. Paper: §6.1.
    """
    space = space or PixelSpace()
    n = len(reference)
    if k > n:
        raise ValueError(f"k={k} neighbours asked of a reference set of {n} images")
    q = _vectors(space, samples.float())
    keep = min(n, k + 8)  # candidates kept per query before the exact re-ranking
    best_d = torch.full((len(q), 0), float("inf"))
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    q_sq = (q * q).sum(1, keepdim=True)
    ex = None if exclude is None else torch.as_tensor(np.asarray(exclude), dtype=torch.long)
    for s in tqdm(range(0, n, chunk), desc=f"neighbours ({space.name})", disable=not progress):
        e = min(s + chunk, n)
        r = (
            reference_vecs[s:e]
            if reference_vecs is not None
            else _vectors(space, _images_of(reference, slice(s, e)))
        )
        d = (q_sq + (r * r).sum(1)[None] - 2 * q @ r.T).clamp_min_(0)  # (Q, e - s) squared
        idx = torch.arange(s, e)[None].expand(len(q), -1)
        if ex is not None:
            d = d.masked_fill(idx == ex[:, None], float("inf"))
        d_all, i_all = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
        top = d_all.topk(min(keep, d_all.shape[1]), dim=1, largest=False)
        best_d, best_i = top.values, i_all.gather(1, top.indices)
    # exact distances of the candidates, then the final order
    cand = best_i.numpy()
    uniq, inverse = np.unique(cand, return_inverse=True)
    r = (
        reference_vecs[torch.from_numpy(uniq)]
        if reference_vecs is not None
        else _vectors(space, _images_of(reference, uniq))
    )
    exact = (q[:, None, :] - r[torch.from_numpy(inverse.reshape(cand.shape))]).norm(dim=2)
    exact = exact.masked_fill(torch.isinf(best_d), float("inf"))
    order = exact.argsort(dim=1, stable=True)[:, :k]
    return Neighbours(
        indices=np.take_along_axis(cand, order.numpy(), 1).astype(np.int64),
        distances=exact.gather(1, order).numpy().astype(np.float64),
        space=space.name,
    )


def leave_one_out(
    reference: Packed | np.ndarray,
    n: int,
    space: Space | None = None,
    seed: int = 0,
    reference_vecs: torch.Tensor | None = None,
    chunk: int = 500,
    progress: bool = False,
) -> tuple[np.ndarray, Neighbours]:
    """The reference scale: ``n`` reference images drawn at random (seeded), each with its
    nearest *other* reference image. Returns (their indices (n,), their Neighbours with k=1).
    Samples much closer to the training set than this are suspect copies. Paper: §6.1."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(reference), min(n, len(reference)), replace=False))
    nb = nearest_training(
        _images_of(reference, idx),
        reference,
        space,
        k=1,
        chunk=chunk,
        reference_vecs=reference_vecs,
        exclude=idx,
        progress=progress,
    )
    return idx, nb
