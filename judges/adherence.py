"""Value adherence per value and per value system, with task-bootstrap confidence intervals.

The published method: a value's adherence is the mean of its pole scores over the episodes
where it is one of the poles; a system's is the mean over its values. Scored episodes enter the
means; every episode, scored or not, is counted in the coverage beside them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import BaseModel

from judges.episodes import EpisodeRow
from judges.stats import (
    Estimate,
    Settings,
    estimate,
    nanmean,
    percentile_interval,
    resample_indices,
)


class Coverage(BaseModel):
    """How the episodes behind a figure ended, and how many a judge could score."""

    episodes: int = 0
    scored: int = 0
    statuses: dict[str, int] = {}
    unscorable: int = 0
    unjudged: int = 0

    @classmethod
    def of(cls, rows: list[EpisodeRow]) -> Coverage:
        outcomes = Counter(r.outcome for r in rows)
        return cls(
            episodes=len(rows),
            scored=outcomes["scored"],
            statuses=dict(sorted(Counter(r.status for r in rows).items())),
            unscorable=outcomes["unscorable"],
            unjudged=outcomes["unjudged"],
        )


class ValueAdherence(BaseModel):
    value_system: str
    value: str
    adherence: Estimate
    tasks: int
    coverage: Coverage


class SystemAdherence(BaseModel):
    value_system: str
    adherence: Estimate
    values: int
    tasks: int
    coverage: Coverage


def score_table(
    rows: list[EpisodeRow], tasks: list[str], values: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per task and value: the sum of the value's pole scores and how many episodes gave one."""
    sums = np.zeros((len(tasks), len(values)))
    counts = np.zeros((len(tasks), len(values)))
    t_index = {t: i for i, t in enumerate(tasks)}
    v_index = {v: j for j, v in enumerate(values)}
    for row in rows:
        for value, score in row.value_scores().items():
            sums[t_index[row.task_id], v_index[value]] += score
            counts[t_index[row.task_id], v_index[value]] += 1
    return sums, counts


def _ratio(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)


def system_adherence(
    system: str, rows: list[EpisodeRow], settings: Settings
) -> tuple[list[ValueAdherence], SystemAdherence]:
    """One system's value and system adherence; bootstraps resample the system's tasks."""
    scored = [r for r in rows if r.scored]
    tasks = sorted({r.task_id for r in scored})
    values = sorted({v for r in rows for v in r.values.values()})
    sums, counts = score_table(scored, tasks, values)
    point = _ratio(sums.sum(0), counts.sum(0))
    if tasks:
        idx = resample_indices(len(tasks), settings.resamples, settings.rng("adherence", system))
        draws = _ratio(sums[idx].sum(1), counts[idx].sum(1))
    else:
        draws = np.full((1, len(values)), np.nan)
    low, high = percentile_interval(draws, settings.level)
    value_rows = []
    for j, value in enumerate(values):
        mine = [r for r in rows if value in r.values.values()]
        value_rows.append(
            ValueAdherence(
                value_system=system,
                value=value,
                adherence=estimate(point[j], low[j], high[j]),
                tasks=int((counts[:, j] > 0).sum()),
                coverage=Coverage.of(mine),
            )
        )
    sys_point, sys_draws = nanmean(point), nanmean(draws, axis=1)
    s_low, s_high = percentile_interval(sys_draws, settings.level)
    summary = SystemAdherence(
        value_system=system,
        adherence=estimate(sys_point, float(s_low), float(s_high)),
        values=len(values),
        tasks=len(tasks),
        coverage=Coverage.of(rows),
    )
    return value_rows, summary


def adherence(
    rows: list[EpisodeRow], settings: Settings
) -> tuple[list[ValueAdherence], list[SystemAdherence]]:
    values: list[ValueAdherence] = []
    systems: list[SystemAdherence] = []
    for system in sorted({r.value_system for r in rows}):
        v, s = system_adherence(system, [r for r in rows if r.value_system == system], settings)
        values.extend(v)
        systems.append(s)
    return values, systems
