"""Vector arithmetic on face samples and the turn vector (paper §6.3.2, Figs. 7-8).

Paper §6.3.2: each concept is the mean z of 3 exemplars ("experiments working on only single
samples per concept were unstable"); "smiling woman - neutral woman + neutral man" and "man with
glasses - man without glasses + woman without glasses"; the result and 8 neighbours with uniform
noise of scale +-0.25; the same arithmetic on pixels as the baseline (Fig. 7). A "turn" vector,
the mean z of 4 right-looking minus 4 left-looking samples, added in steps to random samples
(Fig. 8).

The paper picked its exemplars by eye and showed pictures. Here a concept is a set of attribute
conditions (``Concept``); exemplars are drawn from generated samples that an attribute judge
(``dcgan_lib.attributes``) says meet them (``pick_exemplars``; overridable by index), and the judge
scores the result over many random exemplar triples: z space vs pixel space vs the third concept
alone vs a random z (``score_arithmetic``). The turn's samples are picked, and its effect
measured, by a pose cue (``dcgan_lib.pose``; ``turn_vector``, ``pose_change``).

Every image comes from ``dcgan_lib.models.generate``: BatchNorm in eval mode, so a result does not
depend on what else is in the batch. Paper: §6.3.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from dcgan_lib.attributes import predict_proba
from dcgan_lib.data import to_uint8
from dcgan_lib.models import generate, sample_z
from dcgan_lib.stats import wilson_interval


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
    z = sample_z(n, G.cfg, torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    images, probs = [], []
    for s in tqdm(range(0, n, batch_size), desc="sample pool", disable=not progress):
        x = generate(G, z[s : s + batch_size], batch_size)
        images.append(to_uint8(x))
        probs.append(predict_proba(classifier, x))
    return SamplePool(z, torch.cat(images), torch.cat(probs), tuple(classifier.cfg.attributes))


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
# The turn vector (its pose cue: dcgan_lib.pose)


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
