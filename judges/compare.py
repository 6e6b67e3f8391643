"""Paired comparison of runs on the same tasks: what a harness, model or skill changes.

Runs are paired by task: only tasks with a scored episode in both runs enter a comparison, and
the tasks one run lacks are listed. Per value, the per-task difference of its mean pole score
gets a Student-t interval and a sign-flip permutation test (the two runs exchanged within a
task; exact by enumeration up to `Settings.resamples` patterns). Per value system, each
value's strength change gets a profile-likelihood interval of both runs' fits, corrected for
the pairing (Rao–Scott, with the runs refitted with each task left out of both: see
`change_intervals`), and a permutation test exchanging the runs within tasks; the correlation
of the two priority profiles gets a jackknife interval (on Fisher's z scale). Each
comparison's value tests and strength tests are two families, adjusted separately.

A profile verdict is given only where it means something: *flipped* (correlation interval
below zero) or *held* (above) needs `min_tasks` paired tasks, three values with strengths in
both runs, and a priority profile in each run (some value's strength significantly different
from zero within the system). Otherwise the verdict says which of those is missing.

Runs are classified by every recorded setting that changes behaviour (`BEHAVIOUR`): a
comparison that differs in one of them is named for it, in none a replicate, in several mixed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from judges.adherence import Coverage, SystemAdherence, ValueAdherence, adherence
from judges.episodes import EpisodeRow
from judges.likelihood import profile_intervals, strength_information
from judges.priority import (
    SystemPriority,
    components,
    fit_batch,
    fit_components,
    jackknife_strengths,
    penalised_games,
    priorities,
    strength_intervals,
    value_tasks,
)
from judges.report import fallback_note
from judges.stats import (
    CHANGE,
    Estimate,
    Settings,
    Test,
    adjust,
    apply_family,
    estimate,
    jackknife_se,
    make_test,
    methods_text,
    nanmean,
    pooled_t_intervals,
    sign_flip_p,
    t_quantile,
)
from judges.table import by_system, system_table
from judges.verdict import LEANINGS

SIGN_FLIP = "paired sign-flip permutation test"
STRENGTH_CHANGE = "paired permutation test (runs exchanged within tasks, refitted)"

# Recorded settings that change what an agent does, in the order comparisons name them.
BEHAVIOUR: tuple[str, ...] = (
    "condition",
    "harness",
    "model",
    "skills",
    "system_prompt",
    "prompt_style",
    "temperature",
    "max_steps",
    "timeout_s",
    "counterbalance",
    "sandbox",
    "harness_sandbox",
    "valuegym_version",
)

CONDITION_SETS = (
    "harness",
    "sandbox",
    "harness_sandbox",
    "counterbalance",
)  # what a condition decides by itself

Verdict = Literal["flipped", "held", "unclear", "no profile", "too little data", "no data"]


class RunInfo(BaseModel):
    """What identifies a run in a comparison: its behaviour-changing settings and coverage."""

    label: str
    path: str
    harness: str
    model: str | None = None
    skills: list[str] = []
    system_prompt: str | None = None
    prompt_style: str = "valuegym"
    condition: str = "agent"
    temperature: float | None = None
    max_steps: int | None = None
    timeout_s: float | None = None
    counterbalance: bool = False
    sandbox: str | None = None
    harness_sandbox: str = "host"
    valuegym_version: str | None = None
    seed: int | None = None
    coverage: Coverage = Coverage()
    leaning: dict[str, int] = Field(
        default_factory=dict, description="Episodes by leaning (a, b, mixed, neither, tie)."
    )


class ValueDelta(BaseModel):
    value_system: str
    value: str
    tasks: int
    baseline: float | None
    other: float | None
    delta: Estimate
    test: Test
    fallback_tasks: int = Field(default=0, description="Paired tasks scored by fallback only.")

    @property
    def significant(self) -> bool:
        return self.test.significant


class StrengthDelta(BaseModel):
    value_system: str
    value: str
    baseline: float | None
    other: float | None
    delta: Estimate
    test: Test

    @property
    def significant(self) -> bool:
        return self.test.significant


class SystemShift(BaseModel):
    value_system: str
    tasks: int
    correlation: Estimate
    verdict: Verdict
    too_little_data: bool
    no_profile: list[str] = Field(
        default_factory=list, description="Runs whose strengths show no profile in this system."
    )


class Setting(BaseModel):
    """One behaviour-changing setting that differs between the runs."""

    name: str
    baseline: Any = None
    other: Any = None


class ToolLogAgreement(BaseModel):
    """How many paired tasks have the same server tool log (every sample, call by call) in
    both runs: under one deterministic policy, a harness that only carries the calls leaves
    every log as it was, and any difference is the harness's own doing."""

    tasks: int
    identical: int
    differing: list[str] = Field(default_factory=list)


