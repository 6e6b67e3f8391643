"""Value priority per value system: a Bradley–Terry model fitted with choix, with bootstrap CIs.

Each scored episode is one contest between its task's two values: the value whose pole scored
higher wins, equal scores are a tie worth half a win to each. Strengths are the maximum-
likelihood fit (choix's iterative Luce spectral ranking) to the contests plus a weak symmetric
prior: every value plays `prior` virtual games in all, spread over the other values of its
component and half of them won. So a value that won its only contest gets a finite, shrunken
strength rather than infinity, and a run whose every contest went the other way gets exactly
the opposite strengths. Systems with few tasks are flagged as well.

Strengths are log-odds: value i beats value j with probability 1 / (1 + exp(s_j - s_i)). They
are centred to mean zero within each connected component of the comparison graph; values in
different components were never compared, directly or through others, so their strengths are
not comparable and the report lists the components instead of pretending they are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import choix
import networkx as nx
import numpy as np
from pydantic import BaseModel

from judges.episodes import EpisodeRow
from judges.stats import Estimate, Settings, estimate, percentile_interval, resample_indices


@dataclass(frozen=True)
class Contest:
    """One scored episode seen as a match: 1.0 when `first` won, 0.0 when `second` did."""

    task_id: str
    first: str
    second: str
    outcome: float


def contests(rows: list[EpisodeRow]) -> list[Contest]:
    found = []
    for row in rows:
        if not row.scored:
            continue
        a, b = row.scores["a"], row.scores["b"]
        outcome = 1.0 if a > b else 0.0 if b > a else 0.5
        found.append(Contest(row.task_id, row.values["a"], row.values["b"], outcome))
    return found


def win_matrix(contests: list[Contest], values: list[str]) -> np.ndarray:
    """`m[i, j]`: how often value i beat value j; a tie is half a win each way."""
    index = {v: i for i, v in enumerate(values)}
    m = np.zeros((len(values), len(values)))
    for c in contests:
        i, j = index[c.first], index[c.second]
        m[i, j] += c.outcome
        m[j, i] += 1 - c.outcome
    return m


def fit_strengths(
    wins: np.ndarray, prior: float, init: np.ndarray | None = None, tol: float = 1e-8
) -> np.ndarray:
    """Bradley–Terry strengths from a win matrix with `prior` virtual games, centred to zero."""
    n = len(wins)
    if n < 2 or not wins.any():
        return np.zeros(n)
    virtual = prior / (2 * (n - 1)) * (1 - np.eye(n))  # a virtual half-win each way per pair
    params = choix.ilsr_pairwise_dense(wins + virtual, initial_params=init, tol=tol)
    return params - params.mean()


class ValueStrength(BaseModel):
    value: str
    strength: Estimate
    component: int | None
    contests: int
    wins: float
    tasks: int


class SystemPriority(BaseModel):
    value_system: str
    tasks: int
    contests: int
    components: list[list[str]]
    values: list[ValueStrength]
    too_little_data: bool
    flags: list[str]


def components(contests: list[Contest]) -> list[list[str]]:
    """Connected components of the comparison graph, largest first."""
    graph = nx.Graph()
    graph.add_edges_from((c.first, c.second) for c in contests)
    found = [sorted(c) for c in nx.connected_components(graph)]
    return sorted(found, key=lambda c: (-len(c), c))


def fit_components(
    groups: list[list[int]],
    wins: np.ndarray,
    prior: float,
    init: np.ndarray | None = None,
    tol: float = 1e-8,
) -> np.ndarray:
    """Strengths fitted separately in each component (NaN for values with no contest here).

    Only values that take part in some contest are fitted, so a bootstrap resample that lost a
    value reports it as undefined instead of as an average value.
    """
    out = np.full(len(wins), np.nan)
    played = (wins.sum(0) + wins.sum(1)) > 0
    for group in groups:
        members = [v for v in group if played[v]]
        if members:
            start = init[members] if init is not None and np.isfinite(init[members]).all() else None
            out[members] = fit_strengths(wins[np.ix_(members, members)], prior, start, tol)
    return out


BOOTSTRAP_TOL = 1e-4  # L1 change of all strengths between iterations; far below any CI's width


def bootstrap_strengths(
    groups: list[list[int]],
    per_task: np.ndarray,
    idx: np.ndarray,
    prior: float,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Strength draws (resamples x values) for the task resamples in the rows of `idx`.

    `per_task[t]` is task t's win matrix, so a resample's matrix is a sum of whole tasks.
    Resamples drawing the same tasks the same number of times share one fit, and fits start
    from `init` (the full-data estimate), which keeps a thousand resamples quick.
    """
    fits: dict[bytes, np.ndarray] = {}
    draws = np.empty((len(idx), per_task.shape[1]))
    for r, row in enumerate(idx):
        counts = np.bincount(row, minlength=len(per_task))
        key = counts.tobytes()
        if key not in fits:
            wins = np.tensordot(counts, per_task, axes=1)
            fits[key] = fit_components(groups, wins, prior, init, BOOTSTRAP_TOL)
        draws[r] = fits[key]
    return draws


