"""Episodes joined with their judgments: the rows every aggregate is computed from.

Every episode of a run becomes a row whatever its end status or judgment, so aggregates can
say what they left out instead of silently dropping it. Scores are keyed by value name (not by
pole), since a counterbalanced run presents a task's values in either order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from envs.task import POLES, PoleId
from judges.verdict import Judgment, Leaning
from judges.verdict import leaning as judged_leaning
from trajectories.schema import Trajectory

RowOutcome = Literal["scored", "unscorable", "unjudged"]
RowLeaning = Leaning | Literal["none"]


class EpisodeRow(BaseModel):
    episode_id: str
    task_id: str
    sample: int
    status: str
    error: str | None = None
    value_system: str
    values: dict[PoleId, str]
    outcome: RowOutcome = "scored"
    scores: dict[PoleId, float] = Field(default_factory=dict)
    leaning: RowLeaning = "none"
    note: str = ""
    swap_disagreement: float | None = None
    position_bias: float | None = None

    @property
    def scored(self) -> bool:
        return self.outcome == "scored"

    def value_scores(self) -> dict[str, float]:
        """Pole scores by value name (empty unless scored)."""
        if not self.scored:
            return {}
        return {self.values[pole]: self.scores[pole] for pole in POLES}


def leaning(scores: dict[str, float]) -> RowLeaning:
    """The judgment record's leaning (`judges.verdict.leaning`); "none" when not scored."""
    return judged_leaning(scores) or "none"


def judged(judgment: Judgment | None) -> tuple[RowOutcome, dict[PoleId, float], str]:
    """What a (possibly missing) judgment says of an episode: outcome, pole scores, note."""
    if judgment is None:
        return "unjudged", {}, "no judgment stored for this episode"
    if judgment.outcome == "unjudged":
        return "unjudged", {}, judgment.note
    if judgment.outcome != "scored" or set(judgment.scores) != set(POLES):
        return "unscorable", {}, judgment.note
    return "scored", dict(judgment.scores), judgment.note


def episode_row(trajectory: Trajectory, judgment: Judgment | None) -> EpisodeRow:
    outcome, scores, note = judged(judgment)
    return EpisodeRow(
        episode_id=trajectory.episode_id,
        task_id=trajectory.task_id,
        sample=trajectory.sample,
        status=trajectory.status,
        error=trajectory.error,
        value_system=trajectory.value_system,
        values=dict(trajectory.values),
        outcome=outcome,
        scores=scores,
        leaning=leaning(scores),
        note=note,
        swap_disagreement=judgment.swap_disagreement if judgment else None,
        position_bias=judgment.position_bias if judgment else None,
    )


def episode_rows(
    trajectories: list[Trajectory], judgments: dict[str, Judgment]
) -> list[EpisodeRow]:
    ordered = sorted(trajectories, key=lambda t: (t.task_id, t.sample))
    return [episode_row(t, judgments.get(t.episode_id)) for t in ordered]
