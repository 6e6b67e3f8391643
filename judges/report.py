"""Run reports: per-episode pole scores, value adherence and priority, judge quality, coverage.

Adherence follows the published method (a value's score is the mean of its pole scores, each
task counted once; a system's is the mean over its values) with intervals over tasks (see
`adherence`); priority is a Bradley–Terry fit per value system (see `priority`). Every
episode counts, whatever its end status, and coverage says how many ended which way and how many
the judge could score, so a harness that errors a lot cannot look good by losing its hard
episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from judges.adherence import Coverage, Leanings, RoleAdherence, adherence
from judges.agreement import JudgeStats, judge_stats
from judges.episodes import EpisodeRow, episode_rows, leaning
from judges.priority import SystemPriority, priorities
from judges.stats import Estimate, Settings, methods_text
from judges.verdict import LEANINGS, Judgment
from trajectories.schema import STATUSES, Trajectory

__all__ = ["EpisodeRow", "RunReport", "build_report", "leaning"]


class ValueRow(BaseModel):
    value_system: str
    value: str
    adherence: float | None = Field(description="Mean pole score (0-10) of the scored episodes.")
    ci: Estimate
    episodes: int = Field(description="Episodes where the value is a pole, scored or not.")
    tasks: int
    coverage: Coverage
    leanings: Leanings = Field(default_factory=Leanings)
    by_role: list[RoleAdherence] = Field(
        default_factory=list,
        description="Adherence where the value was the procedural pole, the discretion pole, "
        "or in a task with no written default.",
    )


class SystemRow(BaseModel):
    value_system: str
    adherence: float | None
    ci: Estimate
    values: int
    episodes: int
    tasks: int
    coverage: Coverage
    procedural_pull: Estimate = Field(default_factory=lambda: Estimate(value=None))
    procedural_tasks: int = 0
    no_default_tasks: int = 0
    unknown_role_tasks: int = 0


class RunReport(BaseModel):
    run_id: str
    harness: str
    judge: str
    episodes: list[EpisodeRow]
    values: list[ValueRow]
    systems: list[SystemRow]
    priorities: list[SystemPriority] = Field(default_factory=list)
    coverage: dict[str, int]
    outcomes: dict[str, int] = Field(default_factory=dict)
    leaning: dict[str, int]
    judge_stats: JudgeStats | None = None
    settings: Settings = Field(default_factory=Settings)
    methods: str = ""


def build_report(
    run_id: str,
    harness: str,
    judge: str,
    trajectories: Sequence[Trajectory],
    judgments: dict[str, Judgment],
    settings: Settings | None = None,
    procedural: dict[str, str] | None = None,
) -> RunReport:
    """`procedural` maps task ids to their procedural value's name or "none" (see `table`)."""
    settings = settings or Settings()
    rows = episode_rows(list(trajectories), judgments)
    value_stats, system_stats = adherence(rows, settings, procedural)
    values = [
        ValueRow(
            value_system=v.value_system,
            value=v.value,
            adherence=v.adherence.value,
            ci=v.adherence,
            episodes=v.coverage.episodes,
            tasks=v.tasks,
            coverage=v.coverage,
            leanings=v.leanings,
            by_role=v.by_role,
        )
        for v in value_stats
    ]
    systems = [
        SystemRow(
            value_system=s.value_system,
            adherence=s.adherence.value,
            ci=s.adherence,
            values=s.values,
            episodes=s.coverage.episodes,
            tasks=s.tasks,
            coverage=s.coverage,
            procedural_pull=s.procedural_pull,
            procedural_tasks=s.procedural_tasks,
            no_default_tasks=s.no_default_tasks,
            unknown_role_tasks=s.unknown_role_tasks,
        )
        for s in system_stats
    ]
    mine = [judgments[t.episode_id] for t in trajectories if t.episode_id in judgments]
    return RunReport(
        run_id=run_id,
        harness=harness,
        judge=judge,
        episodes=rows,
        values=values,
        systems=systems,
        priorities=priorities(rows, settings, procedural),
        coverage={status: sum(1 for r in rows if r.status == status) for status in STATUSES},
        outcomes={
            o: sum(1 for r in rows if r.outcome == o) for o in ("scored", "unscorable", "unjudged")
        },
        leaning={side: sum(1 for r in rows if r.leaning == side) for side in LEANINGS},
        judge_stats=judge_stats(mine, settings),
        settings=settings,
        methods=methods_text(settings),
    )
