"""Small statistics (dcgan_lib/stats.py): the Wilson interval and the quantile summary by hand."""

import math

import pytest

from dcgan_lib import stats as S


def test_wilson_interval_by_hand():
    # p = 0.5, n = 10: centre 0.5, half-width 1.96 sqrt(0.025 + 0.0096) / 1.3842 = 0.2634
    assert S.wilson_interval(5, 10) == pytest.approx([0.2366, 0.7634], abs=1e-4)
    # no successes: the upper end is z^2 / (n + z^2), not 0 as the plain (Wald) interval says
    assert S.wilson_interval(0, 10) == pytest.approx([0.0, 1.96**2 / (10 + 1.96**2)])
    assert S.wilson_interval(10, 10) == pytest.approx([10 / (10 + 1.96**2), 1.0])
    assert S.wilson_interval(0, 0) == [0.0, 1.0]


def test_quantiles_by_hand_and_of_nothing():
    q = S.quantiles([4.0, 0.0, 2.0, 1.0, 3.0])
    assert q == {"min": 0.0, "p10": 0.4, "median": 2.0, "p90": 3.6, "max": 4.0}
    assert all(math.isnan(v) for v in S.quantiles([]).values())
