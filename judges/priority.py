"""Value priority per value system: Bradley–Terry strengths with profile-likelihood intervals.

Each decisive scored episode (leaning a or b) is one contest between its task's two values,
won by the value whose pole scored higher. Ties, `mixed` (both poles supported) and `neither`
(no pole supported) episodes reveal no order between the values: they are counted per value
and reported beside the strengths, not folded into the fit as half wins.

Strengths are the maximum-likelihood fit to the contests plus a weak symmetric prior: every
value plays `prior` virtual games in all, spread over the other values of its component and
half of them won, so a value that won its only contest gets a finite, shrunken strength.
Strengths are log-odds (value i beats value j with probability 1 / (1 + exp(s_j - s_i))),
centred to mean zero within each connected component of the comparison graph; values in
different components were never compared, so the report lists the components instead of
pretending their strengths are comparable.

Fits are Newton's method on every win matrix of a batch at once (`fit_batch`; tested against
choix, the reference implementation), so the full fit and its refits cost one solve each.
Intervals are penalised profile-likelihood intervals of each value's centred strength and the
test of "strength zero" the likelihood-ratio test, both against chi^2_1 (scaled by the
quasi-likelihood dispersion when a task's repeated samples agree more than independent
contests); `judges.likelihood` says why not the jackknife. They cover the strength itself (the
fit to the population's win probabilities), not the shrunken fit: the prior's virtual games are
part of the likelihood, which keeps the interval finite when a value won every contest, and
`benchmarks/validity.py` measures coverage against the unshrunken truth. A value in fewer than
`min_tasks` tasks gets neither interval nor test (too little data). The tests of all
values of a report form one family (Holm by default). A system whose no value's strength is
significant has no detectable priority profile (`degenerate`).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from pydantic import BaseModel, Field
from scipy import stats as sps

from judges.adherence import Leanings
from judges.episodes import EpisodeRow
from judges.likelihood import null_deviance, profile_intervals
from judges.stats import (
    Estimate,
    Settings,
    Test,
    apply_family,
    estimate,
    make_test,
)
from judges.table import SystemTable, system_tables

STRENGTH_TEST = "likelihood-ratio test of strength 0 (penalised profile likelihood)"
MAX_STEP = 4.0  # log-odds: far from the optimum a full Newton step overshoots
SHORT_STEP = 1e-3  # log-odds: Newton steps shorter than this are taken without a line search


def virtual_games(played: np.ndarray, prior: float) -> np.ndarray:
    """The prior as a win matrix: `prior / (2 (n - 1))` wins each way between played values.

    `played` is (values,) or (batch, values); the result has one more trailing axis.
    """
    played = np.asarray(played, dtype=bool)
    n = played.sum(-1)[..., None, None]
    pairs = played[..., :, None] & played[..., None, :] & ~np.eye(played.shape[-1], dtype=bool)
    return pairs * (prior / (2 * np.maximum(n - 1, 1)))


def penalised_games(total: np.ndarray, members: list[int], prior: float) -> np.ndarray:
    """The win matrix among `members` with the prior's virtual games added: the matrix the
    penalised likelihood of the profile intervals is written in."""
    return total[np.ix_(members, members)] + virtual_games(np.ones(len(members), dtype=bool), prior)


def _log_likelihood(s: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Per matrix: sum of games[i, j] * log P(i beats j) at strengths s (batch, values)."""
    d = s[:, :, None] - s[:, None, :]
    return -(games * np.logaddexp(0.0, -d)).sum((1, 2))


