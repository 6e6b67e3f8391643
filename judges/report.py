"""Run reports: per-episode pole scores, value adherence and priority, judge quality, coverage.

Adherence follows the published method (a value's score is the mean of its pole scores, each
task counted once; a system's is the mean over its values) with intervals over tasks (see
`adherence`); priority is a Bradley–Terry fit per value system (see `priority`). Every
episode counts, whatever its end status, and coverage says how many ended which way and how many
the judge could score, so a harness that errors a lot cannot look good by losing its hard
episodes.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from judges.adherence import Coverage, Leanings, RoleAdherence, adherence
from judges.agreement import JudgeStats, judge_stats
from judges.episodes import EpisodeRow, leaning
from judges.priority import SystemPriority, priorities
from judges.stats import Estimate, Settings, methods_text
from judges.verdict import LEANINGS, Judgment
from trajectories.schema import STATUSES

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
    fallback_tasks: int = Field(default=0, description="Its tasks scored by fallback checkpoints.")


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


FALLBACK_NOTE = (
    "{n} task(s) have no golden trajectories (imported release cases): their checkpoint scores "
    "come from the fallback checkpoints, the release's related tools in listed order, which a "
    "random agent can score on and an agent calling every tool clears on both poles. They are "
    "labelled fallback and {priorities}. Score them with the rubric judge for figures to rely "
    "on: valuegym judge RUN --judge rubric:<endpoint>, then valuegym report RUN --judge "
    "rubric:<endpoint>."
)


def fallback_note(tasks: int, included: bool) -> str | None:
    if not tasks:
        return None
    priorities = (
        "are included in the priorities as asked (--include-fallback)"
        if included
        else "are left out of the priorities (--include-fallback puts them in)"
    )
    return FALLBACK_NOTE.format(n=tasks, priorities=priorities)


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
    fallback_tasks: int = Field(
        default=0, description="Tasks scored only by fallback checkpoints (no goldens)."
    )
    fallback_in_priorities: bool = False
    fallback_note: str | None = None


def build_report(
    run_id: str,
    harness: str,
    judge: str,
    rows: list[EpisodeRow],
    judgments: dict[str, Judgment],
    settings: Settings | None = None,
    procedural: dict[str, str] | None = None,
    fallback: set[str] | None = None,
    include_fallback: bool = False,
) -> RunReport:
    """A run's report from its episode rows and the judgments behind them.

    `procedural` maps task ids to their procedural value's name or "none" (see `table`);
    `fallback` names the tasks scored only by fallback checkpoints, left out of the priorities
    unless `include_fallback`.
    """
    settings = settings or Settings()
    fallback = fallback or set()
    value_stats, system_stats = adherence(rows, settings, procedural)
    fallback_by_value: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        if r.task_id in fallback:
            for v in r.values.values():
                fallback_by_value.setdefault((r.value_system, v), set()).add(r.task_id)
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
            fallback_tasks=len(fallback_by_value.get((v.value_system, v.value), ())),
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
    mine = [judgments[r.episode_id] for r in rows if r.episode_id in judgments]
    ranked = rows if include_fallback else [r for r in rows if r.task_id not in fallback]
    fallback_count = len({r.task_id for r in rows if r.task_id in fallback})
    return RunReport(
        run_id=run_id,
        harness=harness,
        judge=judge,
        episodes=rows,
        values=values,
        systems=systems,
        priorities=priorities(ranked, settings, procedural),
        coverage={status: sum(1 for r in rows if r.status == status) for status in STATUSES},
        outcomes={
            o: sum(1 for r in rows if r.outcome == o) for o in ("scored", "unscorable", "unjudged")
        },
        leaning={side: sum(1 for r in rows if r.leaning == side) for side in LEANINGS},
        judge_stats=judge_stats(mine, settings),
        settings=settings,
        methods=methods_text(settings),
        fallback_tasks=fallback_count,
        fallback_in_priorities=include_fallback and bool(fallback_count),
        fallback_note=fallback_note(fallback_count, include_fallback),
    )
