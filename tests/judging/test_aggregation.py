"""Aggregation on synthetic judgments with known ground truth: adherence, CIs, Bradley–Terry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from judges.adherence import adherence
from judges.compare import RunInfo, compare_runs
from judges.episodes import EpisodeRow, leaning
from judges.priority import fit_strengths, system_priority, win_matrix
from judges.stats import Settings, paired_tests

FAST = Settings(resamples=200)


def row(task, a, b, sa, sb, sample=0, status="finished", outcome="scored", system="sys"):
    scores = {"a": sa, "b": sb} if outcome == "scored" else {}
    return EpisodeRow(
        episode_id=f"{task}#{sample}",
        task_id=task,
        sample=sample,
        status=status,
        value_system=system,
        values={"a": a, "b": b},
        outcome=outcome,
        scores=scores,
        leaning=leaning(scores),
    )


def bt_rows(strengths: dict[str, float], tasks: int, rng, samples: int = 1) -> list[EpisodeRow]:
    """Contests drawn from a Bradley–Terry model with the given strengths."""
    names = list(strengths)
    rows = []
    for t in range(tasks):
        a, b = rng.choice(names, 2, replace=False)
        p_a = 1 / (1 + np.exp(strengths[b] - strengths[a]))
        for s in range(samples):
            a_wins = rng.random() < p_a
            rows.append(row(f"t{t}", a, b, 8.0 if a_wins else 2.0, 2.0 if a_wins else 8.0, s))
    return rows


def test_bradley_terry_recovers_known_strengths():
    truth = {"v1": 1.5, "v2": 0.8, "v3": 0.0, "v4": -0.8, "v5": -1.5}
    result = system_priority("sys", bt_rows(truth, 400, np.random.default_rng(3)), FAST)
    fitted = {v.value: v.strength.value for v in result.values}
    rho = stats.spearmanr([truth[v] for v in truth], [fitted[v] for v in truth]).statistic
    assert rho == pytest.approx(1.0)
    assert not result.too_little_data and result.flags == []
    for v in result.values:  # every CI covers the truth (the prior shrinks only slightly here)
        assert v.strength.low <= truth[v.value] + 0.25 and truth[v.value] - 0.25 <= v.strength.high


def test_ties_are_half_a_win_and_flipped_outcomes_negate_strengths():
    one_each = win_matrix_from([(1.0,), (0.0,)])
    two_ties = win_matrix_from([(0.5,), (0.5,)])
    assert np.allclose(one_each, two_ties)
    assert np.allclose(fit_strengths(two_ties, 1.0), 0)
    wins = np.array([[0, 3, 1], [0, 0, 2], [1, 0, 0]], dtype=float)
    assert np.allclose(fit_strengths(wins.T, 1.0), -fit_strengths(wins, 1.0), atol=1e-6)


def win_matrix_from(outcomes: list[tuple[float]]) -> np.ndarray:
    from judges.priority import Contest

    contests = [Contest(f"t{i}", "x", "y", o) for i, (o,) in enumerate(outcomes)]
    return win_matrix(contests, ["x", "y"])


def test_undefeated_value_gets_a_finite_strength_and_small_systems_are_flagged():
    rows = [row("t0", "x", "y", 9.0, 1.0)]
    result = system_priority("sys", rows, FAST)
    x = next(v for v in result.values if v.value == "x")
    assert 0 < x.strength.value < 1.5
    assert result.too_little_data and "too little data" in result.flags[0]


def test_disconnected_comparison_graph_is_reported_as_components():
    rows = [row("t0", "x", "y", 9, 1), row("t1", "x", "y", 8, 2), row("t2", "p", "q", 1, 9)]
    rows.append(row("t3", "x", "z", 0, 0, status="error", outcome="unscorable"))
    result = system_priority("sys", rows, FAST)
    assert result.components == [["p", "q"], ["x", "y"]]
    assert any("2 components" in f for f in result.flags)
    assert any("never compared" in f and "z" in f for f in result.flags)
    by = {v.value: v for v in result.values}
    assert by["z"].strength.value is None and by["z"].component is None
    assert by["x"].strength.value + by["y"].strength.value == pytest.approx(0, abs=1e-6)
    assert by["q"].strength.value > 0 > by["p"].strength.value


def test_every_episode_is_counted_whatever_its_end():
    rows = [
        row("t0", "x", "y", 10, 0),
        row("t1", "x", "y", 0, 0, status="error"),  # judged on its partial log
        row("t2", "x", "y", 0, 0, status="timeout", outcome="unscorable"),
        row("t3", "x", "y", 0, 0, status="max_steps", outcome="unjudged"),
    ]
    values, systems = adherence(rows, FAST)
    x = next(v for v in values if v.value == "x")
    assert x.adherence.value == pytest.approx(5.0)  # the error episode counts as scored zero
    assert x.coverage.episodes == 4 and x.coverage.scored == 2
    assert x.coverage.unscorable == 1 and x.coverage.unjudged == 1
    assert x.coverage.statuses == {"error": 1, "finished": 1, "max_steps": 1, "timeout": 1}
    assert systems[0].coverage.episodes == 4


def test_samples_of_a_task_are_resampled_together():
    rng = np.random.default_rng(0)
    once = [row(f"t{i}", "x", "y", float(rng.uniform(0, 10)), 5.0) for i in range(20)]
    copies = [r.model_copy(update={"sample": s}) for r in once for s in range(5)]
    (x1, *_), _ = adherence(once, FAST)
    (x5, *_), _ = adherence(copies, FAST)
    # five identical samples per task are no more evidence than one: same interval
    assert (x5.adherence.low, x5.adherence.high) == pytest.approx(
        (x1.adherence.low, x1.adherence.high)
    )


def test_adherence_interval_coverage_is_near_nominal():
    rng = np.random.default_rng(11)
    truth, covered, trials = 10 * 2 / (2 + 5), 0, 300  # the mean of 10 * Beta(2, 5)
    for trial in range(trials):
        scores = 10 * rng.beta(2, 5, size=40)
        rows = [row(f"t{i}", "x", "y", float(s), 0.0) for i, s in enumerate(scores)]
        (x, _), _ = adherence(rows, Settings(resamples=200, seed=trial))
        covered += x.adherence.low <= truth <= x.adherence.high
    assert 0.89 <= covered / trials <= 0.99


def test_paired_tests_detect_a_consistent_shift():
    result = paired_tests(np.full(10, 1.5) + np.linspace(-0.2, 0.2, 10), FAST)
    assert result.positive == 10 and result.sign_p == pytest.approx(2 / 2**10, rel=1e-3)
    assert result.permutation_p < 0.01
    null = paired_tests(np.array([1.0, -1.0, 2.0, -2.0]), FAST)
    assert null.permutation_p == pytest.approx(1.0) and null.sign_p == pytest.approx(1.0)


def test_comparison_of_opposite_runs_flips_every_priority():
    rng = np.random.default_rng(5)
    truth = {"v1": 1.0, "v2": 0.3, "v3": -0.3, "v4": -1.0}
    base = bt_rows(truth, 60, rng)
    other = [
        r.model_copy(update={"scores": {"a": r.scores["b"], "b": r.scores["a"]}}) for r in base
    ]
    other = [r.model_copy(update={"leaning": leaning(r.scores)}) for r in other]
    info_a, info_b = (
        RunInfo(label="a", path="a", harness="h1"),
        RunInfo(label="b", path="b", harness="h2"),
    )
    result = compare_runs(info_a, base, info_b, other, FAST)
    assert result.kind == "harness" and result.common_tasks == 60
    (shift,) = result.systems
    assert shift.verdict == "flipped" and shift.correlation.value == pytest.approx(-1)
    same = compare_runs(info_a, base, info_a, base, FAST)
    assert same.kind == "replicate" and same.systems[0].verdict == "held"
    assert all(v.delta.value == 0 for v in same.values)
