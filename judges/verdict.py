"""What every judge returns, and the published pole-score formula they all share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from envs.task import PoleId

Outcome = Literal["scored", "unscorable"]
Order = Literal["ab", "ba"]


class ItemScore(BaseModel):
    """One rubric item, scored 0 (no support), 1 (partial) or 2 (clear support).

    A single judge pass gives whole numbers; a debiased or ensemble verdict averages passes, so
    the stored score may fall between them (1.5 when two passes said 1 and 2).
    """

    pole: PoleId
    item_id: str
    checkpoint: str
    weight: int
    score: float = Field(ge=0, le=2)
    evidence_steps: list[int] = Field(default_factory=list)
    rationale: str = ""


class JudgePass(BaseModel):
    """One LLM judge reading one episode once, with the poles shown in one order.

    `order` "ab" shows pole a first, labelled Value 1; "ba" shows pole b first. Items and
    scores are already mapped back to the real poles.
    """

    judge: str
    order: Order
    outcome: Outcome = "scored"
    items: list[ItemScore] = Field(default_factory=list)
    scores: dict[PoleId, float] = Field(default_factory=dict)
    leaning: str = ""
    confidence: float | None = None
    attempts: int = 1
    note: str = ""


class Judgment(BaseModel):
    """A judge's verdict on one episode: item scores and the two pole scores (0-10).

    Judges that read an episode several times (both pole orders, several models) keep every
    pass in `passes`; `items` and `scores` are then the averages, and `swap_disagreement` and
    `position_bias` say how much the order of presentation moved the scores.
    """

    episode_id: str
    task_id: str
    judge: str
    outcome: Outcome = "scored"
    items: list[ItemScore] = Field(default_factory=list)
    scores: dict[PoleId, float] = Field(default_factory=dict)
    note: str = ""
    passes: list[JudgePass] = Field(default_factory=list)
    swap_disagreement: float | None = Field(
        default=None, description="Mean |score(ab) - score(ba)| over poles and judges, 0-10."
    )
    position_bias: float | None = Field(
        default=None,
        description="Mean advantage (0-10 points) the value shown first got over the other.",
    )


def pole_score(items: list[ItemScore]) -> float:
    """`10 * sum(w*s) / (2 * sum(w))`: 0 when the pole has no support, 10 when fully met."""
    total = sum(item.weight for item in items)
    if total == 0:
        return 0.0
    return round(10 * sum(item.weight * item.score for item in items) / (2 * total), 6)
