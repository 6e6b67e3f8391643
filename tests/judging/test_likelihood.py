"""Profile-likelihood intervals of Bradley–Terry strengths and strength changes.

Coverage at scale is `benchmarks/validity.py`'s; these pin the solver against a brute-force
profile and the behaviour that made it replace the jackknife.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from judges.compare import RunInfo, build_compare, compare_runs
from judges.compare_document import compare_document
from judges.document import to_markdown
from judges.likelihood import log_likelihood, null_deviance
from judges.priority import (
    STRENGTH_TEST,
    components,
    dispersion,
    fit_components,
    priorities,
    strength_intervals,
    virtual_games,
)
from judges.stats import Settings, methods_text
from tests.judging.test_aggregation import FAST, by_value, row

CHI2 = stats.chi2.ppf(0.95, 1)
# the interval mechanics at a few contests per value, below the default minimum for an interval
MECHANICS = Settings(min_tasks=2)


def brute_deviance(games: np.ndarray, v: int, c: float) -> float:
    """2 (l_max - max l with v's centred strength at c), by a general-purpose optimiser."""
    n = len(games)

    def neg(x: np.ndarray) -> float:
        return -float(log_likelihood(x[None], games[None])[0])

    def constrained(x: np.ndarray) -> float:  # v's strength fixed at 0, the others' mean set
        s = np.insert(x, v, 0.0)
        s[[u for u in range(n) if u != v][-1]] = -n * c - x[:-1].sum()
        return neg(s)

    best = optimize.minimize(neg, np.zeros(n), method="BFGS", options={"gtol": 1e-10}).fun
    at_c = optimize.minimize(
        constrained, np.zeros(n - 1), method="BFGS", options={"gtol": 1e-10}
    ).fun
    return 2 * (at_c - best)


def per_task_wins(pairs: list[tuple[int, int, int]], values: int) -> np.ndarray:
    """(winner, loser, samples) per task -> tasks x values x values."""
    w = np.zeros((len(pairs), values, values))
    for t, (i, j, k) in enumerate(pairs):
        w[t, i, j] = k
    return w


@pytest.mark.parametrize("seed", range(4))
def test_endpoints_are_where_the_brute_force_profile_deviance_reaches_chi2(seed):
    rng = np.random.default_rng(seed)
    V = 4
    pairs = [(*rng.choice(V, 2, replace=False), 1) for _ in range(14)]
    per_task = per_task_wins(pairs, V)
    total = per_task.sum(0)
    groups = components(total, list(range(V)))
    point = fit_components(groups, total, 1.0)
    low, high, p = strength_intervals(groups, per_task, point, MECHANICS)
    games = total + virtual_games(np.ones(V, dtype=bool), 1.0)
    for v in range(V):
        assert low[v] < point[v] < high[v]
        assert brute_deviance(games, v, low[v]) == pytest.approx(CHI2, abs=1e-3)
        assert brute_deviance(games, v, high[v]) == pytest.approx(CHI2, abs=1e-3)
        assert p[v] == pytest.approx(stats.chi2.sf(brute_deviance(games, v, 0.0), 1), abs=1e-4)


def test_an_undefeated_value_gets_a_finite_interval_long_on_the_flat_side():
    """Where the jackknife interval collapses (leaving out one of many wins barely moves the
    fit), the profile likelihood is long upwards and still informative downwards."""
    pairs = [(0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 1, 1), (0, 2, 1), (0, 3, 1), (0, 1, 1)]
    pairs += [(1, 2, 1), (2, 3, 1), (3, 1, 1), (2, 1, 1), (1, 3, 1)]
    per_task = per_task_wins(pairs, 4)
    total = per_task.sum(0)
    groups = components(total, list(range(4)))
    point = fit_components(groups, total, 1.0)
    low, high, p = strength_intervals(groups, per_task, point, MECHANICS)
    assert np.isfinite(high[0]) and high[0] - point[0] > 1.5 * (point[0] - low[0])
    assert low[0] > 0 and p[0] < 0.05  # seven wins of seven: not a zero strength


def test_repeated_samples_that_agree_are_not_more_evidence():
    """A task's samples repeated verbatim: the dispersion grows with the copies and the
    interval stays about as wide as with one sample per task."""
    rng = np.random.default_rng(5)
    pairs = [(*rng.choice(4, 2, replace=False), 1) for _ in range(16)]
    once = per_task_wins(pairs, 4)
    thrice = 3 * once
    widths = []
    for per_task in (once, thrice):
        total = per_task.sum(0)
        groups = components(total, list(range(4)))
        point = fit_components(groups, total, 1.0)
        low, high, _ = strength_intervals(groups, per_task, point, MECHANICS)
        widths.append(high - low)
    assert dispersion(once, point) == 1.0
    assert dispersion(thrice, point) > 2
    assert widths[1] == pytest.approx(widths[0], rel=0.3)


def test_report_and_compare_name_the_methods():
    text = methods_text(Settings())
    assert "profile-likelihood intervals (Bradley–Terry strengths" in text
    assert "Rao–Scott" in text and "likelihood-ratio test" in text
    rows = [row(f"t{i}", "xyz"[i % 3], "xyz"[(i + 1) % 3], 9.0, 1.0) for i in range(9)]
    (system,) = priorities(rows, FAST)
    assert all(v.test.method == STRENGTH_TEST for v in system.values)
    assert "likelihood-ratio" in STRENGTH_TEST
    runs = [(RunInfo(label=k, path=k, harness=k), rows) for k in ("a", "b")]
    document = to_markdown(compare_document(build_compare(runs, "checkpoint", FAST)))
    assert "profile likelihood of both runs' fits, Rao–Scott-corrected" in document
    assert methods_text(FAST) in document


def test_a_strength_change_interval_holds_the_change_and_respects_the_pairing():
    """The same runs: no change, a zero-width interval at zero (every left-out task changes
    both runs alike). A reversed run: a finite interval around the change, excluding zero."""
    rng = np.random.default_rng(2)
    names = ["p", "q", "r", "s"]
    strengths = dict(zip(names, [1.5, 0.5, -0.5, -1.5], strict=True))
    base, reverse = [], []
    for t in range(40):
        a, b = rng.choice(names, 2, replace=False)
        u = rng.random()
        for rows, sign in ((base, 1), (reverse, -1)):
            a_wins = u < 1 / (1 + np.exp(sign * (strengths[b] - strengths[a])))
            rows.append(row(f"t{t}", a, b, 9.0 if a_wins else 1.0, 1.0 if a_wins else 9.0))
    info, other = (
        RunInfo(label="a", path="a", harness="h"),
        RunInfo(label="b", path="b", harness="h"),
    )
    same = compare_runs(info, base, other, base, FAST)
    for s in same.strengths:
        assert s.delta.value == pytest.approx(0, abs=1e-6)
        assert s.delta.low == pytest.approx(0, abs=1e-6) and s.delta.high == pytest.approx(
            0, abs=1e-6
        )
    flipped = {s.value: s for s in compare_runs(info, base, other, reverse, FAST).strengths}
    for v in names:
        d = flipped[v].delta
        assert d.low < d.value < d.high
    assert flipped["p"].delta.high < 0 < flipped["s"].delta.low
    assert by_value(priorities(base, FAST)[0])["p"].strength.low > 0


def test_a_value_that_did_not_play_in_this_run_leaves_the_others_tested():
    """A comparison's components come from both runs: a value of the component may have no
    contest in one run, and the other values still get their tests there."""
    pairs = [(0, 1, 1), (0, 2, 1), (1, 2, 1), (0, 1, 1), (0, 2, 1), (2, 1, 1), (0, 1, 1)]
    per_task = per_task_wins(pairs, 4)
    group = [[0, 1, 2, 3]]  # 3 played only in the other run
    point = fit_components([[0, 1, 2]], per_task.sum(0), 1.0)
    _, _, p = strength_intervals(group, per_task, point, MECHANICS, intervals=False)
    assert np.isfinite(p[:3]).all() and np.isnan(p[3])
    _, _, p_own = strength_intervals([[0, 1, 2]], per_task, point, MECHANICS)
    assert p[:3] == pytest.approx(p_own[:3], abs=1e-6)


def test_random_lopsided_records_give_finite_intervals_at_the_critical_deviance():
    """200 random systems (2-8 values, a few to many contests, records as lopsided as
    strengths of +-6 make them): every endpoint is finite, brackets the fit, and sits where
    the profile deviance (recomputed by a constrained fit at that endpoint) is the critical
    value."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        V = int(rng.integers(2, 9))
        truth = rng.normal(0, 3, V)
        pairs = []
        for _ in range(int(rng.integers(V, 12 * V))):
            i, j = rng.choice(V, 2, replace=False)
            win = rng.random() < 1 / (1 + np.exp(truth[j] - truth[i]))
            pairs.append((i, j, 1) if win else (j, i, 1))
        per_task = per_task_wins(pairs, V)
        total = per_task.sum(0)
        groups = components(total, list(range(V)))
        point = fit_components(groups, total, 1.0)
        low, high, p = strength_intervals(groups, per_task, point, MECHANICS)
        for group in groups:
            n = len(group)
            games = total[np.ix_(group, group)] + virtual_games(np.ones(n, dtype=bool), 1.0)
            pin = np.full((n, n), 1 / n)
            contrasts = np.eye(n) - 1 / n
            for bound in (low[group], high[group]):
                ok = np.isfinite(bound)
                if not ok.any():
                    continue
                dev = null_deviance(games, pin, point[group], contrasts[ok], 0.0)
                # the deviance at the endpoint, by shifting the null to it per contrast
                at = np.array(
                    [
                        null_deviance(games, pin, point[group], contrasts[[k]], float(b))[0]
                        for k, b in zip(np.flatnonzero(ok), bound[ok], strict=True)
                    ]
                )
                assert at == pytest.approx(CHI2, abs=1e-4)
                assert np.isfinite(dev).all()
            tested = [v for v in group if np.isfinite(low[v])]
            assert all(low[v] < point[v] < high[v] for v in tested)
            assert all(0 <= p[v] <= 1 for v in tested)


def test_a_value_in_fewer_than_min_tasks_tasks_gets_a_strength_but_no_interval_or_test():
    """Three contests give the likelihood a handful of shapes: no interval there can cover
    what it claims, so the report shows the strength and says too little data."""
    rows = [row(f"t{k}", "x", "y", 8.0, 0.0) for k in range(3)]  # x beats y in 3 tasks
    rows += [row(f"u{k}", "y", "z", 8.0, 0.0) for k in range(6)]  # y beats z in 6
    rows += [row(f"w{k}", "z", "x", 8.0 * (k % 2), 8.0 * (1 - k % 2)) for k in range(4)]
    (system,) = priorities(rows, FAST)
    values = by_value(system)
    assert values["x"].tasks == 7 and values["x"].strength.low is not None
    assert values["z"].tasks == 10 and values["z"].strength.high is not None
    low = priorities(rows, FAST.model_copy(update={"min_tasks": 8}))[0]
    x = by_value(low)["x"]
    assert x.strength.value == values["x"].strength.value
    assert x.strength.low is None and x.strength.high is None and x.test.too_little_data
    assert by_value(low)["z"].strength.low is not None
    assert any("in fewer than 8 tasks: x;" in f for f in low.flags)
