"""Small statistics of the book's claims: a rate's confidence interval, a distribution's quantiles.

Used wherever a page states a rate (how often vector arithmetic gives the target, how often the
pose cue names the labelled side) or summarises a distribution (distances to the nearest training
image, pose scores), so each is computed one way everywhere.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

QUANTILES = {"min": 0.0, "p10": 0.1, "median": 0.5, "p90": 0.9, "max": 1.0}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> list[float]:
    """[low, high]: the Wilson score interval of a binomial rate (95% for z = 1.96); [0, 1]
    without data."""
    if n == 0:
        return [0.0, 1.0]  # no data: every rate is possible
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


def upper_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided upper confidence bound of a binomial rate (Wilson score, ``confidence``
    one-sided: z = 1.645 for 0.95): the largest rate the counts leave plausible, e.g. for "0 false
    pairs among 1,242" (0.22%). 1 without data."""
    z = NormalDist().inv_cdf(confidence)
    return wilson_interval(successes, n, z)[1]


def quantiles(x: np.ndarray | list[float]) -> dict[str, float]:
    """{"min", "p10", "median", "p90", "max"} of ``x``; NaN for each when ``x`` is empty."""
    x = np.asarray(x, dtype=np.float64)
    q = np.quantile(x, list(QUANTILES.values())) if len(x) else [float("nan")] * len(QUANTILES)
    return {k: float(v) for k, v in zip(QUANTILES, q, strict=True)}
