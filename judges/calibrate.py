"""Judge calibration: does a judge see each task's golden trajectories for what they are?

Golden-a and golden-b replays of every task are run (once; they are kept in the work folder
and reused by any judge) and judged. A judge is right on an episode when the replayed pole
scores strictly above the other; unscorable episodes count as wrong. The report adds the
position statistics of judges that read both orders and the agreement with the checkpoint
judge, item by item (Krippendorff's alpha) and by leaning.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from envs.task import Task
from judges.agreement import JudgeStats, alpha, judge_stats
from judges.episodes import leaning
from judges.spec import checkpoint_scorer
from judges.stats import Settings
from judges.store import judge_run
from judges.verdict import Judgment
from trajectories.schema import Trajectory

GOLDEN = (("golden-a", "a"), ("golden-b", "b"))


class CalibrationError(RuntimeError):
    pass


class CalibrationRow(BaseModel):
    task_id: str
    value_system: str
    golden: str
    outcome: str
    scores: dict[str, float]
    checkpoint_scores: dict[str, float]
    correct: bool
    note: str = ""


class CheckpointAgreement(BaseModel):
    item_alpha: float | None
    items_equal: float | None
    leaning_equal: float | None


class CalibrationReport(BaseModel):
    judge: str
    tasks: int
    episodes: int
    correct: int
    accuracy: float
    accuracy_by_pole: dict[str, float]
    unscorable: int
    judge_stats: JudgeStats | None
    checkpoint: CheckpointAgreement
    rows: list[CalibrationRow]

    @property
    def failures(self) -> list[CalibrationRow]:
        return [r for r in self.rows if not r.correct]


def golden_runs(tasks: list[Task], work_dir: Path) -> dict[str, list[Trajectory]]:
    """Replay both golden trajectories of every task, reusing replays already in `work_dir`."""
    from harnesses.base import get_harness
    from valuegym.runner import RUN_CONFIG, RunConfig, create_run, execute_run, load_run
    from valuegym.runner import run_trajectories as read

    wanted = sorted(t.id for t in tasks)
    found = {}
    for harness, _ in GOLDEN:
        run_dir = work_dir / harness
        if (run_dir / RUN_CONFIG).exists():
            config, _ = load_run(run_dir)
            if sorted(config.task_ids) != wanted or config.harness != harness:
                raise CalibrationError(
                    f"{run_dir} holds a {config.harness} run of other tasks; "
                    "pass another --out (or remove it)"
                )
        else:
            config = RunConfig(run_id=harness, harness=harness, task_ids=wanted)
            create_run(run_dir, config, tasks)
        execute_run(run_dir, get_harness(harness))
        found[harness] = read(run_dir)
    return found


def _item_key(j: Judgment) -> dict[tuple[str, str], float]:
    return {(i.pole, i.item_id): i.score for i in j.items}


def checkpoint_agreement(pairs: list[tuple[Judgment, Judgment]]) -> CheckpointAgreement:
    """Agreement of judge and checkpoint judge over items of episodes both scored."""
    scored = [(j, c) for j, c in pairs if j.outcome == "scored" and c.outcome == "scored"]
    units = [
        (f"{j.episode_id}/{k[0]}/{k[1]}", s, _item_key(c)[k])
        for j, c in scored
        for k, s in _item_key(j).items()
        if k in _item_key(c)
    ]
    if not units:
        return CheckpointAgreement(item_alpha=None, items_equal=None, leaning_equal=None)
    matrix = np.array([[u[1] for u in units], [u[2] for u in units]], dtype=float)
    return CheckpointAgreement(
        item_alpha=alpha(matrix),
        items_equal=round(float(np.mean(matrix[0] == matrix[1])), 4),
        leaning_equal=round(
            float(np.mean([leaning(j.scores) == leaning(c.scores) for j, c in scored])), 4
        ),
    )


def calibrate(
    judge: str,
    tasks: list[Task],
    work_dir: Path,
    scorer: Callable[[Trajectory], Judgment],
    concurrency: int = 1,
    settings: Settings | None = None,
) -> CalibrationReport:
    settings = settings or Settings()
    by_harness = golden_runs(tasks, work_dir)
    reference = checkpoint_scorer(tasks)
    rows: list[CalibrationRow] = []
    judged: list[Judgment] = []
    pairs: list[tuple[Judgment, Judgment]] = []
    for harness, pole in GOLDEN:
        trajectories = by_harness[harness]
        judgments = judge_run(work_dir / harness, judge, trajectories, scorer, concurrency)
        for t in trajectories:
            j, c = judgments[t.episode_id], reference(t)
            other = "b" if pole == "a" else "a"
            correct = j.outcome == "scored" and j.scores[pole] > j.scores[other]
            rows.append(
                CalibrationRow(
                    task_id=t.task_id,
                    value_system=t.value_system,
                    golden=harness,
                    outcome=j.outcome if t.status == "finished" else f"{j.outcome} ({t.status})",
                    scores=dict(j.scores),
                    checkpoint_scores=dict(c.scores),
                    correct=correct,
                    note=j.note,
                )
            )
            judged.append(j)
            pairs.append((j, c))
    by_pole = {
        harness: round(float(np.mean([r.correct for r in rows if r.golden == harness])), 4)
        for harness, _ in GOLDEN
        if any(r.golden == harness for r in rows)
    }
    correct = sum(r.correct for r in rows)
    return CalibrationReport(
        judge=judge,
        tasks=len(tasks),
        episodes=len(rows),
        correct=correct,
        accuracy=round(correct / len(rows), 4) if rows else 0.0,
        accuracy_by_pole=by_pole,
        unscorable=sum(j.outcome != "scored" for j in judged),
        judge_stats=judge_stats(judged, settings),
        checkpoint=checkpoint_agreement(pairs),
        rows=rows,
    )
