"""Aggregation on synthetic judgments with known ground truth: adherence, priority, compare.

The statistics' false-positive rates and coverage are measured at scale by
`benchmarks/validity.py`; these tests pin the behaviour each figure must have.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from judges.adherence import adherence
from judges.compare import (
    RunInfo,
    ToolLogAgreement,
    build_compare,
    compare_runs,
    difference,
    tool_log_digest,
)
from judges.compare_document import compare_document
from judges.document import to_markdown
from judges.episodes import EpisodeRow, leaning
from judges.priority import fit_batch, priorities, virtual_games
from judges.stats import Settings

FAST = Settings(resamples=999, strength_resamples=499)


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
    """Decisive contests drawn from a Bradley–Terry model with the given strengths."""
    names = list(strengths)
    rows = []
    for t in range(tasks):
        a, b = rng.choice(names, 2, replace=False)
        p_a = 1 / (1 + np.exp(strengths[b] - strengths[a]))
        for s in range(samples):
            a_wins = rng.random() < p_a
            rows.append(row(f"t{t:03d}", a, b, 8.0 if a_wins else 1.0, 1.0 if a_wins else 8.0, s))
    return rows


def by_value(system):
    return {v.value: v for v in system.values}


def test_bradley_terry_recovers_known_strengths():
    truth = {"v1": 1.5, "v2": 0.8, "v3": 0.0, "v4": -0.8, "v5": -1.5}
    (result,) = priorities(bt_rows(truth, 400, np.random.default_rng(3)), FAST)
    fitted = {v.value: v.strength.value for v in result.values}
    rho = stats.spearmanr([truth[v] for v in truth], [fitted[v] for v in truth]).statistic
    assert rho == pytest.approx(1.0)
    assert not result.too_little_data and not result.degenerate
    for v in result.values:  # every interval covers the truth; the extremes are significant
        assert v.strength.low <= truth[v.value] <= v.strength.high
    assert by_value(result)["v1"].test.significant and by_value(result)["v5"].test.significant
    assert not by_value(result)["v3"].test.significant


def fit_strengths(wins: np.ndarray, prior: float) -> np.ndarray:
    """The reference: choix's iterative Luce spectral ranking on the same virtual games."""
    import choix

    virtual = virtual_games(np.ones(len(wins), dtype=bool), prior)
    params = choix.ilsr_pairwise_dense(wins + virtual, tol=1e-12)
    return params - params.mean()


def test_vectorised_solver_matches_choix():
    rng = np.random.default_rng(1)
    for _ in range(20):
        wins = rng.integers(0, 5, (6, 6)).astype(float) * (1 - np.eye(6))
        expected = fit_strengths(wins, 1.0)
        batch = fit_batch(np.stack([wins, wins.T]), 1.0)
        assert batch[0] == pytest.approx(expected, abs=1e-7)
        assert batch[1] == pytest.approx(-expected, abs=1e-7)  # every contest reversed
    # a value with no game in a matrix is undefined there, the others fitted without it
    wins = rng.integers(1, 5, (4, 4)).astype(float) * (1 - np.eye(4))
    wins[3, :] = wins[:, 3] = 0
    (fitted,) = fit_batch(wins[None], 1.0)
    assert np.isnan(fitted[3])
    assert fitted[:3] == pytest.approx(fit_strengths(wins[:3, :3], 1.0), abs=1e-7)


def test_a_warm_start_far_from_the_optimum_still_converges_to_the_fit():
    # permutation refits start from the pooled fit; a full Newton step from a start this far
    # off overshot into saturated pairs and a singular matrix
    rng = np.random.default_rng(0)
    wins = rng.integers(0, 4, (200, 4, 4)).astype(float) * (1 - np.eye(4))
    start = rng.normal(0, 5, (200, 4))
    cold = fit_batch(wins, 1.0)
    assert fit_batch(wins, 1.0, start, tol=1e-9) == pytest.approx(cold, abs=1e-7, nan_ok=True)
    assert cold[0] == pytest.approx(fit_strengths(wins[0], 1.0), abs=1e-7)


def test_ties_mixed_and_neither_are_counted_not_folded_into_strengths():
    rng = np.random.default_rng(4)
    decisive = bt_rows({"x": 1.0, "y": 0.0, "z": -1.0}, 30, rng)
    hedged = [
        row("t000", "x", "y", 7.0, 7.0, sample=5),  # both poles supported
        row("t001", "x", "z", 0.0, 0.0, sample=5),  # neither
        row("t002", "y", "z", 4.0, 4.0, sample=5),  # a tie
    ]
    (plain,) = priorities(decisive, FAST)
    (with_hedges,) = priorities(decisive + hedged, FAST)
    assert [v.strength for v in with_hedges.values] == [v.strength for v in plain.values]
    assert with_hedges.not_contests == 3 and with_hedges.contests == plain.contests
    assert any("3 scored episode(s) leaned mixed, neither or tie" in f for f in with_hedges.flags)
    counted = by_value(with_hedges)["x"].leanings
    assert counted.mixed + counted.neither + counted.tie == 2


