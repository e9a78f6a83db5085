"""Walking in the latent space (paper §6.1, Fig. 4), and how smooth the walk is.

The paper shows "interpolation between a series of 9 random points in Z" as a picture and reads
smoothness by eye: "Walking on the manifold that is learnt can usually tell us about signs of
memorization (if there are sharp transitions)". Here the walk is the same linear path
(``interpolate``, ``walk``), and its smoothness is measured (``walk_smoothness``): the image change
from one step to the next, next to the change between two random samples and next to a generator
that memorized a bank of images (which can only jump).

Every image comes from ``dcgan_lib.models.generate``: BatchNorm in eval mode (running statistics),
so a point on a path does not depend on what else is in the batch (``batch_dependence`` measures
it). Paper: §6.1.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.config import ModelConfig
from dcgan_lib.models import generate, sample_z


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(nz,), (nz,) -> (steps + 1, nz): z0 + t (z1 - z0) for t = 0, 1/steps, ..., 1.

    Linear, as in the paper's Fig. 4 between uniform z's; the first row is z0 and the last is z1,
    exactly. Paper: §6.1.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    t = torch.arange(steps + 1, dtype=z0.dtype, device=z0.device)[:, None] / steps
    path = z0[None] + t * (z1 - z0)[None]
    path[0], path[-1] = z0, z1  # exact endpoints (no rounding of t * (z1 - z0))
    return path


def walk(points: torch.Tensor, steps: int) -> torch.Tensor:
    """(K, nz) -> ((K - 1) * steps + 1, nz): the path through K points in order, ``steps`` steps
    per segment; row ``j * steps`` is ``points[j]`` exactly. Paper: §6.1, Fig. 4 (K = 9)."""
    if len(points) < 2:
        raise ValueError("a walk needs at least 2 points")
    segs = [interpolate(points[j], points[j + 1], steps) for j in range(len(points) - 1)]
    return torch.cat([segs[0]] + [s[1:] for s in segs[1:]])


def rms_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, C, S, S), (B, C, S, S) in [-1, 1] -> (B,) root-mean-square pixel difference (0 to 2)."""
    return (a.float() - b.float()).pow(2).flatten(1).mean(1).sqrt()


def step_changes(images: torch.Tensor) -> torch.Tensor:
    """(T, C, S, S) frames of a path -> (T - 1,) RMS change from each frame to the next."""
    return rms_distance(images[1:], images[:-1])


def segment_stats(d: torch.Tensor, endpoint: torch.Tensor, scale: float) -> dict:
    """How even the change along each segment is: d (segments, steps) step changes, endpoint
    (segments,) first-to-last change, scale the change between two random samples."""
    total = d.sum(1).clamp_min(1e-12)
    share = d.max(1).values / total  # 1/steps: an even change; 1: all of it in one step
    return {
        "max_step_share": {
            "median": float(share.median()),
            "p90": float(share.quantile(0.9)),
            "max": float(share.max()),
        },
        "sharp_segments": float((share > 0.5).float().mean()),  # over half the change in one step
        "mean_step_vs_random": float(d.mean() / scale),
        "max_step_vs_random": {
            "median": float((d.max(1).values / scale).median()),
            "max": float(d.max() / scale),
        },
        "endpoint_vs_random": float((endpoint / scale).median()),
        "path_vs_endpoint": float((total / endpoint.clamp_min(1e-12)).median()),
    }


@torch.no_grad()
def walk_smoothness(
    G: nn.Module,
    n_walks: int = 8,
    n_points: int = 9,
    steps: int = 16,
    n_random: int = 256,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> dict:
    """How smooth the walks are: ``n_walks`` walks through ``n_points`` random z's, ``steps``
    steps per segment, each step's RMS image change.

    Scale: the median RMS difference between two independent samples (``n_random`` pairs).
    Per segment: the largest step's share of the segment's total change (1/steps for an even
    change, 1 for a jump; over 0.5 counts as a sharp transition) and the largest step in units of
    the random-pair change. The same numbers for a *memorizer*: a generator that returns, for
    each z, the stored sample of the nearest of 2 * ``n_random`` bank z's (what a model that
    memorized that many images does along the same paths). Paper: §6.1.
    """
    cfg: ModelConfig = G.cfg  # type: ignore[assignment]
    g = torch.Generator().manual_seed(seed)
    points = sample_z(n_walks * n_points, cfg, g).view(n_walks, n_points, -1)
    bank_z = sample_z(2 * n_random, cfg, g)
    bank = generate(G, bank_z, batch_size)
    scale = float(rms_distance(bank[:n_random], bank[n_random:]).median())
    d_g, e_g, d_m, e_m = [], [], [], []
    for w in tqdm(range(n_walks), desc="walks", disable=not progress):
        path = walk(points[w], steps)  # (T, nz)
        x = generate(G, path, batch_size)
        d_g.append(step_changes(x).view(n_points - 1, steps))
        e_g.append(rms_distance(x[0:-1:steps], x[steps::steps]))
        lookup = torch.cdist(path, bank_z).argmin(1)  # the memorizer: nearest bank z's image
        xm = bank[lookup]
        d_m.append(step_changes(xm).view(n_points - 1, steps))
        e_m.append(rms_distance(xm[0:-1:steps], xm[steps::steps]))
    return {
        "n_walks": n_walks,
        "n_points": n_points,
        "steps": steps,
        "n_segments": n_walks * (n_points - 1),
        "random_pair_rms": scale,
        "generator": segment_stats(torch.cat(d_g), torch.cat(e_g), scale),
        "memorizer": {
            "bank": 2 * n_random,
            **segment_stats(torch.cat(d_m), torch.cat(e_m), scale),
        },
    }


@torch.no_grad()
def batch_dependence(
    G: nn.Module, z: torch.Tensor, n_others: int = 63, seed: int = 0
) -> dict[str, float]:
    """Does a sample change with what else is in its batch? The largest absolute pixel change of
    G(z) when ``z`` (B, nz) is generated alone vs in the middle of ``n_others`` other z's.

    ``eval``: the library's policy (``generate``: BatchNorm running statistics), expected 0 up to
    float rounding; ``train``: BatchNorm with batch statistics (on a copy of G, so the running
    statistics of G are untouched), for contrast. Paper: §6 (the policy is ours; see
    ``dcgan_lib.models.generate``).
    """
    cfg: ModelConfig = G.cfg  # type: ignore[assignment]
    others = sample_z(n_others, cfg, torch.Generator().manual_seed(seed))
    half = n_others // 2
    mixed = torch.cat([others[:half], z, others[half:]])
    where = slice(half, half + len(z))
    big = len(mixed)  # one batch: the others really share BatchNorm's batch
    eval_diff = (generate(G, z, big) - generate(G, mixed, big)[where]).abs().max()
    G_train = copy.deepcopy(G).train()
    dev = next(G_train.parameters()).device
    alone, inside = G_train(z.to(dev)), G_train(mixed.to(dev))[where]
    return {"eval": float(eval_diff), "train": float((alone - inside).abs().max())}
