"""The statistical building blocks against scipy's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from judges.stats import (
    adjust,
    jackknife_se,
    pooled_t_intervals,
    sign_flip_p,
    t_intervals,
)


def test_t_intervals_match_scipy_column_by_column():
    rng = np.random.default_rng(0)
    units = rng.normal(5, 2, (9, 3))
    units[[1, 4], 2] = np.nan  # missing units
    mean, low, high, n = t_intervals(units)
    for j in range(3):
        column = units[np.isfinite(units[:, j]), j]
        ci = stats.ttest_1samp(column, 0).confidence_interval(0.95)
        assert (mean[j], low[j], high[j]) == pytest.approx((column.mean(), ci.low, ci.high))
        assert n[j] == len(column)
    one = t_intervals(np.array([[3.0]]))
    assert one[0][0] == 3.0 and np.isnan(one[1][0])  # no interval from one task


def test_pooled_intervals_use_one_variance_and_the_systems_degrees_of_freedom():
    rng = np.random.default_rng(1)
    units = rng.normal(0, 1, (12, 4))
    units[np.arange(12)[:, None] % 2 == np.arange(4) % 2] = np.nan  # two values per task
    mean, low, high, _ = pooled_t_intervals(units)
    residual = units - np.nanmean(units, 0)
    sd = np.sqrt(np.nansum(residual**2) / (24 - 4))  # one variance over the 24 units
    # a task's two units come from the same episodes: Satterthwaite's degrees of freedom for
    # pairs with the residuals' within-task correlation, at least 12 tasks - 1
    pairs = np.array([r[np.isfinite(r)] for r in residual])
    rho = 2 * (pairs[:, 0] * pairs[:, 1]).sum() / (pairs**2).sum()
    df = min(20, max(11, 20 / (1 + rho**2)))
    assert 11 < df < 20
    half = stats.t.ppf(0.975, df) * sd / np.sqrt(6)
    assert high - mean == pytest.approx(np.full(4, half))
    assert low == pytest.approx(mean - half)


def test_perfectly_paired_units_count_once_per_task():
    """When a task's two units move together exactly (one value's gain is the other's
    loss), the 24 units carry no more than 12 tasks' worth of spread: 11 degrees of freedom."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 12)
    units = np.full((12, 4), np.nan)
    units[np.arange(12), np.arange(12) % 2] = x
    units[np.arange(12), 2 + np.arange(12) % 2] = -x
    mean, _, high, _ = pooled_t_intervals(units)
    sd = np.sqrt(np.nansum((units - np.nanmean(units, 0)) ** 2) / 20)
    assert high - mean == pytest.approx(np.full(4, stats.t.ppf(0.975, 11) * sd / np.sqrt(6)))


def test_sign_flip_test_is_scipys_exact_permutation_test():
    rng = np.random.default_rng(2)
    for n in (3, 6, 9):
        d = rng.normal(0.6, 1, n)
        expected = stats.permutation_test(
            (d,), np.mean, permutation_type="samples", n_resamples=np.inf
        ).pvalue
        assert sign_flip_p(d, 9999, rng) == pytest.approx(expected)
    assert sign_flip_p(np.array([1.0, -1.0, 2.0, -2.0]), 9999, rng) == pytest.approx(1.0)
    # six tasks all moving the same way: the smallest two-sided p there is, 2/64
    assert sign_flip_p(np.ones(6), 9999, rng) == pytest.approx(2 / 64)
    assert sign_flip_p(np.ones(5), 9999, rng) > 0.05  # five tasks can never reach 0.05
    big = sign_flip_p(np.full(30, 0.5) + rng.normal(0, 0.1, 30), 999, rng)
    assert big == pytest.approx(1 / 1000)  # random patterns: the observed one counts


def test_holm_and_benjamini_hochberg():
    p = [0.01, None, 0.04, 0.03, 0.5]
    assert adjust(p, "holm") == pytest.approx([0.04, None, 0.09, 0.09, 0.5])
    bh = stats.false_discovery_control([0.01, 0.04, 0.03, 0.5]).tolist()
    assert [q for q in adjust(p, "bh") if q is not None] == pytest.approx(bh, abs=1e-6)
    assert adjust([None, None]) == [None, None]


def test_jackknife_of_a_mean_is_its_standard_error():
    x = np.random.default_rng(3).normal(0, 1, 15)
    left_out = (x.sum() - x) / (len(x) - 1)
    assert jackknife_se(left_out[:, None])[0] == pytest.approx(stats.sem(x))