def fit_batch(
    wins: np.ndarray,
    prior: float,
    init: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> np.ndarray:
    """Bradley–Terry strengths of a batch of win matrices (batch, values, values) at once.

    Newton's method on the log-likelihood plus the prior, every matrix in one vectorised
    step, started from `init` (batch, values) when given. A full Newton step overshoots from a
    start far from the optimum (a warm start for permuted data, a lopsided record) and then
    diverges, so a step is capped at `MAX_STEP` and halved until the likelihood does not fall
    (backtracking); near the optimum the full step is taken and convergence stays quadratic.
    Values with no game in a matrix are NaN there; the others are centred to mean zero.
    Agrees with choix's `ilsr_pairwise_dense` on the same games to solver tolerance (tested).
    """
    wins = np.asarray(wins, dtype=float)
    batch, n, _ = wins.shape
    played = (wins.sum(1) + wins.sum(2)) > 0
    total = wins + virtual_games(played, prior)
    games = total + np.swapaxes(total, 1, 2)
    won = total.sum(2)
    s = np.zeros((batch, n)) if init is None else np.where(played, np.nan_to_num(init), 0.0)
    count = np.maximum(played.sum(1), 1)
    # -11'/n on the played block pins the free translation; unplayed values get identity rows
    pin = (played[:, :, None] & played[:, None, :]) / count[:, None, None]
    unplayed = (~played).astype(float)
    diagonal = np.arange(n)
    active = np.arange(batch)  # matrices still moving; converged ones are left alone
    for _ in range(max_iter):
        x = s[active]
        d = np.clip(x[:, None, :] - x[:, :, None], -500, 500)
        p = 1 / (1 + np.exp(d))  # p[b, i, j] = P(i beats j)
        gp = games[active] * p
        grad = won[active] - gp.sum(2)
        hess = gp * (1 - p)
        # a tiny ridge keeps saturated pairs from making the matrix singular; it changes the
        # direction only, never the fixed point (the gradient is zero there)
        hess[:, diagonal, diagonal] -= hess.sum(2) + unplayed[active] + 1e-9
        hess -= pin[active]
        step = np.linalg.solve(hess, -grad[..., None])[..., 0]
        step[~played[active]] = 0
        # no step moves a strength by more than MAX_STEP log-odds
        step *= np.minimum(1.0, MAX_STEP / np.maximum(np.abs(step).max(1), 1e-300))[:, None]
        # total[i, j] counts i's wins over j: the likelihood of the fit is over `total`.
        # Only long steps are checked: the log-likelihood is concave, and a step this short
        # from a point this close is inside the region where the full step always gains
        # (checking it costs more than the rest of the iteration)
        scale = np.ones(len(active))
        checked = np.flatnonzero(np.abs(step).max(1) > SHORT_STEP)
        if checked.size:
            x_c, step_c, total_c = x[checked], step[checked], total[active[checked]]
            before = _log_likelihood(x_c, total_c)
            for _ in range(40):
                after = _log_likelihood(x_c + scale[checked, None] * step_c, total_c)
                worse = after < before - 1e-12 * np.abs(before)
                if not worse.any():
                    break
                scale[checked[worse]] /= 2
        s[active] = x + scale[:, None] * step
        moving = np.abs(step).max(1) >= tol  # the full Newton step: the distance left
        active = active[moving]
        if not active.size:
            break
    centre = np.where(played, s, 0.0).sum(1, keepdims=True) / count[:, None]
    return np.where(played, s - centre, np.nan)


class ValueStrength(BaseModel):
    value: str
    strength: Estimate
    test: Test
    component: int | None
    contests: int
    wins: float
    tasks: int = Field(description="Tasks with at least one contest of this value.")
    leanings: Leanings = Field(default_factory=Leanings)


class SystemPriority(BaseModel):
    value_system: str
    tasks: int
    contests: int
    not_contests: int = Field(
        default=0, description="Scored episodes leaning mixed, neither or tie: not in the fit."
    )
    components: list[list[str]]
    values: list[ValueStrength]
    too_little_data: bool
    degenerate: bool = Field(
        default=False, description="No value's strength differs significantly from zero."
    )
    flags: list[str]


def components(wins: np.ndarray, values: list[str]) -> list[list[int]]:
    """Connected components (value indices) of the comparison graph, largest first; values
    without a contest belong to none."""
    graph = nx.Graph()
    i, j = np.nonzero(wins + wins.T)
    graph.add_edges_from(zip(i.tolist(), j.tolist(), strict=True))
    found = [sorted(c) for c in nx.connected_components(graph)]
    return sorted(found, key=lambda c: (-len(c), [values[k] for k in c]))


def fit_components(groups: list[list[int]], wins: np.ndarray, prior: float) -> np.ndarray:
    """The full-data fit, separately in each component (NaN for values with no contest)."""
    out = np.full(len(wins), np.nan)
    for group in groups:
        out[group] = fit_batch(wins[np.ix_(group, group)][None], prior)[0]
    return out


def jackknife_strengths(
    groups: list[list[int]], per_task: np.ndarray, point: np.ndarray, prior: float
) -> np.ndarray:
    """Tasks x values: the strengths refitted with each task left out, per component."""
    T, V, _ = per_task.shape
    out = np.full((T, V), np.nan)
    total = per_task.sum(0)
    for group in groups:
        ix = np.ix_(range(T), group, group)
        left_out = total[np.ix_(group, group)][None] - per_task[ix]
        init = np.broadcast_to(point[group], (T, len(group)))
        out[:, group] = fit_batch(left_out, prior, init)
    return out


def value_tasks(per_task: np.ndarray) -> np.ndarray:
    """Per value: the tasks where it took part in at least one contest."""
    return ((per_task.sum(2) + per_task.sum(1)) > 0).sum(0)


def dispersion(per_task: np.ndarray, point: np.ndarray) -> float:
    """The quasi-likelihood scale of a fit: how much more a task's repeated contests agree
    than independent ones would (Pearson's X^2 per task with two or more contests, over
    their number), at least 1. One contest per task cannot show it: 1."""
    s = np.nan_to_num(point)
    games = per_task + np.swapaxes(per_task, 1, 2)
    p = 1 / (1 + np.exp(s[None, None, :] - s[None, :, None]))  # P(i beats j)
    upper = np.triu(np.ones(per_task.shape[1:], dtype=bool), 1)
    m = np.where(upper, games, 0.0)
    several = m.sum((1, 2)) >= 2
    if not several.any():
        return 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(m > 0, (per_task - m * p) ** 2 / (m * p * (1 - p)), 0.0)
    x2 = terms[several].sum()
    return max(1.0, float(x2 / several.sum()))


def strength_intervals(
    groups: list[list[int]],
    per_task: np.ndarray,
    point: np.ndarray,
    settings: Settings,
    intervals: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per value: the penalised profile-likelihood interval of its centred strength and the
    likelihood-ratio p-value of "strength 0", every value of a component in one batch
    (`intervals=False`: the p-values only, one constrained fit per value).

    The deviance is referred to chi^2_1 scaled by the fit's `dispersion` (1 with one sample
    per task). A value in fewer than `settings.min_tasks` tasks gets neither: its contests are
    so few that the likelihood takes a handful of shapes, and an interval that is not
    randomised then covers either far more or far less than it says (`benchmarks/validity.py`
    at three tasks per value: 100% with the default prior, 92% with a quarter of it).
    """
    V = len(point)
    low, high, p = (np.full(V, np.nan) for _ in range(3))
    tasks = value_tasks(per_task)
    total = per_task.sum(0)
    for component in groups:
        # a comparison's components are both runs' graph: a value may not have played here
        group = [v for v in component if np.isfinite(point[v])]
        keep = [v for v in group if settings.enough_tasks(tasks[v])]
        if len(group) < 2 or not keep:
            continue
        n = len(group)
        games = penalised_games(total, group, settings.prior)
        phi = dispersion(per_task[:, group][:, :, group], point[group])
        rows = [group.index(v) for v in keep]
        contrasts = (np.eye(n) - 1 / n)[rows]
        pin = np.full((n, n), 1 / n)
        if intervals:
            crit = np.full(len(rows), phi * sps.chi2.ppf(settings.level, 1))
            low[keep], high[keep], dev = profile_intervals(
                games, pin, point[group], contrasts, crit
            )
        else:
            dev = null_deviance(games, pin, point[group], contrasts)
        p[keep] = sps.chi2.sf(dev / phi, 1)
    return low, high, p


def strength_fit(
    per_task: np.ndarray, values: list[str], settings: Settings
) -> tuple[list[list[int]], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Components, point strengths, interval bounds, p-values and tasks per value."""
    total = per_task.sum(0)
    groups = components(total, values)
    point = fit_components(groups, total, settings.prior)
    low, high, p = strength_intervals(groups, per_task, point, settings)
    return groups, point, low, high, p, value_tasks(per_task)


def system_priority(table: SystemTable, settings: Settings) -> SystemPriority:
    """One system's strengths; their tests are adjusted as a family by `priorities`."""
    per_task = table.win_matrices()
    values = table.values
    groups, point, low, high, p, tasks = strength_fit(per_task, values, settings)
    total = per_task.sum(0)
    counts = table.leaning_counts()
    component_of = {v: k for k, group in enumerate(groups) for v in group}
    rows = []
    for j, value in enumerate(values):
        leanings = Leanings(**{k: int(c[j]) for k, c in counts.items()})
        rows.append(
            ValueStrength(
                value=value,
                strength=estimate(point[j], low[j], high[j]),
                test=make_test(STRENGTH_TEST, int(tasks[j]), p[j], settings),
                component=component_of.get(j),
                contests=int(total[j].sum() + total[:, j].sum()),
                wins=float(total[j].sum()),
                tasks=int(tasks[j]),
                leanings=leanings,
            )
        )
    rows.sort(key=lambda v: (v.component is None, v.component or 0, -(v.strength.value or 0)))
    decisive = int(total.sum())
    scored = int(table.scored.sum())
    task_count = int(np.isin(np.arange(len(table.tasks)), table.task[table.scored]).sum())
    result = SystemPriority(
        value_system=table.system,
        tasks=task_count,
        contests=decisive,
        not_contests=scored - decisive,
        components=[[values[k] for k in g] for g in groups],
        values=rows,
        too_little_data=all(v.test.too_little_data for v in rows),
        flags=[],
    )
    return result


def finish(system: SystemPriority, settings: Settings) -> None:
    """After the family adjustment: the degenerate verdict and the flags."""
    tested = [v for v in system.values if not v.test.too_little_data]
    system.degenerate = bool(tested) and not any(v.test.significant for v in tested)
    system.flags = priority_flags(system, settings)


def priority_flags(system: SystemPriority, settings: Settings) -> list[str]:
    flags = []
    if system.too_little_data:
        flags.append(
            f"too little data: no value has {settings.min_tasks} or more tasks with a contest; "
            "strengths are shown without intervals, no value is tested"
        )
    elif system.degenerate:
        flags.append("no value's strength differs from zero: no priority profile detected")
    if system.not_contests:
        flags.append(
            f"{system.not_contests} scored episode(s) leaned mixed, neither or tie and are not "
            "in the fit"
        )
    if len(system.components) > 1:
        flags.append(
            f"the comparison graph has {len(system.components)} components; "
            "strengths compare only within a component"
        )
    few = [v.value for v in system.values if v.tasks and not settings.enough_tasks(v.tasks)]
    if few and not system.too_little_data:
        flags.append(
            f"in fewer than {settings.min_tasks} tasks: {', '.join(few)}; no interval or test"
        )
    never = [v.value for v in system.values if v.component is None]
    if never:
        flags.append(f"never in a decisive contest: {', '.join(never)}")
    return flags


def priorities(
    rows: list[EpisodeRow], settings: Settings, procedural: dict[str, str] | None = None
) -> list[SystemPriority]:
    """Every system's strengths, the strength tests of the whole run adjusted as one family."""
    found = [system_priority(table, settings) for table in system_tables(rows, procedural)]
    apply_family([v.test for s in found for v in s.values], settings)
    for system in found:
        finish(system, settings)
    return found