def group_by_task(contests: list[Contest]) -> tuple[list[str], list[list[Contest]]]:
    grouped: dict[str, list[Contest]] = defaultdict(list)
    for c in contests:
        grouped[c.task_id].append(c)
    tasks = sorted(grouped)
    return tasks, [grouped[t] for t in tasks]


def system_priority(system: str, rows: list[EpisodeRow], settings: Settings) -> SystemPriority:
    found = contests(rows)
    tasks, by_task = group_by_task(found)
    values = sorted({v for r in rows for v in r.values.values()})
    groups = components(found)
    index = {v: i for i, v in enumerate(values)}
    groups_ix = [[index[v] for v in group] for group in groups]
    per_task = np.array([win_matrix(cs, values) for cs in by_task]).reshape(
        len(tasks), len(values), len(values)
    )
    point = fit_components(groups_ix, per_task.sum(0), settings.prior)
    if tasks:
        idx = resample_indices(len(tasks), settings.resamples, settings.rng("priority", system))
        draws = bootstrap_strengths(groups_ix, per_task, idx, settings.prior, point)
    else:
        draws = np.full((1, len(values)), np.nan)
    low, high = percentile_interval(draws, settings.level)
    component_of = {v: k for k, group in enumerate(groups) for v in group}
    rows_out = []
    for j, value in enumerate(values):
        mine = [c for c in found if value in (c.first, c.second)]
        rows_out.append(
            ValueStrength(
                value=value,
                strength=estimate(point[j], low[j], high[j]),
                component=component_of.get(value),
                contests=len(mine),
                wins=sum(c.outcome if c.first == value else 1 - c.outcome for c in mine),
                tasks=len({c.task_id for c in mine}),
            )
        )
    rows_out.sort(key=lambda v: (v.component is None, v.component or 0, -(v.strength.value or 0)))
    return SystemPriority(
        value_system=system,
        tasks=len(tasks),
        contests=len(found),
        components=groups,
        values=rows_out,
        too_little_data=len(tasks) < settings.min_tasks,
        flags=priority_flags(len(tasks), groups, values, component_of, rows_out, settings),
    )


def priority_flags(
    tasks: int,
    groups: list[list[str]],
    values: list[str],
    component_of: dict[str, int],
    rows: list[ValueStrength],
    settings: Settings,
) -> list[str]:
    flags = []
    if tasks < settings.min_tasks:
        flags.append(
            f"too little data: {tasks} task(s) with a scored episode "
            f"(fewer than {settings.min_tasks}); strengths are shrunk towards zero"
        )
    if len(groups) > 1:
        flags.append(
            f"the comparison graph has {len(groups)} components; "
            "strengths compare only within a component"
        )
    single = [v.value for v in rows if v.tasks == 1]
    if single:
        flags.append(
            f"in one task only: {', '.join(single)}; their intervals show only how the other "
            "tasks vary"
        )
    never = [v for v in values if v not in component_of]
    if never:
        flags.append(f"never compared in a scored episode: {', '.join(never)}")
    return flags


def priorities(rows: list[EpisodeRow], settings: Settings) -> list[SystemPriority]:
    systems = sorted({r.value_system for r in rows})
    return [system_priority(s, [r for r in rows if r.value_system == s], settings) for s in systems]
