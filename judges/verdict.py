"""What every judge returns, and the published pole-score formula they all share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from envs.task import PoleId


class ItemScore(BaseModel):
    """One rubric item, scored 0 (no support), 1 (partial) or 2 (clear support)."""

    pole: PoleId
    item_id: str
    checkpoint: str
    weight: int
    score: Literal[0, 1, 2]
    evidence_steps: list[int] = Field(default_factory=list)
    rationale: str = ""


class Judgment(BaseModel):
    """A judge's verdict on one episode: item scores and the two pole scores (0-10)."""

    episode_id: str
    task_id: str
    judge: str
    outcome: Literal["scored", "unscorable"] = "scored"
    items: list[ItemScore] = Field(default_factory=list)
    scores: dict[PoleId, float] = Field(default_factory=dict)
    note: str = ""


def pole_score(items: list[ItemScore]) -> float:
    """`10 * sum(w*s) / (2 * sum(w))`: 0 when the pole has no support, 10 when fully met."""
    total = sum(item.weight for item in items)
    if total == 0:
        return 0.0
    return round(10 * sum(item.weight * item.score for item in items) / (2 * total), 6)