class Comparison(BaseModel):
    baseline: str
    other: str
    differs: list[str]
    settings: list[Setting] = Field(default_factory=list)
    kind: str = Field(description="The one differing setting, 'replicate' or 'mixed'.")
    common_tasks: int
    only_baseline: list[str]
    only_other: list[str]
    values: list[ValueDelta]
    strengths: list[StrengthDelta]
    systems: list[SystemShift]
    fallback_tasks: int = Field(
        default=0, description="Paired tasks scored only by fallback checkpoints (no goldens)."
    )
    fallback_in_priorities: bool = False
    fallback_note: str | None = None
    tool_logs: ToolLogAgreement | None = Field(
        default=None,
        description="Harness comparisons: paired tasks whose server tool logs are identical.",
    )


ToolLogDigests = dict[tuple[str, int], str]
"""(task id, sample) -> a digest of the episode's tool log (tool names and arguments)."""


def tool_log_digest(calls: list[tuple[str, Any]]) -> str:
    text = json.dumps([[tool, arguments] for tool, arguments in calls], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def tool_log_agreement(base: ToolLogDigests, other: ToolLogDigests) -> ToolLogAgreement:
    tasks: dict[str, bool] = {}
    for key in base.keys() & other.keys():
        tasks[key[0]] = tasks.get(key[0], True) and base[key] == other[key]
    differing = sorted(t for t, same in tasks.items() if not same)
    return ToolLogAgreement(
        tasks=len(tasks), identical=len(tasks) - len(differing), differing=differing
    )


def difference(a: RunInfo, b: RunInfo) -> tuple[list[Setting], str]:
    """Which behaviour-changing settings differ, and the comparison kind they make.

    Runs in different conditions (agent vs forced choice) necessarily differ in harness,
    sandbox and counterbalancing too (a question has no tools and always shows both orders):
    that is the condition, not further differences.
    """
    differs = [
        Setting(name=f, baseline=getattr(a, f), other=getattr(b, f))
        for f in BEHAVIOUR
        if getattr(a, f) != getattr(b, f)
    ]
    if a.condition != b.condition:
        differs = [d for d in differs if d.name not in CONDITION_SETS]
    if not differs:
        return differs, "replicate"
    return differs, differs[0].name if len(differs) == 1 else "mixed"


def _round(x: float) -> float | None:
    return estimate(x).value


def _fisher_z(r: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12))


