"""Paired comparison of runs on the same tasks: what a harness, model or skill changes.

Runs are paired by task: only tasks with a scored episode in both runs enter a comparison, and
the tasks one run lacks are listed. Per value, the per-task difference of its mean pole score
gets a task-bootstrap CI, a sign-flip permutation test and a sign test. Per value system, both
runs' Bradley–Terry strengths are refitted on the same task resamples, giving CIs for each
value's strength change and for the correlation of the two priority profiles (near -1 when the
priorities flipped, near +1 when they held).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel

from judges.adherence import Coverage, ValueAdherence, adherence
from judges.episodes import EpisodeRow
from judges.priority import (
    SystemPriority,
    bootstrap_strengths,
    components,
    contests,
    fit_components,
    priorities,
    win_matrix,
)
from judges.stats import (
    Estimate,
    PairedTest,
    Settings,
    estimate,
    nanmean,
    paired_tests,
    percentile_interval,
    resample_indices,
)

Kind = Literal["harness", "model", "skills", "system_prompt", "condition", "mixed", "replicate"]
Verdict = Literal["flipped", "held", "unclear", "no data"]


class RunInfo(BaseModel):
    """What identifies a run in a comparison."""

    label: str
    path: str
    harness: str
    model: str | None = None
    skills: list[str] = []
    system_prompt: str | None = None
    condition: str = "agent"
    coverage: Coverage = Coverage()


class ValueDelta(BaseModel):
    value_system: str
    value: str
    tasks: int
    baseline: float | None
    other: float | None
    delta: Estimate
    test: PairedTest

    @property
    def significant(self) -> bool:
        return self.delta.excludes_zero()


class StrengthDelta(BaseModel):
    value_system: str
    value: str
    baseline: float | None
    other: float | None
    delta: Estimate


class SystemShift(BaseModel):
    value_system: str
    tasks: int
    correlation: Estimate
    verdict: Verdict
    too_little_data: bool


class Comparison(BaseModel):
    baseline: str
    other: str
    differs: list[str]
    kind: Kind
    common_tasks: int
    only_baseline: list[str]
    only_other: list[str]
    values: list[ValueDelta]
    strengths: list[StrengthDelta]
    systems: list[SystemShift]


def difference(a: RunInfo, b: RunInfo) -> tuple[list[str], Kind]:
    """Which configuration fields differ, and the comparison kind they make.

    Runs in different conditions (agent vs forced choice) differ in harness too, necessarily:
    that is the condition, not a second difference.
    """
    fields = ("condition", "harness", "model", "skills", "system_prompt")
    differs = [f for f in fields if getattr(a, f) != getattr(b, f)]
    if "condition" in differs and "harness" in differs:
        differs.remove("harness")
    if not differs:
        return differs, "replicate"
    return differs, differs[0] if len(differs) == 1 else "mixed"  # type: ignore[return-value]


def task_means(rows: list[EpisodeRow]) -> dict[str, dict[str, float]]:
    """Per task, each value's mean pole score over the task's scored episodes."""
    sums: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        for value, score in row.value_scores().items():
            sums.setdefault(row.task_id, {}).setdefault(value, []).append(score)
    return {t: {v: float(np.mean(xs)) for v, xs in by.items()} for t, by in sums.items()}


def verdict(correlation: Estimate) -> Verdict:
    if correlation.value is None or correlation.low is None or correlation.high is None:
        return "no data"
    if correlation.high < 0:
        return "flipped"
    if correlation.low > 0:
        return "held"
    return "unclear"


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    both = np.isfinite(x) & np.isfinite(y)
    if both.sum() < 2 or np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return np.nan
    return float(np.corrcoef(x[both], y[both])[0, 1])


def compare_system(
    system: str,
    base_rows: list[EpisodeRow],
    other_rows: list[EpisodeRow],
    tasks: list[str],
    settings: Settings,
) -> tuple[list[ValueDelta], list[StrengthDelta], SystemShift]:
    values = sorted({v for r in base_rows + other_rows for v in r.values.values()})
    base_means, other_means = task_means(base_rows), task_means(other_rows)
    # per task x value: the paired difference (NaN where the value is not in the task)
    diffs = np.full((len(tasks), len(values)), np.nan)
    for i, t in enumerate(tasks):
        for j, v in enumerate(values):
            if v in base_means.get(t, {}) and v in other_means.get(t, {}):
                diffs[i, j] = other_means[t][v] - base_means[t][v]
    rng = settings.rng("compare", system)
    idx = resample_indices(len(tasks), settings.resamples, rng)
    diff_draws = nanmean(diffs[idx], axis=1) if tasks else np.full((1, len(values)), np.nan)
    d_low, d_high = percentile_interval(diff_draws, settings.level)
    value_rows = []
    for j, v in enumerate(values):
        mine = diffs[:, j][np.isfinite(diffs[:, j])]
        present = [t for i, t in enumerate(tasks) if np.isfinite(diffs[i, j])]
        value_rows.append(
            ValueDelta(
                value_system=system,
                value=v,
                tasks=len(mine),
                baseline=_mean([base_means[t][v] for t in present]),
                other=_mean([other_means[t][v] for t in present]),
                delta=estimate(nanmean(diffs[:, j]), d_low[j], d_high[j]),
                test=paired_tests(mine, settings, f"{system}/{v}"),
            )
        )
    strengths, shift = _strength_shift(system, base_rows, other_rows, tasks, values, idx, settings)
    return value_rows, strengths, shift


def _mean(xs: list[float]) -> float | None:
    return round(float(np.mean(xs)), 6) if xs else None


def _strength_shift(
    system: str,
    base_rows: list[EpisodeRow],
    other_rows: list[EpisodeRow],
    tasks: list[str],
    values: list[str],
    idx: np.ndarray,
    settings: Settings,
) -> tuple[list[StrengthDelta], SystemShift]:
    base_c, other_c = contests(base_rows), contests(other_rows)
    index = {v: i for i, v in enumerate(values)}
    groups = [[index[v] for v in g] for g in components(base_c + other_c)]

    def per_task(found: list) -> np.ndarray:
        return np.array(
            [win_matrix([c for c in found if c.task_id == t], values) for t in tasks]
        ).reshape(len(tasks), len(values), len(values))

    base_w, other_w = per_task(base_c), per_task(other_c)
    s_base = fit_components(groups, base_w.sum(0), settings.prior)
    s_other = fit_components(groups, other_w.sum(0), settings.prior)
    if tasks:
        b_draws = bootstrap_strengths(groups, base_w, idx, settings.prior, s_base)
        o_draws = bootstrap_strengths(groups, other_w, idx, settings.prior, s_other)
    else:
        b_draws = o_draws = np.full((1, len(values)), np.nan)
    low, high = percentile_interval(o_draws - b_draws, settings.level)
    strengths = [
        StrengthDelta(
            value_system=system,
            value=v,
            baseline=estimate(s_base[j], np.nan, np.nan).value,
            other=estimate(s_other[j], np.nan, np.nan).value,
            delta=estimate(s_other[j] - s_base[j], low[j], high[j]),
        )
        for j, v in enumerate(values)
    ]
    corr_draws = np.array([_correlation(b, o) for b, o in zip(b_draws, o_draws, strict=True)])
    c_low, c_high = percentile_interval(corr_draws, settings.level)
    correlation = estimate(_correlation(s_base, s_other), float(c_low), float(c_high))
    shift = SystemShift(
        value_system=system,
        tasks=len(tasks),
        correlation=correlation,
        verdict=verdict(correlation),
        too_little_data=len(tasks) < settings.min_tasks,
    )
    return strengths, shift


def compare_runs(
    base: RunInfo,
    base_rows: list[EpisodeRow],
    other: RunInfo,
    other_rows: list[EpisodeRow],
    settings: Settings,
) -> Comparison:
    base_tasks = {r.task_id for r in base_rows if r.scored}
    other_tasks = {r.task_id for r in other_rows if r.scored}
    common = base_tasks & other_tasks
    values: list[ValueDelta] = []
    strengths: list[StrengthDelta] = []
    systems: list[SystemShift] = []
    for system in sorted({r.value_system for r in base_rows + other_rows}):
        b = [r for r in base_rows if r.value_system == system and r.task_id in common]
        o = [r for r in other_rows if r.value_system == system and r.task_id in common]
        tasks = sorted({r.task_id for r in b})
        v, s, shift = compare_system(system, b, o, tasks, settings)
        values += v
        strengths += s
        systems.append(shift)
    differs, kind = difference(base, other)
    return Comparison(
        baseline=base.label,
        other=other.label,
        differs=differs,
        kind=kind,
        common_tasks=len(common),
        only_baseline=sorted(base_tasks - other_tasks),
        only_other=sorted(other_tasks - base_tasks),
        values=values,
        strengths=strengths,
        systems=systems,
    )


class RunProfile(BaseModel):
    """One run's own figures, shown side by side with the others'."""

    run: RunInfo
    values: list[ValueAdherence]
    priorities: list[SystemPriority]


class CompareReport(BaseModel):
    judge: str
    baseline: str
    runs: list[RunProfile]
    comparisons: list[Comparison]
    settings: Settings


def build_compare(
    runs: list[tuple[RunInfo, list[EpisodeRow]]], judge: str, settings: Settings
) -> CompareReport:
    """Every run against the first (the baseline), plus each run's own profile."""
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two runs")
    profiles = [
        RunProfile(
            run=info, values=adherence(rows, settings)[0], priorities=priorities(rows, settings)
        )
        for info, rows in runs
    ]
    (base, base_rows), others = runs[0], runs[1:]
    return CompareReport(
        judge=judge,
        baseline=base.label,
        runs=profiles,
        comparisons=[compare_runs(base, base_rows, o, o_rows, settings) for o, o_rows in others],
        settings=settings,
    )
