"""How far a judge can be trusted: position effects and agreement, from its stored passes.

A rubric judge reads every episode twice, once per pole order, and an ensemble has several
judges; the passes are stored in each judgment, so these statistics are computed afresh from
the judgment file, never trusted from a summary. Agreement is Krippendorff's alpha (interval
level) with rubric items of episodes as units, from the `krippendorff` package.
"""

from __future__ import annotations

from collections import defaultdict

import krippendorff
import numpy as np
from pydantic import BaseModel

from judges.episodes import leaning
from judges.stats import CHANGE, Estimate, Settings, estimate, t_intervals
from judges.verdict import JudgePass, Judgment


class JudgeStats(BaseModel):
    judges: list[str]
    episodes: int
    unscorable: int
    passes: int
    unscorable_passes: int
    retries: int
    swap_disagreement: float | None
    leaning_flips: int
    position_bias: Estimate
    swap_alpha: float | None
    ensemble_alpha: float | None


def alpha(matrix: np.ndarray) -> float | None:
    """Krippendorff's alpha (interval) of coders x units, or None when it is undefined."""
    units = np.isfinite(matrix).sum(0) >= 2
    if units.sum() < 2:
        return None
    data = matrix[:, units]
    values = data[np.isfinite(data)]
    if np.ptp(values) == 0:
        return 1.0  # every coder gave every unit the same score: perfect, if uninformative
    return round(
        float(krippendorff.alpha(reliability_data=data, level_of_measurement="interval")), 4
    )


def _item_scores(p: JudgePass) -> dict[tuple[str, str], float]:
    return {(i.pole, i.item_id): i.score for i in p.items}


def per_judge(judgment: Judgment) -> dict[str, dict[str, JudgePass]]:
    """A judgment's scored passes, by judge and then order."""
    found: dict[str, dict[str, JudgePass]] = defaultdict(dict)
    for p in judgment.passes:
        if p.outcome == "scored":
            found[p.judge][p.order] = p
    return found


def _matrix(rows: list[dict[tuple, float]]) -> np.ndarray:
    units = sorted({u for r in rows for u in r})
    return np.array([[r.get(u, np.nan) for u in units] for r in rows], dtype=float)


def judge_stats(judgments: list[Judgment], settings: Settings) -> JudgeStats | None:
    """Position and agreement statistics, or None for judges that keep no passes."""
    with_passes = [j for j in judgments if j.passes]
    if not with_passes:
        return None
    judges = sorted({p.judge for j in with_passes for p in j.passes})
    flips = 0
    swap_rows: list[dict[tuple, float]] = [{}, {}]
    member_rows: dict[str, dict[tuple, float]] = {name: {} for name in judges}
    for j in with_passes:
        for name, orders in per_judge(j).items():
            if "ab" in orders and "ba" in orders:
                flips += leaning(orders["ab"].scores) != leaning(orders["ba"].scores)
            for k, order in enumerate(("ab", "ba")):
                if order in orders:
                    for key, s in _item_scores(orders[order]).items():
                        swap_rows[k][(j.episode_id, name, *key)] = s
            for key in {k for p in orders.values() for k in _item_scores(p)}:
                scores = [_item_scores(p)[key] for p in orders.values() if key in _item_scores(p)]
                member_rows[name][(j.episode_id, *key)] = float(np.mean(scores))
    biases = [j.position_bias for j in with_passes if j.position_bias is not None]
    disagreements = [j.swap_disagreement for j in with_passes if j.swap_disagreement is not None]
    return JudgeStats(
        judges=judges,
        episodes=len(with_passes),
        unscorable=sum(j.outcome == "unscorable" for j in with_passes),
        passes=sum(len(j.passes) for j in with_passes),
        unscorable_passes=sum(p.outcome != "scored" for j in with_passes for p in j.passes),
        retries=sum(p.attempts - 1 for j in with_passes for p in j.passes),
        swap_disagreement=round(float(np.mean(disagreements)), 4) if disagreements else None,
        leaning_flips=flips,
        position_bias=mean_estimate(np.array(biases), settings),
        swap_alpha=alpha(_matrix(swap_rows)),
        ensemble_alpha=alpha(_matrix(list(member_rows.values()))) if len(judges) > 1 else None,
    )


def mean_estimate(xs: np.ndarray, settings: Settings) -> Estimate:
    """The mean of per-episode observations with a Student-t interval."""
    if len(xs) == 0:
        return Estimate(value=None)
    mean, low, high, _ = t_intervals(np.asarray(xs, dtype=float)[:, None], settings.level, CHANGE)
    return estimate(mean[0], low[0], high[0])