def _correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Pearson correlation over the values finite in both (NaN with < 3 values)."""
    both = np.isfinite(x) & np.isfinite(y)
    n = both.sum(1)
    xs, ys = np.where(both, x, 0.0), np.where(both, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(both, xs - xs.sum(1, keepdims=True) / n[:, None], 0.0)
        yc = np.where(both, ys - ys.sum(1, keepdims=True) / n[:, None], 0.0)
        r = (xc * yc).sum(1) / np.sqrt((xc**2).sum(1) * (yc**2).sum(1))
    return np.where(n >= 3, r, np.nan)


def _profile(
    groups: list[list[int]], wins: np.ndarray, point: np.ndarray, tasks: np.ndarray, s: Settings
) -> bool:
    """Whether a run shows a priority profile: some value's strength significant (the
    report's likelihood-ratio test, Holm or BH within the system), among the values with
    enough tasks."""
    _, _, p = strength_intervals(groups, wins, point, s, intervals=False)
    family = [
        float(q) if s.enough_tasks(n) and np.isfinite(q) else None
        for q, n in zip(p, tasks, strict=True)
    ]
    return any(q is not None and q < s.alpha for q in adjust(family, s.correction))


def change_intervals(
    groups: list[list[int]],
    totals: tuple[np.ndarray, np.ndarray],
    points: tuple[np.ndarray, np.ndarray],
    replicates: np.ndarray,
    tasks: np.ndarray,
    settings: Settings,
) -> tuple[np.ndarray, np.ndarray]:
    """Per value: the interval of its strength change, the profile likelihood of both runs'
    fits side by side with the Rao–Scott design-effect correction.

    The two runs are one likelihood with a block per run, so the change is a contrast. The
    runs are not independent (the same tasks pull both the same way), so the deviance is
    divided by the design effect: the paired delete-one-task jackknife variance of the change
    (`replicates`) over its variance under independence (the inverse information), and
    referred to F(1, tasks - 1) as the jackknife variance is estimated from that many tasks
    (Rao and Scott 1984). The interval keeps the likelihood's asymmetry and the jackknife's
    pairing. As for a run's strengths, a value in fewer than `settings.min_tasks` tasks gets
    no interval (too little data).
    """
    V = len(tasks)
    low, high = np.full(V, np.nan), np.full(V, np.nan)
    se_jack = jackknife_se(replicates)
    played = [np.isfinite(p) for p in points]
    for group in groups:
        blocks = [[v for v in group if played[r][v]] for r in (0, 1)]
        sizes = [len(b) for b in blocks]
        n = sum(sizes)
        games = np.zeros((n, n))
        pin = np.zeros((n, n))
        offset = 0
        for r, block in enumerate(blocks):
            ix = slice(offset, offset + sizes[r])
            games[ix, ix] = penalised_games(totals[r], block, settings.prior)
            pin[ix, ix] = 1 / max(sizes[r], 1)
            offset += sizes[r]
        point = np.concatenate([points[0][blocks[0]], points[1][blocks[1]]])
        keep, rows = [], []
        for v in group:
            if v not in blocks[0] or v not in blocks[1] or not settings.enough_tasks(tasks[v]):
                continue
            a = np.zeros(n)
            a[: sizes[0]] -= (np.array(blocks[0]) == v) - 1 / sizes[0]
            a[sizes[0] :] += (np.array(blocks[1]) == v) - 1 / sizes[1]
            keep.append(v)
            rows.append(a)
        if not keep:
            continue
        contrasts = np.array(rows)
        _, hess = strength_information(point, games, pin)
        model_var = np.einsum("ki,ij,kj->k", contrasts, np.linalg.inv(-hess), contrasts)
        effect = se_jack[keep] ** 2 / model_var
        crit = effect * t_quantile(tasks[keep] - 1, settings.level) ** 2  # F(1, df) = t(df)^2
        ok = np.isfinite(crit)
        if not ok.any():
            continue
        idx = np.array(keep)[ok]
        lo, hi, _ = profile_intervals(games, pin, point, contrasts[ok], crit[ok], null=None)
        low[idx], high[idx] = lo, hi
    return low, high


def compare_system(
    system: str,
    base_rows: list[EpisodeRow],
    other_rows: list[EpisodeRow],
    tasks: list[str],
    labels: tuple[str, str],
    settings: Settings,
    ranked: list[str] | None = None,
) -> tuple[list[ValueDelta], list[StrengthDelta], SystemShift]:
    """One system's value changes over `tasks`, and its strength changes and profile verdict
    over `ranked` (the tasks fit for priorities; all of them by default)."""
    values = sorted({v for r in base_rows + other_rows for v in r.values.values()})
    base = system_table(system, base_rows, values, tasks)
    other = system_table(system, other_rows, values, tasks)
    keep = [i for i, t in enumerate(tasks) if ranked is None or t in set(ranked)]
    unranked = np.ones(len(tasks), dtype=bool)
    unranked[keep] = False
    value_rows = value_changes(
        system, base.task_value_means(), other.task_value_means(), values, settings, unranked
    )
    strengths, shift = strength_shift(
        system, base.win_matrices()[keep], other.win_matrices()[keep], values, labels, settings
    )
    return value_rows, strengths, shift


def value_changes(
    system: str,
    base: np.ndarray,
    other: np.ndarray,
    values: list[str],
    settings: Settings,
    fallback: np.ndarray | None = None,
) -> list[ValueDelta]:
    """Per value: the mean per-task change (tasks x values inputs), interval and test;
    `fallback` marks the tasks scored by fallback checkpoints, counted per value."""
    fallback = np.zeros(len(base), dtype=bool) if fallback is None else fallback
    diffs = other - base
    mean, low, high, n = pooled_t_intervals(diffs, settings.level, CHANGE)
    paired = np.isfinite(diffs)
    rows = []
    for j, v in enumerate(values):
        column = diffs[paired[:, j], j]
        p = sign_flip_p(column, settings.resamples, settings.rng("sign-flip", system, v))
        rows.append(
            ValueDelta(
                value_system=system,
                value=v,
                tasks=int(n[j]),
                baseline=_round(nanmean(base[paired[:, j], j])) if n[j] else None,
                other=_round(nanmean(other[paired[:, j], j])) if n[j] else None,
                delta=estimate(mean[j], low[j], high[j]),
                test=make_test(SIGN_FLIP, int(n[j]), p, settings),
                fallback_tasks=int((paired[:, j] & fallback).sum()),
            )
        )
    return rows


def strength_shift(
    system: str,
    base_w: np.ndarray,
    other_w: np.ndarray,
    values: list[str],
    labels: tuple[str, str],
    settings: Settings,
) -> tuple[list[StrengthDelta], SystemShift]:
    """Both runs' strengths on the same tasks, their changes and the profile correlation."""
    T = len(base_w)
    groups = components(base_w.sum(0) + other_w.sum(0), values)
    s_base = fit_components(groups, base_w.sum(0), settings.prior)
    s_other = fit_components(groups, other_w.sum(0), settings.prior)
    tasks_b, tasks_o = value_tasks(base_w), value_tasks(other_w)
    tasks_either = value_tasks(base_w + other_w)
    if T >= 2:
        r_base = jackknife_strengths(groups, base_w, s_base, settings.prior)
        r_other = jackknife_strengths(groups, other_w, s_other, settings.prior)
    else:
        r_base = r_other = np.full((max(T, 1), len(values)), np.nan)
    delta = s_other - s_base
    low, high = change_intervals(
        groups,
        (base_w.sum(0), other_w.sum(0)),
        (s_base, s_other),
        r_other - r_base,
        tasks_either,
        settings,
    )
    p = swap_p(groups, base_w, other_w, delta, settings, settings.rng("swap", system))
    strengths = [
        StrengthDelta(
            value_system=system,
            value=v,
            baseline=_round(s_base[j]),
            other=_round(s_other[j]),
            delta=estimate(delta[j], low[j], high[j]),
            test=make_test(STRENGTH_CHANGE, int(tasks_either[j]), p[j], settings),
        )
        for j, v in enumerate(values)
    ]
    r = float(_correlations(s_base[None], s_other[None])[0])
    z_reps = _fisher_z(_correlations(r_base, r_other))
    half = float(t_quantile(np.array(T - 1), settings.level)) * float(
        jackknife_se(z_reps[:, None])[0]
    )
    z = float(_fisher_z(np.array(r)))
    correlation = estimate(r, float(np.tanh(z - half)), float(np.tanh(z + half)))
    no_profile = [
        label
        for label, wins, point, n in (
            (labels[0], base_w, s_base, tasks_b),
            (labels[1], other_w, s_other, tasks_o),
        )
        if T < 2 or not _profile(groups, wins, point, n, settings)
    ]
    little = not settings.enough_tasks(T) or correlation.value is None
    return strengths, SystemShift(
        value_system=system,
        tasks=T,
        correlation=correlation,
        verdict=verdict(correlation, little, no_profile, T),
        too_little_data=little,
        no_profile=no_profile,
    )


