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


def test_upper_bound_is_one_sided_and_shrinks_with_n():
    # none in n: the Wilson bound is z^2 / (n + z^2), z the one-sided 95% quantile (1.645)
    z = 1.6448536269514722
    assert S.upper_bound(0, 1242) == pytest.approx(z * z / (1242 + z * z))
    assert 0.002 < S.upper_bound(0, 1242) < 0.0025  # far below 1 in 100
    assert S.upper_bound(0, 31) > 0.05  # 0 of 31 cannot rule out 1 in 100
    assert S.upper_bound(0, 1242) < S.upper_bound(0, 100) < S.upper_bound(0, 10)
    # one-sided 95% lies inside the two-sided 95% interval's upper end
    assert S.upper_bound(5, 100) < S.wilson_interval(5, 100)[1]
    assert S.upper_bound(0, 0) == 1.0
