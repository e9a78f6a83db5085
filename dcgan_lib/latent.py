"""Walking the latent space (paper §6.1), vector arithmetic on faces and the turn vector (§6.3.2).

The paper shows these as pictures chosen by hand. Here each is also measured:

- §6.1, walks (Fig. 4): linear interpolation through a series of 9 random points in z. Smoothness:
  the image change from one step to the next along the path, next to the change between two random
  samples and next to a generator that memorized a bank of images (which can only jump).
- §6.3.2, arithmetic (Fig. 7): each concept is the mean z of 3 exemplars ("experiments working on
  only single samples per concept were unstable"); "smiling woman - neutral woman + neutral man"
  and "man with glasses - man without glasses + woman without glasses"; the result and 8
  neighbours with uniform noise of scale +-0.25; the same arithmetic on pixels as the baseline.
  Exemplars are picked from generated samples by the attribute classifier
  (``dcgan_lib.attributes``) instead of by eye (overridable by index), and the classifier scores
  the result over many random exemplar triples: z-space vs pixel space vs a random z.
- §6.3.2, the turn vector (Fig. 8): mean z of 4 right-looking minus 4 left-looking samples, added
  in steps to random samples. The pose cue is OpenCV's Haar profile-face cascade run on the image
  and on its mirror, with OpenCV's frontal-face cascade as the third vote (``dcgan_lib.pose``).

Every image comes from ``dcgan_lib.models.generate``: BatchNorm in eval mode (running statistics),
so a point on a path or an arithmetic result does not depend on what else is in the batch
(``batch_dependence`` measures it). ``run_faces_study`` is the one entry point that the CLI
(``python -m dcgan_lib.latent``), the notebooks and the tests call.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.config import ModelConfig
from dcgan_lib.models import generate, sample_z
from dcgan_lib.pose import export_pose_reliability, pose_score

ARTIFACT = "celeba_dcgan64"  # the faces generator all of this runs on (artifacts/celeba_dcgan64)

# ---------------------------------------------------------------------------------------------
# §6.1 Walking in the latent space


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


def _segment_stats(d: torch.Tensor, endpoint: torch.Tensor, scale: float) -> dict:
    """d: (segments, steps) step changes; endpoint: (segments,) first-to-last change."""
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
        "generator": _segment_stats(torch.cat(d_g), torch.cat(e_g), scale),
        "memorizer": {
            "bank": 2 * n_random,
            **_segment_stats(torch.cat(d_m), torch.cat(e_m), scale),
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


# ---------------------------------------------------------------------------------------------
# §6.3.2 Vector arithmetic


@dataclass(frozen=True)
class Concept:
    """A kind of face, as classifier conditions: ``want`` = ((attribute, present?), ...).

    A generated sample is an exemplar when every wanted attribute has probability above ``hi``
    and every unwanted one below ``lo`` (``pick_exemplars``)."""

    name: str
    want: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Equation:
    """``a - b + c``, and the attributes the result should have (``target``)."""

    name: str
    a: Concept
    b: Concept
    c: Concept
    target: tuple[tuple[str, bool], ...]


SMILING_WOMAN = Concept("smiling woman", (("Smiling", True), ("Male", False)))
NEUTRAL_WOMAN = Concept("neutral woman", (("Smiling", False), ("Male", False)))
NEUTRAL_MAN = Concept("neutral man", (("Smiling", False), ("Male", True)))
MAN_GLASSES = Concept("man with glasses", (("Eyeglasses", True), ("Male", True)))
MAN_NO_GLASSES = Concept("man without glasses", (("Eyeglasses", False), ("Male", True)))
WOMAN_NO_GLASSES = Concept("woman without glasses", (("Eyeglasses", False), ("Male", False)))

# paper Fig. 7: the two equations, with what their results should show
EQUATIONS: dict[str, Equation] = {
    "smile": Equation(
        "smiling woman - neutral woman + neutral man",
        SMILING_WOMAN,
        NEUTRAL_WOMAN,
        NEUTRAL_MAN,
        target=(("Smiling", True), ("Male", True)),  # a smiling man
    ),
    "glasses": Equation(
        "man with glasses - man without glasses + woman without glasses",
        MAN_GLASSES,
        MAN_NO_GLASSES,
        WOMAN_NO_GLASSES,
        target=(("Eyeglasses", True), ("Male", False)),  # a woman with glasses
    ),
}


def concept_mean(z: torch.Tensor, idx: Sequence[int] | np.ndarray) -> torch.Tensor:
    """(N, nz) and k exemplar indices -> (nz,): the concept's mean z (paper: k = 3). Paper: §6.3.2."""
    return z[torch.as_tensor(np.array(idx, dtype=np.int64))].mean(0)