def swap_p(
    groups: list[list[int]],
    base_w: np.ndarray,
    other_w: np.ndarray,
    delta: np.ndarray,
    settings: Settings,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per value: the permutation p-value of its strength change, the two runs exchanged
    within tasks (every pattern when there are at most `strength_resamples`, else that many
    random ones). Exact when the runs are exchangeable, as two runs of one agent are; a
    value left without contests in a permuted fit counts against significance."""
    T, V = len(base_w), len(delta)
    limit = settings.strength_resamples
    if T == 0:
        return np.full(V, np.nan)
    if limit >= 2**T:
        swaps = np.array(list(itertools.product((False, True), repeat=T)))
        extra = 0
    else:
        swaps = rng.random((limit, T)) < 0.5
        extra = 1
    base_total = base_w.sum(0)
    swapped = base_total[None] + np.tensordot(swaps.astype(float), other_w - base_w, axes=1)
    other_swapped = (base_total + other_w.sum(0))[None] - swapped
    null = np.full((len(swaps), V), np.inf)
    pooled = fit_components(groups, base_total + other_w.sum(0), settings.prior)
    for group in groups:
        ix = np.ix_(range(len(swaps)), group, group)
        start = np.broadcast_to(pooled[group], (len(swaps), len(group)))
        # p-values compare changes with the observed one: 1e-6 is far inside any difference
        fits = [fit_batch(w[ix], settings.prior, start, tol=1e-6) for w in (other_swapped, swapped)]
        change = fits[0] - fits[1]
        null[:, group] = np.where(np.isfinite(change), np.abs(change), np.inf)
    observed = np.abs(delta)
    hits = (null >= observed - 1e-5).sum(0)  # the refits are solved to 1e-6
    p = (hits + extra) / (len(swaps) + extra)
    return np.where(np.isfinite(delta), p, np.nan)


def verdict(correlation: Estimate, little: bool, no_profile: list[str], tasks: int) -> Verdict:
    if tasks == 0:
        return "no data"
    if little:
        return "too little data"
    if no_profile:
        return "no profile"
    if correlation.low is None or correlation.high is None:
        return "unclear"
    if correlation.high < 0:
        return "flipped"
    if correlation.low > 0:
        return "held"
    return "unclear"


def compare_runs(
    base: RunInfo,
    base_rows: list[EpisodeRow],
    other: RunInfo,
    other_rows: list[EpisodeRow],
    settings: Settings,
    fallback: set[str] | None = None,
    include_fallback: bool = False,
) -> Comparison:
    """Two runs (or any two sets of episodes on the same tasks, e.g. two conditions) paired
    task by task. Tasks in `fallback` (scored by fallback checkpoints) enter the value changes,
    labelled, and the strengths and verdicts only with `include_fallback`."""
    fallback = fallback or set()
    base_tasks = {r.task_id for r in base_rows if r.scored}
    other_tasks = {r.task_id for r in other_rows if r.scored}
    common = base_tasks & other_tasks
    values: list[ValueDelta] = []
    strengths: list[StrengthDelta] = []
    systems: list[SystemShift] = []
    base_by, other_by = by_system(base_rows), by_system(other_rows)
    for system in sorted(set(base_by) | set(other_by)):
        b = [r for r in base_by.get(system, []) if r.task_id in common]
        o = [r for r in other_by.get(system, []) if r.task_id in common]
        tasks = sorted({r.task_id for r in b})
        ranked = tasks if include_fallback else [t for t in tasks if t not in fallback]
        labels = (base.label, other.label)
        v, s, shift = compare_system(system, b, o, tasks, labels, settings, ranked)
        values += v
        strengths += s
        systems.append(shift)
    apply_family([v.test for v in values], settings)
    apply_family([s.test for s in strengths], settings)
    differs, kind = difference(base, other)
    return Comparison(
        baseline=base.label,
        other=other.label,
        differs=[d.name for d in differs],
        settings=differs,
        kind=kind,
        common_tasks=len(common),
        only_baseline=sorted(base_tasks - other_tasks),
        only_other=sorted(other_tasks - base_tasks),
        values=values,
        strengths=strengths,
        systems=systems,
        fallback_tasks=len(common & fallback),
        fallback_in_priorities=include_fallback and bool(common & fallback),
        fallback_note=fallback_note(len(common & fallback), include_fallback),
    )


def task_means(rows: list[EpisodeRow]) -> dict[str, dict[str, float]]:
    """Per task, each value's mean pole score over the task's scored episodes: the per-task
    figures a value change is made of (for views that link a change to its tasks)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        for value, score in row.value_scores().items():
            sums.setdefault(row.task_id, {}).setdefault(value, []).append(score)
    return {t: {v: float(np.mean(xs)) for v, xs in by.items()} for t, by in sums.items()}


def leaning_counts(rows: list[EpisodeRow]) -> dict[str, int]:
    return {k: sum(1 for r in rows if r.leaning == k) for k in LEANINGS}


class RunProfile(BaseModel):
    """One run's own figures, shown side by side with the others'."""

    run: RunInfo
    values: list[ValueAdherence]
    priorities: list[SystemPriority]
    systems: list[SystemAdherence] = Field(
        default=[], description="System adherence, with the procedural pull of its tasks."
    )


class CompareReport(BaseModel):
    judge: str
    baseline: str
    runs: list[RunProfile]
    comparisons: list[Comparison]
    settings: Settings
    methods: str = ""


def build_compare(
    runs: list[tuple[RunInfo, list[EpisodeRow]]],
    judge: str,
    settings: Settings,
    procedural: dict[str, str] | None = None,
    fallback: set[str] | None = None,
    include_fallback: bool = False,
    tool_logs: list[ToolLogDigests | None] | None = None,
) -> CompareReport:
    """Every run against the first (the baseline), plus each run's own profile; `tool_logs`
    (per run, where read) adds the tool-log agreement to harness comparisons."""
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two runs")
    fallback = fallback or set()

    def ranked(rows: list[EpisodeRow]) -> list[EpisodeRow]:
        return rows if include_fallback else [r for r in rows if r.task_id not in fallback]

    profiles = []
    for info, rows in runs:
        values, systems = adherence(rows, settings, procedural)
        profiles.append(
            RunProfile(
                run=info,
                values=values,
                systems=systems,
                priorities=priorities(ranked(rows), settings, procedural),
            )
        )
    (base, base_rows), others = runs[0], runs[1:]
    comparisons = [
        compare_runs(base, base_rows, o, o_rows, settings, fallback, include_fallback)
        for o, o_rows in others
    ]
    logs = tool_logs or [None] * len(runs)
    for comparison, other_logs in zip(comparisons, logs[1:], strict=True):
        if comparison.kind == "harness" and logs[0] is not None and other_logs is not None:
            comparison.tool_logs = tool_log_agreement(logs[0], other_logs)
    return CompareReport(
        judge=judge,
        baseline=base.label,
        runs=profiles,
        comparisons=comparisons,
        settings=settings,
        methods=methods_text(settings),
    )