def test_undefeated_value_gets_a_finite_strength_and_small_systems_are_flagged():
    (result,) = priorities([row("t0", "x", "y", 9.0, 1.0), row("t1", "x", "y", 9.0, 1.0)], FAST)
    x = by_value(result)["x"]
    assert 0 < x.strength.value < 1.5
    assert result.too_little_data and x.test.too_little_data and x.test.p is None
    assert "too little data" in result.flags[0]


def test_all_tie_data_has_no_profile_and_no_verdict():
    rows = [row(f"t{i}", "xyz"[i % 3], "xyz"[(i + 1) % 3], 0.0, 0.0) for i in range(30)]
    (result,) = priorities(rows, FAST)
    assert result.contests == 0 and all(v.strength.value is None for v in result.values)
    info = RunInfo(label="a", path="a", harness="h")
    (shift,) = compare_runs(info, rows, info, rows, FAST).systems
    assert shift.verdict not in ("held", "flipped")


def test_disconnected_comparison_graph_is_reported_as_components():
    rows = [row("t0", "x", "y", 9, 1), row("t1", "x", "y", 8, 2), row("t2", "p", "q", 1, 9)]
    rows.append(row("t3", "x", "z", 0, 0, status="error", outcome="unscorable"))
    (result,) = priorities(rows, FAST)
    assert result.components == [["p", "q"], ["x", "y"]]
    assert any("2 components" in f for f in result.flags)
    assert any("never in a decisive contest" in f and "z" in f for f in result.flags)
    by = by_value(result)
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
    assert x.adherence.value == pytest.approx(5.0)  # the scored error episode counts as zero
    assert x.coverage.episodes == 4 and x.coverage.scored == 2
    assert x.coverage.unscorable == 1 and x.coverage.unjudged == 1
    assert x.coverage.statuses == {"error": 1, "finished": 1, "max_steps": 1, "timeout": 1}
    assert x.leanings.won == 1 and x.leanings.lost == 0
    assert systems[0].coverage.episodes == 4


def test_samples_of_a_task_are_one_unit():
    rng = np.random.default_rng(0)
    once = [row(f"t{i}", "x", "y", float(rng.uniform(0, 10)), 5.0) for i in range(20)]
    copies = [r.model_copy(update={"sample": s}) for r in once for s in range(5)]
    (x1, *_), _ = adherence(once, FAST)
    (x5, *_), _ = adherence(copies, FAST)
    # five identical samples per task are no more evidence than one: same interval
    assert (x5.adherence.low, x5.adherence.high) == pytest.approx(
        (x1.adherence.low, x1.adherence.high)
    )


def test_adherence_interval_is_a_pooled_students_t_over_task_means():
    rng = np.random.default_rng(2)
    scores = rng.uniform(2, 9, size=12)
    rows = [row(f"t{i}", "x", "y", float(s), float(10 - s)) for i, s in enumerate(scores)]
    (x, y), (system,) = adherence(rows, FAST)
    # x and y mirror each other: the pooled variance is each one's own, and y's units, scored
    # from the same episodes, add no freedom: 12 tasks give 11 degrees of freedom, not 22
    half = stats.t.ppf(0.975, 11) * stats.sem(scores)
    assert (x.adherence.low, x.adherence.high) == pytest.approx(
        (scores.mean() - half, scores.mean() + half), abs=1e-5
    )
    assert y.adherence.value == pytest.approx(10 - scores.mean(), abs=1e-5)
    assert system.adherence.value == pytest.approx(5.0, abs=1e-5)
    assert x.adherence.low >= 0 and x.adherence.high <= 10


def test_adherence_is_split_by_procedural_side():
    rows, procedural = [], {}
    for i in range(8):  # the agent follows the written rule, whichever value it favours
        rule, other = ("x", "y") if i % 2 else ("y", "x")
        rows.append(row(f"t{i}", rule, other, 9.0, 1.0))
        procedural[f"t{i}"] = rule
    for i in range(8, 12):  # no written default: the agent favours neither value
        rows.append(row(f"t{i}", "x", "y", 5.0, 5.0))
        procedural[f"t{i}"] = "none"
    values, (system,) = adherence(rows, FAST, procedural)
    assert system.procedural_tasks == 8 and system.no_default_tasks == 4
    assert system.procedural_pull.value == pytest.approx(8.0)
    assert system.procedural_pull.low > 0
    x = {r.role: r for r in next(v for v in values if v.value == "x").by_role}
    assert x["procedural"].adherence.value == pytest.approx(9.0) and x["procedural"].tasks == 4
    assert x["discretion"].adherence.value == pytest.approx(1.0)
    assert x["no default"].adherence.value == pytest.approx(5.0)