def vector_arithmetic(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``a - b + c`` for vectors or images of one shape. Paper: §6.3.2."""
    return a - b + c


def with_noise(
    y: torch.Tensor, n: int = 8, scale: float = 0.25, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(nz,) -> (1 + n, nz): ``y`` itself, then ``n`` copies plus uniform noise in
    [-scale, scale] per coordinate (paper: 8 neighbours, scale 0.25). Paper: §6.3.2, Fig. 7."""
    noise = (torch.rand(n, y.shape[-1], generator=generator) * 2 - 1) * scale
    return torch.cat([y[None], y[None] + noise.to(y)])


def pixel_arithmetic(xa: torch.Tensor, xb: torch.Tensor, xc: torch.Tensor) -> torch.Tensor:
    """The baseline: (k, C, S, S) exemplar images of each concept in [-1, 1] -> (C, S, S),
    mean(xa) - mean(xb) + mean(xc), clipped to [-1, 1]. Paper: §6.3.2, Fig. 7 (bottom)."""
    return vector_arithmetic(xa.mean(0), xb.mean(0), xc.mean(0)).clamp(-1, 1)


def concept_mask(
    probs: torch.Tensor,
    attributes: Sequence[str],
    want: Sequence[tuple[str, bool]],
    hi: float = 0.9,
    lo: float = 0.1,
) -> torch.Tensor:
    """(N, A) classifier probabilities -> (N,) bool: every wanted attribute above ``hi`` and
    every unwanted one below ``lo``."""
    ok = torch.ones(len(probs), dtype=torch.bool)
    for attr, present in want:
        p = probs[:, list(attributes).index(attr)]
        ok &= (p > hi) if present else (p < lo)
    return ok


def target_met(
    probs: torch.Tensor, attributes: Sequence[str], target: Sequence[tuple[str, bool]]
) -> torch.Tensor:
    """(N, A) probabilities -> (N,) bool: the classifier's decision (at 0.5) matches every
    target attribute."""
    return concept_mask(probs, attributes, target, hi=0.5, lo=0.5)


def pick_exemplars(
    probs: torch.Tensor,
    attributes: Sequence[str],
    concept: Concept,
    k: int = 3,
    seed: int = 0,
    override: Sequence[int] | None = None,
    hi: float = 0.9,
    lo: float = 0.1,
) -> np.ndarray:
    """(k,) sample indices: ``override`` if given (the paper picked by eye), else ``k`` drawn at
    random (seeded, so deterministic) among the samples that meet the concept's conditions.
    Raises ValueError when fewer than ``k`` samples qualify. Paper: §6.3.2."""
    if override is not None:
        idx = np.asarray(override, dtype=np.int64)
        if len(idx) != k or idx.min() < 0 or idx.max() >= len(probs):
            raise ValueError(
                f"override for {concept.name!r} must be {k} indices in [0, {len(probs)})"
            )
        return idx
    cand = np.flatnonzero(concept_mask(probs, attributes, concept.want, hi, lo).numpy())
    if len(cand) < k:
        raise ValueError(
            f"only {len(cand)} of {len(probs)} samples are a {concept.name!r} by the classifier "
            f"(thresholds {hi} / {lo}); {k} are needed: use a larger pool or pick by index"
        )
    return np.random.default_rng(seed).choice(cand, k, replace=False)


@dataclass
class SamplePool:
    """Generated samples to pick exemplars from: z (N, nz), images (N, 3, S, S) uint8 and the
    classifier's probabilities (N, A), columns ``attributes``."""

    z: torch.Tensor
    images: torch.Tensor
    probs: torch.Tensor
    attributes: tuple[str, ...]

    def float_images(self, idx: Sequence[int] | np.ndarray | slice = slice(None)) -> torch.Tensor:
        """(n, 3, S, S) float in [-1, 1]."""
        if not isinstance(idx, slice):
            idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return self.images[idx].float() / 127.5 - 1


@torch.no_grad()
def sample_pool(
    G: nn.Module,
    classifier: nn.Module,
    n: int,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> SamplePool:
    """``n`` samples of G (seeded) with the classifier's probabilities. Paper: §6.3.2."""
    from dcgan_lib.attributes import predict_proba
    from dcgan_lib.data import to_uint8

    z = sample_z(n, G.cfg, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    images, probs = [], []
    for s in tqdm(range(0, n, batch_size), desc="sample pool", disable=not progress):
        x = generate(G, z[s : s + batch_size], batch_size)
        images.append(to_uint8(x))
        probs.append(predict_proba(classifier, x))
    return SamplePool(z, torch.cat(images), torch.cat(probs), tuple(classifier.cfg.attributes))


def wilson_interval(successes: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson score interval of a binomial rate."""
    if n == 0:
        return [0.0, 1.0]  # no data: every rate is possible
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


METHODS = ("z", "z_noise", "pixel", "c_only", "random_z")


@torch.no_grad()
def score_arithmetic(
    G: nn.Module,
    classifier: nn.Module,
    pool: SamplePool,
    eq: Equation,
    n_trials: int = 200,
    k: int = 3,
    noise_scale: float = 0.25,
    seed: int = 0,
    hi: float = 0.9,
    lo: float = 0.1,
    batch_size: int = 256,
) -> dict:
    """How often the classifier says the arithmetic's result has the target attributes, over
    ``n_trials`` random exemplar triples (k exemplars per concept, drawn from the pool's
    qualifying samples).

    Methods, each judged on one image per trial:
    ``z``: G(mean z_a - mean z_b + mean z_c); ``z_noise``: the same plus uniform noise of
    ``noise_scale`` (one of Fig. 7's neighbours); ``pixel``: the same arithmetic on the exemplar
    images; ``c_only``: G(mean z_c), the third concept alone (does ``a - b`` add anything?);
    ``random_z``: G(a fresh random z), the base rate. Returns rates, 95% Wilson intervals, the
    per-attribute positive rates, per-trial outcomes and the trials' pool indices
    (a, b, c rows). Paper: §6.3.2.
    """
    from dcgan_lib.attributes import predict_proba

    attrs = pool.attributes
    cands = {
        role: np.flatnonzero(concept_mask(pool.probs, attrs, c.want, hi, lo).numpy())
        for role, c in (("a", eq.a), ("b", eq.b), ("c", eq.c))
    }
    out: dict = {
        "equation": eq.name,
        "target": {a: bool(v) for a, v in eq.target},
        "candidates": {r: len(c) for r, c in cands.items()},
        "n_trials": 0,
    }
    short = [r for r, c in cands.items() if len(c) < k]
    if short:
        out["skipped"] = f"fewer than {k} qualifying samples for {short} in a pool of {len(pool.z)}"
        return out
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    trials = np.stack(
        [
            np.concatenate([rng.choice(cands[r], k, replace=False) for r in "abc"])
            for _ in range(n_trials)
        ]
    )  # (n_trials, 3k): a's, b's, c's pool indices
    za, zb, zc = (
        pool.z[torch.from_numpy(trials[:, j * k : (j + 1) * k])].mean(1) for j in range(3)
    )
    y = vector_arithmetic(za, zb, zc)  # (n_trials, nz)
    noise = (torch.rand(y.shape, generator=g) * 2 - 1) * noise_scale
    z_random = sample_z(n_trials, G.cfg, g)  # type: ignore[arg-type]
    x = generate(G, torch.cat([y, y + noise, zc, z_random]), batch_size)
    xa, xb, xc = (
        pool.float_images(trials[:, j * k : (j + 1) * k].ravel()).view(n_trials, k, *x.shape[1:])
        for j in range(3)
    )
    x_pixel = vector_arithmetic(xa.mean(1), xb.mean(1), xc.mean(1)).clamp(-1, 1)
    probs = predict_proba(classifier, torch.cat([x, x_pixel]))
    by_method = dict(
        zip(("z", "z_noise", "c_only", "random_z", "pixel"), probs.split(n_trials), strict=True)
    )
    out["n_trials"] = n_trials
    out["success"], out["ci95"], out["attribute_rates"], out["per_trial"] = {}, {}, {}, {}
    for m in METHODS:
        ok = target_met(by_method[m], attrs, eq.target)
        out["success"][m] = float(ok.float().mean())
        out["ci95"][m] = wilson_interval(int(ok.sum()), n_trials)
        out["attribute_rates"][m] = {
            a: float((by_method[m][:, attrs.index(a)] > 0.5).float().mean()) for a, _ in eq.target
        }
        out["per_trial"][m] = ok.tolist()
    out["trials"] = trials.tolist()
    return out


@torch.no_grad()
def arithmetic_example(
    G: nn.Module,
    pool: SamplePool,
    eq: Equation,
    picks: dict[str, np.ndarray],
    n_noise: int = 8,
    noise_scale: float = 0.25,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """One worked example, as in Fig. 7: ``picks`` = {"a", "b", "c": exemplar pool indices}.

    Returns the exemplar images (3, k, C, S, S), each concept's mean-z image (3, C, S, S), the
    z-space result and its noisy neighbours (1 + n_noise, C, S, S; the result first) and the
    pixel-space result (C, S, S), all in [-1, 1]. Paper: §6.3.2, Fig. 7.
    """
    means = [concept_mean(pool.z, picks[r]) for r in "abc"]
    y = vector_arithmetic(*means)
    grid = with_noise(y, n_noise, noise_scale, torch.Generator().manual_seed(seed))
    return {
        "exemplars": torch.stack([pool.float_images(picks[r]) for r in "abc"]),
        "means": generate(G, torch.stack(means)),
        "z_result": generate(G, grid),
        "pixel_result": pixel_arithmetic(*(pool.float_images(picks[r]) for r in "abc")),
        "z": grid,
    }


# ---------------------------------------------------------------------------------------------
# §6.3.2 The turn vector (its pose cue: dcgan_lib.pose)


def turn_vector(
    z: torch.Tensor,
    scores: np.ndarray,
    k: int = 4,
    left: Sequence[int] | None = None,
    right: Sequence[int] | None = None,
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """The turn vector: mean z of ``k`` right-looking samples minus mean z of ``k`` left-looking
    ones (paper: 4 and 4). By default the k highest and the k lowest pose scores; ``left`` /
    ``right`` override by index. Returns (turn (nz,), left indices, right indices).
    Paper: §6.3.2, Fig. 8."""
    order = np.argsort(scores, kind="stable")
    li = np.asarray(left if left is not None else order[:k], dtype=np.int64)
    ri = np.asarray(right if right is not None else order[::-1][:k], dtype=np.int64)
    return concept_mean(z, ri) - concept_mean(z, li), li, ri


@torch.no_grad()
def along_direction(
    G: nn.Module,
    z: torch.Tensor,
    direction: torch.Tensor,
    alphas: Sequence[float],
    batch_size: int = 256,
) -> torch.Tensor:
    """(n, nz) samples moved along ``direction`` (nz,): G(z + alpha * direction) for each alpha
    -> (n, len(alphas), C, S, S). z is not clipped back into [-1, 1]. Paper: §6.3.2, Fig. 8."""
    a = torch.as_tensor(list(alphas), dtype=z.dtype)
    moved = z[:, None, :] + a[None, :, None] * direction[None, None, :]
    x = generate(G, moved.reshape(-1, z.shape[1]), batch_size)
    return x.view(len(z), len(a), *x.shape[1:])


def pose_change(scores: np.ndarray, alphas: Sequence[float]) -> dict:
    """Pose scores (n, A) of n samples at A steps along an axis -> summary: the mean score per
    step, Spearman's rank correlation of score with step over all n * A images, the share of
    samples whose score rose from the first step to the last, and the mean rise."""
    from scipy.stats import spearmanr

    a = np.broadcast_to(np.asarray(alphas, dtype=np.float64)[None], scores.shape)
    rho = spearmanr(a.ravel(), scores.ravel()).statistic if scores.std() > 0 else None
    rise = scores[:, -1] - scores[:, 0]
    return {
        "alphas": [float(x) for x in alphas],
        "mean_score": scores.mean(0).tolist(),
        "spearman": None if rho is None else float(rho),  # None: the cue never varied
        "rose": float((rise > 0).mean()),
        "fell": float((rise < 0).mean()),
        "mean_rise": float(rise.mean()),
    }


# ---------------------------------------------------------------------------------------------
# A toy generator with known attributes (tests and smoke mode)

TOY_ATTRIBUTES = ("Smiling", "Male", "Eyeglasses")
TOY_THRESHOLD = 0.3  # attribute k is present exactly when z_k > 0.3
_TOY_BANDS = ((44, 56, 0), (20, 30, 2), (6, 16, 1))  # (row from, row to, channel) per attribute
_TOY_NOSE = (32, 40)  # rows of the "nose"


class ToyFaces(nn.Module):
    """A hand-built stand-in for a face generator, with attributes known from z (not a GAN).

    z (B, 8) in [-1, 1] -> (B, 3, 64, 64) in [-1, 1]. Attribute k (Smiling, Male, Eyeglasses) is
    drawn in its own band of rows as vertical stripes of amplitude clamp(z_k, 0, 1) and phase
    pi * z_4 (a nuisance that averages of images blur); z_3 is the "pose": a bright bump whose
    column is 32 + 12 * z_3 (right of centre: looking right). z_5..z_7 are unused.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cfg = ModelConfig(name="toy_faces", image_size=64, nz=8, ngf=1, ndf=1)
        self.anchor = nn.Parameter(
            torch.zeros(()), requires_grad=False
        )  # generate() asks for a device

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        cols = torch.arange(64, dtype=torch.float32, device=z.device)
        stripes = torch.sin(2 * math.pi * cols[None] / 8 + math.pi * z[:, 4:5])  # (B, 64)
        x = torch.zeros(len(z), 3, 64, 64, device=z.device)
        for k, (r0, r1, ch) in enumerate(_TOY_BANDS):
            amp = z[:, k].clamp(0, 1)
            x[:, ch, r0:r1, :] = amp[:, None, None] * stripes[:, None, :]
        centre = 32 + 12 * z[:, 3].clamp(-2, 2)
        bump = torch.exp(-((cols[None] - centre[:, None]) ** 2) / 8)  # (B, 64), width 2 px
        x[:, :, _TOY_NOSE[0] : _TOY_NOSE[1], :] = bump[:, None, None, :]
        return x + 0 * self.anchor

    @staticmethod
    def truth(z: torch.Tensor) -> torch.Tensor:
        """(B, nz) -> (B, 3) bool: which attributes G(z) has."""
        return z[:, :3] > TOY_THRESHOLD


class ToyAttributeClassifier(nn.Module):
    """Reads ``ToyFaces`` images: attribute k's logit is 20 * (amplitude_k - 0.3), with the
    amplitude of band k measured as sqrt(2) x the RMS of the band around its mean. On ToyFaces
    samples its decision equals ``ToyFaces.truth``."""

    def __init__(self) -> None:
        super().__init__()
        from dcgan_lib.attributes import AttributeConfig

        self.cfg = AttributeConfig(attributes=TOY_ATTRIBUTES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = []
        for r0, r1, ch in _TOY_BANDS:
            band = x[:, ch, r0:r1, :]
            amp = math.sqrt(2) * (band - band.mean((1, 2), keepdim=True)).pow(2).mean((1, 2)).sqrt()
            logits.append(20 * (amp - TOY_THRESHOLD))
        return torch.stack(logits, 1)


def toy_pose_score(images: torch.Tensor) -> np.ndarray:
    """(B, 3, 64, 64) ToyFaces images -> (B,) pose in about [-1, 1]: the bump's column
    (centroid of the nose rows) minus 32, over 24. Positive: looking right."""
    prof = images[:, :, _TOY_NOSE[0] : _TOY_NOSE[1], :].float().mean((1, 2)).clamp_min(0)
    cols = torch.arange(images.shape[-1], dtype=torch.float32)
    centre = (prof * cols).sum(1) / prof.sum(1).clamp_min(1e-6)
    return ((centre - 32) / 24).numpy()


# ---------------------------------------------------------------------------------------------
# The study: one entry point for the CLI, the notebooks and the tests


@dataclass(frozen=True)
class LatentStudyConfig:
    """Sizes of the faces study. Three: ``STUDY_CONFIGS['smoke' | 'book' | 'full']``."""

    mode: str = "book"
    seed: int = 0
    batch_size: int = 256
    # §6.1 walks
    walk_points: int = 9  # paper Fig. 4: "a series of 9 random points in Z"
    walk_steps: int = 8  # images per segment in the figure (paper: not stated)
    smooth_walks: int = 8  # walks measured (each walk_points points)
    smooth_steps: int = 16  # steps per segment measured
    random_pairs: int = 256  # pairs of independent samples: the scale of a whole change
    # §6.1 memorization
    neighbour_samples: int = 64
    k_neighbours: int = 5
    loo_images: int = 256  # real images with their nearest other real image: the reference
    # §6.3.2 arithmetic
    pool: int = 2000  # generated samples the exemplars are picked from
    hi: float = 0.9  # an exemplar's wanted attributes: probability above this
    lo: float = 0.1  # ... and its unwanted ones below this
    k_exemplars: int = 3  # paper: 3 samples per concept
    n_noise: int = 8  # paper: 8 neighbours around the result
    noise_scale: float = 0.25  # paper: uniform noise, scale +-0.25
    n_trials: int = 200  # random exemplar triples scored per equation
    # §6.3.2 turn vector
    k_turn: int = 4  # paper: 4 left- and 4 right-looking samples
    turn_pool: int = 600  # pool samples scored by the pose cue (about 50 ms each on a CPU)
    turn_samples: int = 32  # random samples moved along the turn vector
    turn_alphas: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    turn_shown: int = 6  # rows in the figure


STUDY_CONFIGS = {
    "smoke": LatentStudyConfig(
        mode="smoke",
        smooth_walks=2,
        smooth_steps=8,
        random_pairs=64,
        neighbour_samples=8,
        k_neighbours=3,
        loo_images=32,
        pool=400,
        n_trials=50,
        turn_pool=200,
        turn_samples=8,
        turn_alphas=(-1.0, -0.5, 0.0, 0.5, 1.0),
        turn_shown=4,
    ),
    # the stored study (artifacts/latent_walks, artifacts/vector_arithmetic); the undertrained
    # faces model draws few men with glasses (about 1 in 700 samples): a pool of 10,000
    "book": LatentStudyConfig(mode="book", pool=10_000, n_trials=500, turn_samples=64),
    "full": LatentStudyConfig(
        mode="full",
        smooth_walks=32,
        random_pairs=1000,
        neighbour_samples=256,
        loo_images=1000,
        pool=20_000,
        n_trials=2000,
        turn_pool=3000,
        turn_samples=128,
    ),
}

PARTS = ("walks", "neighbours", "arithmetic", "turn")
# what `--export` stores, per artifacts/ folder: §6.1 (notebook 06) and §6.3.2 (notebook 09)
EXPORTS = {"latent_walks": ("walks", "neighbours"), "vector_arithmetic": ("arithmetic", "turn")}
INPUTS = ["celeba_dcgan64/G.pt", "celeba_attributes/classifier.pt"]  # what the stored study reads


@dataclass
class FacesStudy:
    """``metrics``: JSON-able numbers (and pool indices); ``figures``: tensors for the pictures."""

    metrics: dict
    figures: dict = field(default_factory=dict)
    pool: SamplePool | None = None


def neighbour_z(cfg_g: ModelConfig, cfg: LatentStudyConfig) -> torch.Tensor:
    """(neighbour_samples, nz): the z's of the samples whose nearest training images are looked
    up (a page regenerates them to draw the gallery from the stored indices). Paper: §6.1."""
    return sample_z(cfg.neighbour_samples, cfg_g, torch.Generator().manual_seed(cfg.seed + 3))


def load_faces_generator(root=None) -> nn.Module:
    """The stored faces generator (``artifacts/<faces model>/G.pt``, sha256-checked: the run
    chosen on the selection half, ``experiments.faces_model_artifact``, by default
    ``celeba_dcgan64``); raises ``ArtifactMissing`` naming the command that makes it."""
    from dcgan_lib.artifacts import load_generator, require
    from dcgan_lib.experiments import faces_model_artifact

    return load_generator(require(faces_model_artifact(root), "G.pt", root))


def faces_model_summary(root=None) -> dict[str, str]:
    """The stored faces model in words, for a page: its FID-10k and number of updates, from
    ``artifacts/celeba_dcgan64/result_s1.json`` (the run whose G is stored); "not produced yet"
    without it."""
    from dcgan_lib.artifacts import ArtifactMissing, require

    try:
        result = json.loads(require(ARTIFACT, "result_s1.json", root).read_text())
    except ArtifactMissing:
        return {"fid": "not produced yet", "steps": "not produced yet"}
    fid = next(v["fid"] for k, v in result["fid"].items() if k.startswith("final"))
    return {"fid": f"{fid:.1f}", "steps": f"{result['steps']:,}"}


def run_faces_study(
    G: nn.Module,
    classifier: nn.Module | None,
    cfg: LatentStudyConfig,
    data=None,
    parts: Sequence[str] = PARTS,
    pose_fn: Callable[[torch.Tensor], np.ndarray] | None = None,
    feature_space: Callable[[torch.Tensor], torch.Tensor] | None = None,
    overrides: dict[str, Sequence[int]] | None = None,
    progress: bool = True,
) -> FacesStudy:
    """The §6.1 and §6.3.2 measurements on one generator.

    G: the generator (book: the stored ``celeba_dcgan64``; smoke: ``ToyFaces`` or ``smoke64``);
    classifier: the attribute judge (``arithmetic``, ``turn``; default feature space);
    data: a ``Packed`` training set for ``neighbours`` (skipped without it); pose_fn: the pose
    cue (default ``pose_score``); feature_space: for neighbours (default the classifier's
    features); overrides: exemplar pool indices by concept name, or "left" / "right" for the turn
    vector (the paper picked by eye). Paper: §6.1, §6.3.2.
    """
    from dcgan_lib.neighbours import ClassifierSpace, PixelSpace, leave_one_out, nearest_training
    from dcgan_lib.neighbours import reference_vectors as ref_vectors

    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    t0 = time.monotonic()
    overrides = dict(overrides or {})
    cfg_g: ModelConfig = G.cfg  # type: ignore[assignment]
    metrics: dict = {
        "mode": cfg.mode,
        "config": dataclasses.asdict(cfg),
        "generator": cfg_g.name,
        "sampling": "BatchNorm eval mode (running statistics)",
    }
    figures: dict = {}
    study = FacesStudy(metrics, figures)
    bs = cfg.batch_size

    if "walks" in parts:
        g = torch.Generator().manual_seed(cfg.seed)
        points = sample_z(cfg.walk_points, cfg_g, g)
        path = walk(points, cfg.walk_steps)
        x = generate(G, path, bs)
        figures["walk"] = x  # ((points - 1) * steps + 1, C, S, S)
        figures["walk_z"] = path
        metrics["walk_endpoints_exact"] = bool(torch.equal(path[:: cfg.walk_steps], points))
        metrics["walk_step_changes"] = step_changes(x).tolist()  # the figure's walk
        # the BatchNorm policy: the path's images alone vs the path inside a batch of others
        metrics["batch_dependence"] = batch_dependence(G, path, n_others=64, seed=cfg.seed + 1)
        metrics["smoothness"] = walk_smoothness(
            G,
            cfg.smooth_walks,
            cfg.walk_points,
            cfg.smooth_steps,
            cfg.random_pairs,
            cfg.seed + 2,
            bs,
            progress,
        )

    if "neighbours" in parts:
        if data is None:
            metrics["neighbours"] = {"skipped": "no training data given"}
        else:
            samples = generate(G, neighbour_z(cfg_g, cfg), bs)
            figures["neighbour_samples"] = samples
            spaces = [PixelSpace()]
            if feature_space is not None:
                spaces.append(feature_space)  # type: ignore[arg-type]
            elif classifier is not None:
                spaces.append(ClassifierSpace(classifier))
            nb: dict = {"n_samples": len(samples), "n_reference": len(data), "spaces": {}}
            for space in spaces:
                vecs = None if isinstance(space, PixelSpace) else ref_vectors(data, space)
                res = nearest_training(
                    samples, data, space, cfg.k_neighbours, reference_vecs=vecs, progress=progress
                )
                loo_idx, loo = leave_one_out(
                    data, cfg.loo_images, space, cfg.seed + 4, reference_vecs=vecs
                )
                figures[f"neighbours:{space.name}"] = res
                nb["spaces"][space.name] = {
                    "samples": res.to_json(getattr(data, "names", None)),
                    "sample_nearest": _quantiles(res.distances[:, 0]),
                    "real_nearest_other": _quantiles(loo.distances[:, 0]),
                    "real_indices": loo_idx.tolist(),
                    "share_closer_than_real_p01": float(
                        (res.distances[:, 0] < np.quantile(loo.distances[:, 0], 0.01)).mean()
                    ),
                }
            metrics["neighbours"] = nb

    pool = None
    if "arithmetic" in parts or "turn" in parts:
        if classifier is None:
            raise ValueError("the arithmetic and turn parts need the attribute classifier")
        pool = sample_pool(G, classifier, cfg.pool, cfg.seed + 5, bs, progress)
        study.pool = pool
        metrics["pool"] = {
            "n": cfg.pool,
            "positive_rate": {
                a: float((pool.probs[:, j] > 0.5).float().mean())
                for j, a in enumerate(pool.attributes)
            },
        }

    if "arithmetic" in parts:
        assert pool is not None
        metrics["arithmetic"], figures["arithmetic"] = {}, {}
        for key, eq in EQUATIONS.items():
            entry = score_arithmetic(
                G,
                classifier,  # type: ignore[arg-type]
                pool,
                eq,
                cfg.n_trials,
                cfg.k_exemplars,
                cfg.noise_scale,
                cfg.seed + 6,
                cfg.hi,
                cfg.lo,
                bs,
            )
            try:
                picks = {
                    role: pick_exemplars(
                        pool.probs,
                        pool.attributes,
                        concept,
                        cfg.k_exemplars,
                        cfg.seed + 7 + j,
                        overrides.get(concept.name),
                        cfg.hi,
                        cfg.lo,
                    )
                    for j, (role, concept) in enumerate((("a", eq.a), ("b", eq.b), ("c", eq.c)))
                }
            except ValueError as e:
                entry["example"] = {"skipped": str(e)}
            else:
                ex = arithmetic_example(
                    G, pool, eq, picks, cfg.n_noise, cfg.noise_scale, cfg.seed + 8
                )
                from dcgan_lib.attributes import predict_proba

                p_z = predict_proba(classifier, ex["z_result"])  # type: ignore[arg-type]
                p_px = predict_proba(classifier, ex["pixel_result"][None])  # type: ignore[arg-type]
                entry["example"] = {
                    "picks": {r: v.tolist() for r, v in picks.items()},
                    "z": ex["z"].tolist(),  # the result and its noisy neighbours
                    "z_result_target_met": target_met(p_z, pool.attributes, eq.target).tolist(),
                    "pixel_result_target_met": bool(
                        target_met(p_px, pool.attributes, eq.target)[0]
                    ),
                }
                figures["arithmetic"][key] = ex
            metrics["arithmetic"][key] = entry

    if "turn" in parts:
        assert pool is not None
        pose = pose_fn or pose_score
        n_scored = min(cfg.turn_pool, len(pool.z))
        scores = np.asarray(pose(pool.float_images(slice(0, n_scored))), dtype=np.float64)
        turn, li, ri = turn_vector(
            pool.z[:n_scored], scores, cfg.k_turn, overrides.get("left"), overrides.get("right")
        )
        g = torch.Generator().manual_seed(cfg.seed + 9)
        ctrl_idx = torch.randperm(n_scored, generator=g)[: 2 * cfg.k_turn].numpy()
        control = concept_mean(pool.z, ctrl_idx[: cfg.k_turn]) - concept_mean(
            pool.z, ctrl_idx[cfg.k_turn :]
        )
        z = sample_z(cfg.turn_samples, cfg_g, g)
        turn_entry: dict = {
            "n_scored": n_scored,
            "pool_scores": _quantiles(scores),
            "left": li.tolist(),
            "right": ri.tolist(),
            "left_scores": scores[li].tolist(),
            "right_scores": scores[ri].tolist(),
            "turn_norm": float(turn.norm()),
            "control_norm": float(control.norm()),
            "control_indices": ctrl_idx.tolist(),
        }
        for name, direction in (("turn", turn), ("control", control)):
            x = along_direction(G, z, direction, cfg.turn_alphas, bs)
            s = np.asarray(pose(x.flatten(0, 1)), dtype=np.float64).reshape(x.shape[:2])
            turn_entry[name] = {**pose_change(s, cfg.turn_alphas), "scores": s.tolist()}
            figures[f"turn:{name}"] = x[: cfg.turn_shown]
        moved = z[:, None, :] + torch.tensor(cfg.turn_alphas)[None, :, None] * turn
        turn_entry["z_outside_unit_box"] = float((moved.abs() > 1).float().mean())
        figures["turn_exemplars"] = pool.float_images(np.concatenate([li, ri]))
        metrics["turn"] = turn_entry

    metrics["seconds"] = round(time.monotonic() - t0, 1)
    return study


def study_figures(study: FacesStudy, cfg: LatentStudyConfig) -> dict:
    """The study's pictures by file name (``--export`` stores them as PNG): ``walk.png`` (Fig. 4),
    ``arithmetic_<equation>.png`` (Fig. 7), ``turn_exemplars.png``, ``turn.png`` and
    ``turn_control.png`` (Fig. 8). Generated samples only: the nearest-neighbour gallery shows
    training images, and a page draws it from the data. Paper: §6.1, §6.3.2."""
    from dcgan_lib import figures6  # matplotlib: only where pictures are made

    f, m, out = study.figures, study.metrics, {}
    if "walk" in f:
        out["walk.png"] = figures6.walk_figure(f["walk"], cfg.walk_steps)
    for key, ex in f.get("arithmetic", {}).items():
        eq, e = EQUATIONS[key], m["arithmetic"][key]["example"]
        out[f"arithmetic_{key}.png"] = figures6.equation_figure(
            eq.name,
            [eq.a.name, eq.b.name, eq.c.name],
            ex,
            e["z_result_target_met"],
            e["pixel_result_target_met"],
        )
    if "turn_exemplars" in f:
        t = m["turn"]
        scores = t["left_scores"] + t["right_scores"]
        side = ["left"] * len(t["left"]) + ["right"] * len(t["right"])
        out["turn_exemplars.png"] = figures6.image_grid(
            [list(f["turn_exemplars"])],
            "the samples that make the turn vector, with their pose scores",
            titles=[[f"{w} {v:+.2f}" for w, v in zip(side, scores, strict=True)]],
            cell=1.3,
        )
        out["turn.png"] = figures6.direction_figure(
            f["turn:turn"], cfg.turn_alphas, "z + α · turn vector"
        )
        out["turn_control.png"] = figures6.direction_figure(
            f["turn:control"], cfg.turn_alphas, "z + α · control (4 random minus 4 random samples)"
        )
    return out


def _quantiles(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=np.float64)
    q = np.quantile(x, [0.0, 0.1, 0.5, 0.9, 1.0]) if len(x) else [float("nan")] * 5
    return {k: float(v) for k, v in zip(("min", "p10", "median", "p90", "max"), q, strict=True)}


# ---------------------------------------------------------------------------------------------
# Command line


def add_cli(sub: argparse._SubParsersAction) -> None:
    """``latent``: the faces study (paper §6.1, §6.3.2) as a subcommand of ``python -m dcgan_lib``."""
    p = sub.add_parser(
        "latent", help="latent walks, vector arithmetic, turn vector; paper §6.1, §6.3.2"
    )
    _add_args(p)


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", default="book", choices=sorted(STUDY_CONFIGS))
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--generator", default=None, help="G.pt or checkpoint (default: the stored one)")
    p.add_argument("--data-root", default=None, help="folder holding celeba/ (default $DCGAN_DATA)")
    p.add_argument("--out", default=None, help="write the metrics here as JSON")
    p.add_argument(
        "--export",
        action="store_true",
        help="store the book's study of the stored model in artifacts/ (--parts walks neighbours: "
        "latent_walks; --parts arithmetic turn: vector_arithmetic)",
    )
    p.add_argument(
        "--pose-reliability",
        action="store_true",
        help="only re-measure the pose cue against the stored labels (artifacts/celeba_pose)",
    )
    p.add_argument("--no-progress", action="store_true")


def _export_name(a: argparse.Namespace) -> str:
    """The artifacts/ folder that ``--export`` writes, or ValueError saying how to call it."""
    names = [k for k, parts in EXPORTS.items() if set(parts) == set(a.parts)]
    if a.mode != "book" or a.generator or not names:
        raise ValueError(
            "--export stores the book's study of the stored model: use --mode book, no "
            "--generator, and --parts walks neighbours (latent_walks) or --parts arithmetic turn "
            "(vector_arithmetic)"
        )
    return names[0]


def run_cli(a: argparse.Namespace) -> int:
    from dcgan_lib.artifacts import export_study, invoked_command, load_generator
    from dcgan_lib.attributes import load_stored_classifier
    from dcgan_lib.data import load_dataset

    if a.pose_reliability:
        print(json.dumps(export_pose_reliability(a.data_root), indent=1))
        return 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    export = _export_name(a) if a.export else None
    cfg = STUDY_CONFIGS[a.mode]
    pose_fn = None
    if a.mode == "smoke":
        G, clf, pose_fn = ToyFaces(), ToyAttributeClassifier(), toy_pose_score
        data = None
    else:
        G = load_generator(a.generator) if a.generator else load_faces_generator()
        clf = load_stored_classifier()
        data = None
        if "neighbours" in a.parts:
            data = load_dataset("celeba", a.data_root, image_size=G.cfg.image_size)
    parts = [p for p in a.parts if not (a.mode == "smoke" and p == "neighbours")]
    study = run_faces_study(G, clf, cfg, data, parts, pose_fn=pose_fn, progress=not a.no_progress)
    if export:
        from dcgan_lib.figures6 import png_bytes

        pngs = {name: png_bytes(fig) for name, fig in study_figures(study, cfg).items()}
        for path in export_study(
            export,
            study.metrics,
            pngs,
            INPUTS,
            invoked_command(),
            time.process_time() - cpu0,
            time.perf_counter() - wall0,
        ):
            print("wrote", path)
    text = json.dumps(study.metrics, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
        print("wrote", a.out)
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    from dcgan_lib.artifacts import ArtifactMissing
    from dcgan_lib.data import DataError

    p = argparse.ArgumentParser(
        prog="python -m dcgan_lib.latent", description=__doc__.splitlines()[0]
    )
    _add_args(p)
    a = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        return run_cli(a)
    except (ArtifactMissing, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
