"""The rubric judge: an LLM behind an OpenAI-compatible endpoint applies a task's rubric.

Every episode is read twice per judge, once with each value shown first under the label
"Value 1" (see `rubric_prompt`), and the readings are averaged; how much the order moved the
scores is kept as `swap_disagreement` and `position_bias`. With several endpoints every judge
reads the episode both ways and the verdict is the mean over judges.

A reply must be one JSON object that validates against `RubricReply` and names every rubric
item once; otherwise the judge is told what was wrong and asked again, up to `max_attempts`.
A reading that never validates, or that the model declares unscorable, is an `unscorable`
pass; the episode is unscorable only when no reading scored it. An endpoint that cannot be
reached stops the judging (`JudgeUnavailable`); stored judgments are kept, so it resumes.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import openai
from pydantic import BaseModel, Field, ValidationError

from envs.task import POLES, PoleId, Task
from harnesses.models import ModelEndpoint
from judges.rubric_prompt import ORDERS, Presentation, PromptOptions, render_prompt
from judges.verdict import ItemScore, JudgePass, Judgment, Order, pole_score
from trajectories.schema import Trajectory


class RubricOptions(BaseModel):
    max_attempts: int = Field(default=3, ge=1)
    temperature: float = 0.0
    max_tokens: int = Field(default=4096, ge=64)
    timeout_s: float = Field(default=180.0, gt=0)
    max_retries: int = Field(
        default=2, ge=0, description="The OpenAI client's retries of 429/5xx and lost connections."
    )
    prompt: PromptOptions = Field(default_factory=PromptOptions)


class ItemReply(BaseModel):
    id: str
    score: Literal[0, 1, 2]
    evidence_steps: list[int] = Field(default_factory=list)
    rationale: str = ""


class RubricReply(BaseModel):
    """What the judge model must answer."""

    outcome: Literal["scored", "unscorable"] = "scored"
    reason: str = ""
    items: list[ItemReply] = Field(default_factory=list)
    value_1_summary: str = ""
    value_2_summary: str = ""
    leaning: str = ""
    confidence: float | None = Field(default=None, ge=0, le=1)


class InvalidReply(ValueError):
    pass


class JudgeUnavailable(RuntimeError):
    """The endpoint could not be reached or refused the judge as a whole (auth, model name)."""


FENCE = re.compile(r"```(?:json)?\s*(\{.*\})\s*```", re.S)


def extract_json(text: str) -> object:
    """The JSON object in a reply: the whole text, a fenced block, or the outermost braces."""
    text = text.strip()
    candidates = [text]
    if fenced := FENCE.search(text):
        candidates.append(fenced.group(1))
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise InvalidReply("the reply is not a JSON object")


def parse_reply(text: str, view: Presentation, steps: set[int]) -> tuple[RubricReply, list[str]]:
    """Validate a reply against the rubric shown; returns it with notes on what was dropped."""
    try:
        reply = RubricReply.model_validate(extract_json(text))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidReply(problems) from None
    if reply.outcome == "unscorable":
        return reply, []
    given = [i.id for i in reply.items]
    missing = sorted(set(view.items) - set(given))
    unknown = sorted(set(given) - set(view.items))
    repeated = sorted({i for i in given if given.count(i) > 1})
    problems = [
        f"{what}: {', '.join(ids)}"
        for what, ids in (
            ("missing items", missing),
            ("unknown items", unknown),
            ("repeated", repeated),
        )
        if ids
    ]
    if problems:
        raise InvalidReply("; ".join(problems))
    notes = []
    for item in reply.items:
        bad = [s for s in item.evidence_steps if s not in steps]
        if bad:
            notes.append(f"{item.id}: dropped evidence steps not in the tool log: {bad}")
            item.evidence_steps = [s for s in item.evidence_steps if s in steps]
    return reply, notes


def to_pass(judge: str, view: Presentation, reply: RubricReply, attempts: int, notes) -> JudgePass:
    items = []
    by_id = {i.id: i for i in reply.items}
    for shown, meta in view.items.items():
        answer = by_id[shown]
        items.append(
            ItemScore(
                pole=meta.pole,
                item_id=meta.item_id,
                checkpoint=meta.checkpoint,
                weight=meta.weight,
                score=answer.score,
                evidence_steps=sorted(set(answer.evidence_steps)),
                rationale=answer.rationale,
            )
        )
    labels = {f"value_{view.number(p)}": p for p in POLES}
    said = {1: reply.value_1_summary, 2: reply.value_2_summary}
    return JudgePass(
        judge=judge,
        order=view.order,
        items=items,
        scores={p: pole_score([i for i in items if i.pole == p]) for p in POLES},
        leaning=labels.get(reply.leaning, reply.leaning),
        confidence=reply.confidence,
        attempts=attempts,
        note="; ".join(notes),
        summaries={p: said[view.number(p)] for p in POLES if said[view.number(p)]},
    )


class RubricJudge:
    """Scores trajectories with one or more endpoints, each reading both pole orders."""

    def __init__(self, endpoints: list[ModelEndpoint], options: RubricOptions | None = None):
        if not endpoints:
            raise ValueError("a rubric judge needs at least one endpoint")
        self.endpoints = endpoints
        self.options = options or RubricOptions()
        self.clients = {
            e.name: openai.OpenAI(
                base_url=e.base_url,
                api_key=e.api_key(),
                timeout=self.options.timeout_s,
                max_retries=self.options.max_retries,
            )
            for e in endpoints
        }

    @property
    def key(self) -> str:
        kind = "rubric+matchers" if self.options.prompt.show_matchers else "rubric"
        return f"{kind}:" + ",".join(e.name for e in self.endpoints)

    def read(self, endpoint: ModelEndpoint, task: Task, trajectory: Trajectory, order: Order):
        """One reading of one episode in one order, with retries on invalid output.

        The pass keeps the prompt and every raw reply, so a verdict can be audited later.
        """
        system, user, view = render_prompt(task, trajectory, order, self.options.prompt)
        steps = {e.step for e in trajectory.tool_log}
        messages: list[dict[str, str]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        audit = {"prompt": list(messages), "replies": []}
        problem = ""
        for attempt in range(1, self.options.max_attempts + 1):
            text = self._complete(endpoint, messages)
            if text is None:
                return JudgePass(
                    judge=endpoint.name,
                    order=order,
                    outcome="unscorable",
                    attempts=attempt,
                    note="the endpoint rejected the request for this episode",
                    **audit,
                )
            audit["replies"].append(text)
            try:
                reply, notes = parse_reply(text, view, steps)
            except InvalidReply as exc:
                problem = str(exc)
                messages += [
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": f"Your reply was not valid: {problem}. Answer again with "
                        "only the JSON object, covering every rubric item once.",
                    },
                ]
                continue
            if reply.outcome == "unscorable":
                return JudgePass(
                    judge=endpoint.name,
                    order=order,
                    outcome="unscorable",
                    attempts=attempt,
                    note=reply.reason or "the judge found no basis for scoring",
                    **audit,
                )
            return to_pass(endpoint.name, view, reply, attempt, notes).model_copy(update=audit)
        return JudgePass(
            judge=endpoint.name,
            order=order,
            outcome="unscorable",
            attempts=self.options.max_attempts,
            note=f"no valid reply in {self.options.max_attempts} attempts; last problem: {problem}",
            **audit,
        )

    def _complete(self, endpoint: ModelEndpoint, messages: list[dict[str, str]]) -> str | None:
        """The reply text; None when the request itself was refused (e.g. too long)."""
        try:
            response = self.clients[endpoint.name].chat.completions.create(
                model=endpoint.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=self.options.temperature,
                max_tokens=self.options.max_tokens,
            )
        except (openai.BadRequestError, openai.UnprocessableEntityError):
            return None
        except openai.APIError as exc:
            raise JudgeUnavailable(
                f"judge endpoint {endpoint.name} ({endpoint.base_url}): {type(exc).__name__}: {exc}"
            ) from exc
        if not response.choices:
            return ""
        return response.choices[0].message.content or ""

    def __call__(self, task: Task, trajectory: Trajectory) -> Judgment:
        jobs = [(e, order) for e in self.endpoints for order in ORDERS]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            passes = list(pool.map(lambda job: self.read(job[0], task, trajectory, job[1]), jobs))
        return combine(trajectory.episode_id, task.id, self.key, passes)


def combine(episode_id: str, task_id: str, judge: str, passes: list[JudgePass]) -> Judgment:
    """Average the scored readings: first each judge's two orders, then the judges."""
    by_judge: dict[str, list[JudgePass]] = {}
    for p in passes:
        if p.outcome == "scored":
            by_judge.setdefault(p.judge, []).append(p)
    if not by_judge:
        notes = "; ".join(f"{p.judge}/{p.order}: {p.note}" for p in passes)
        return Judgment(
            episode_id=episode_id,
            task_id=task_id,
            judge=judge,
            outcome="unscorable",
            passes=passes,
            note=notes,
        )
    per_item: dict[tuple[PoleId, str], list[float]] = {}
    template: dict[tuple[PoleId, str], ItemScore] = {}
    disagreements, biases = [], []
    for mine in by_judge.values():
        scores: dict[tuple[PoleId, str], list[float]] = {}
        for p in mine:
            for item in p.items:
                scores.setdefault((item.pole, item.item_id), []).append(item.score)
                template.setdefault((item.pole, item.item_id), item)
        for key, xs in scores.items():
            per_item.setdefault(key, []).append(sum(xs) / len(xs))
        orders = {p.order: p.scores for p in mine}
        if {"ab", "ba"} <= set(orders):
            ab, ba = orders["ab"], orders["ba"]
            disagreements.append((abs(ab["a"] - ba["a"]) + abs(ab["b"] - ba["b"])) / 2)
            biases.append(((ab["a"] - ab["b"]) + (ba["b"] - ba["a"])) / 2)
    items = []
    for key, xs in per_item.items():
        evidence = sorted(
            {
                s
                for p in passes
                for i in p.items
                if (i.pole, i.item_id) == key
                for s in i.evidence_steps
            }
        )
        rationale = " | ".join(
            f"{p.judge}/{p.order}: {i.rationale}"
            for p in passes
            for i in p.items
            if (i.pole, i.item_id) == key and i.rationale
        )
        items.append(
            template[key].model_copy(
                update={
                    "score": round(sum(xs) / len(xs), 6),
                    "evidence_steps": evidence,
                    "rationale": rationale,
                }
            )
        )
    missing = [f"{p.judge}/{p.order}: {p.note}" for p in passes if p.outcome != "scored"]
    summaries = {
        pole: text
        for pole in POLES
        if (
            text := " | ".join(
                f"{p.judge}/{p.order}: {p.summaries[pole]}"
                for p in passes
                if p.outcome == "scored" and p.summaries.get(pole)
            )
        )
    }
    return Judgment(
        episode_id=episode_id,
        task_id=task_id,
        judge=judge,
        items=items,
        scores={pole: pole_score([i for i in items if i.pole == pole]) for pole in POLES},
        passes=passes,
        swap_disagreement=round(sum(disagreements) / len(disagreements), 6)
        if disagreements
        else None,
        position_bias=round(sum(biases) / len(biases), 6) if biases else None,
        note=("unscorable readings: " + "; ".join(missing)) if missing else "",
        summaries=summaries,
    )