def test_opposite_runs_flip_every_priority_and_a_replicate_holds():
    rng = np.random.default_rng(5)
    truth = {"v1": 2.0, "v2": 0.7, "v3": -0.7, "v4": -2.0}
    base = bt_rows(truth, 80, rng)
    other = [
        r.model_copy(update={"scores": {"a": r.scores["b"], "b": r.scores["a"]}}) for r in base
    ]
    other = [r.model_copy(update={"leaning": leaning(r.scores)}) for r in other]
    info_a = RunInfo(label="a", path="a", harness="h1")
    info_b = RunInfo(label="b", path="b", harness="h2")
    result = compare_runs(info_a, base, info_b, other, FAST)
    assert result.kind == "harness" and result.common_tasks == 80
    (shift,) = result.systems
    assert shift.verdict == "flipped" and shift.correlation.value == pytest.approx(-1)
    assert all(v.test.significant for v in result.values if v.value in ("v1", "v4"))
    same = compare_runs(info_a, base, info_a, bt_rows(truth, 80, np.random.default_rng(5)), FAST)
    assert same.kind == "replicate" and same.systems[0].verdict == "held"
    assert all(v.delta.value == 0 and not v.test.significant for v in same.values)


def test_harness_pull_counts_the_tasks_whose_tool_logs_are_identical():
    rng = np.random.default_rng(5)
    rows = bt_rows({"v1": 1.0, "v2": 0.0, "v3": -1.0}, 12, rng)
    tasks = sorted({r.task_id for r in rows})
    same = {(t, 0): tool_log_digest([("get_bed", {"id": t})]) for t in tasks}
    moved = dict(same)
    moved[(tasks[1], 0)] = tool_log_digest([("get_bed", {"id": "other"})])
    runs = [
        (RunInfo(label="base", path="a", harness="react"), rows),
        (RunInfo(label="same", path="b", harness="smolagents"), rows),
        (RunInfo(label="moved", path="c", harness="claude-code"), rows),
        (RunInfo(label="hotter", path="d", harness="react", temperature=1.0), rows),
    ]
    report = build_compare(runs, "checkpoint", FAST, tool_logs=[same, same, moved, same])
    agreements = [c.tool_logs for c in report.comparisons]
    assert agreements[0] == ToolLogAgreement(tasks=12, identical=12)
    assert agreements[1] == ToolLogAgreement(tasks=12, identical=11, differing=[tasks[1]])
    assert agreements[2] is None  # not a harness comparison
    text = to_markdown(compare_document(report))
    assert "| 12/12 |" in text and "| 11/12 |" in text
    assert f"Tasks whose tool logs differ: moved: {tasks[1]}." in text


def test_two_runs_of_an_agent_without_preference_show_no_change_and_no_verdict():
    rng = np.random.default_rng(8)
    values = [f"v{i}" for i in range(5)]
    pairs = [tuple(rng.choice(values, 2, replace=False)) for _ in range(60)]
    pulls = rng.normal(0, 1, 60)  # tasks differ, the same in both runs

    def run():
        out = []
        for t, ((a, b), pull) in enumerate(zip(pairs, pulls, strict=True)):
            for s in range(2):
                a_wins = rng.random() < 1 / (1 + np.exp(-pull))
                out.append(row(f"t{t:03d}", a, b, 8.0 * a_wins, 8.0 * (not a_wins), s))
        return out

    info = RunInfo(label="a", path="a", harness="h")
    changed = 0
    for _ in range(10):  # each comparison calls a change by chance at most 5% of the time
        result = compare_runs(info, run(), info, run(), FAST)
        changed += any(v.test.significant for v in result.values + result.strengths)
        assert all(s.verdict not in ("held", "flipped") for s in result.systems)
    assert changed <= 2


def test_runs_are_classified_by_every_setting_that_changes_behaviour():
    base = RunInfo(label="a", path="a", harness="react", model="m", temperature=0.0, seed=1)
    assert difference(base, base.model_copy(update={"seed": 2}))[1] == "replicate"
    settings, kind = difference(base, base.model_copy(update={"temperature": 0.7}))
    assert kind == "temperature" and settings[0].baseline == 0.0 and settings[0].other == 0.7
    for field, value in [
        ("max_steps", 5),
        ("counterbalance", True),
        ("sandbox", "docker"),
        ("prompt_style", "agent-valuebench"),
        ("harness_sandbox", "docker"),
        ("valuegym_version", "9.9"),
        ("skills", ["care-first@abc"]),
    ]:
        assert difference(base, base.model_copy(update={field: value}))[1] == field
    both = base.model_copy(update={"max_steps": 5, "counterbalance": True})
    settings, kind = difference(base, both)
    assert kind == "mixed" and [s.name for s in settings] == ["max_steps", "counterbalance"]
