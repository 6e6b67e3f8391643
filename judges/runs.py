"""A run folder read together with one judge's stored judgments, ready to aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from envs.task import Task
from judges.adherence import Coverage
from judges.compare import RunInfo, leaning_counts
from judges.episodes import EpisodeRow, episode_rows
from judges.report import RunReport, build_report
from judges.spec import checkpoint_scorer
from judges.stats import Settings
from judges.store import read_judgments
from judges.verdict import Judgment
from trajectories.schema import Trajectory
from valuegym.runner import RunConfig, load_run, run_trajectories

CHECKPOINT = "checkpoint"


class MissingJudgments(LookupError):
    """A run has no judgments under the requested judge; the message says how to make them."""


@dataclass
class ScoredRun:
    path: Path
    config: RunConfig
    tasks: list[Task]
    trajectories: list[Trajectory]
    judgments: dict[str, Judgment]
    judge: str

    @property
    def rows(self) -> list[EpisodeRow]:
        return episode_rows(self.trajectories, self.judgments)

    @property
    def procedural(self) -> dict[str, str]:
        return procedural_values(self.tasks)

    def report(self, settings: Settings | None = None) -> RunReport:
        c = self.config
        return build_report(
            c.run_id,
            c.harness,
            self.judge,
            self.trajectories,
            self.judgments,
            settings,
            self.procedural,
        )

    def info(self, label: str | None = None) -> RunInfo:
        c, h = self.config, self.config.harness_config
        rows = self.rows
        return RunInfo(
            label=label or c.run_id,
            path=str(self.path),
            harness=c.harness,
            model=c.model.model if c.model else None,
            skills=sorted(s.label for s in c.skills),
            system_prompt=h.system_prompt,
            condition=c.condition,
            temperature=h.temperature,
            max_steps=h.max_steps,
            timeout_s=h.timeout_s,
            counterbalance=c.counterbalance,
            sandbox=c.sandbox,
            valuegym_version=c.valuegym_version,
            seed=c.seed,
            coverage=Coverage.of(rows),
            leaning=leaning_counts(rows),
        )


def procedural_values(tasks: list[Task]) -> dict[str, str]:
    """Task id -> the name of the value on the written-rule side, or "none" (tasks that say)."""
    found = {}
    for task in tasks:
        pole = task.metadata.get("procedural_pole")
        if pole == "none":
            found[task.id] = "none"
        elif pole in task.poles:
            found[task.id] = task.poles[pole].value.name
    return found


def load_scored_run(run_dir: Path, judge: str = CHECKPOINT) -> ScoredRun:
    """Read a run and a judge's judgments; checkpoint gaps are scored in memory (never written).

    Raises `valuegym.runner.NoRun` for a folder without a run and `MissingJudgments` when a
    non-checkpoint judge has not scored the run yet.
    """
    config, tasks = load_run(run_dir)
    trajectories = run_trajectories(run_dir)
    judgments = read_judgments(run_dir, judge)
    if judge == CHECKPOINT:  # deterministic and cheap: fill any gap without writing
        scorer = checkpoint_scorer(tasks)
        for t in trajectories:
            if t.episode_id not in judgments:
                judgments[t.episode_id] = scorer(t)
    elif not judgments and trajectories:
        raise MissingJudgments(
            f"{run_dir} has no judgments by {judge!r}; "
            f"score it first: valuegym judge {run_dir} --judge {judge}"
        )
    return ScoredRun(run_dir, config, tasks, trajectories, judgments, judge)


def run_labels(paths: list[Path]) -> list[str]:
    """Folder names, or longer paths where two runs share a name."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]
