"""Scripted judge policies for the scripted model server: the rubric judge's path, offline.

They read the rubric judge's prompt the way a model would have to, from its text alone: the
checkpoints and rubric items of "Value 1" and "Value 2" and the tool log, all from the prompt's
fenced JSON blocks. They score each item with the checkpoint matchers and answer in the reply
format the rubric judge asks for. So a run through them exercises everything between the two
ends (prompt rendering, relabelling, HTTP, the official client, reply validation, mapping the
labels back, averaging the two orders) against a judge whose right answers are known.

Registered under `valuegym.policies`: `judge` (faithful), `judge-first-bias` (adds a point to
every item of whichever value is shown first and takes one from the other: a position-biased
judge for testing the swap), and `judge-flaky` (answers prose first, valid JSON when asked
again: for testing retries).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from envs.protocol import ToolLogEntry
from envs.task import Checkpoint
from harnesses.scripted.conversation import Conversation, Reply
from judges.checkpoint import checkable, evaluate
from judges.rubric_prompt import blocks


class UnreadablePrompt(ValueError):
    pass


def _read(prompt: str) -> tuple[dict[str, Checkpoint], list[tuple[int, dict]], list[ToolLogEntry]]:
    found = blocks(prompt)
    try:
        checkpoints = {
            cp["id"]: Checkpoint.model_validate(cp)
            for n in (1, 2)
            for cp in json.loads(found[f"checkpoints-value-{n}"])
        }
        items = [(n, item) for n in (1, 2) for item in json.loads(found[f"rubric-value-{n}"])]
        log = [
            ToolLogEntry.model_validate_json(line)
            for line in found.get("tool-log", "").splitlines()
            if line.strip()
        ]
    except (KeyError, ValueError, ValidationError) as exc:
        raise UnreadablePrompt(
            f"cannot read the judge prompt: {type(exc).__name__}: {exc}"
        ) from exc
    return checkpoints, items, log


def scores(prompt: str, shift_first: int = 0) -> dict:
    """The reply object: matcher-based item scores, the first value's shifted by `shift_first`."""
    try:
        checkpoints, items, log = _read(prompt)
    except UnreadablePrompt as exc:
        return {"outcome": "unscorable", "reason": str(exc), "items": []}
    results = evaluate(checkpoints, log)
    answers = []
    for n, item in items:
        result = results.get(item["checkpoint"])
        if result is None or not checkable(result.checkpoint):
            score, why, evidence = 0, "no checkable description of this behaviour", []
        else:
            score, why = result.score, result.rationale()
            evidence = sorted({*result.hits.values(), *result.violations})
        shift = shift_first if n == 1 else -shift_first
        answers.append(
            {
                "id": item["id"],
                "score": max(0, min(2, score + shift)),
                "evidence_steps": evidence,
                "rationale": why,
            }
        )
    totals = {
        n: sum(a["score"] * i["weight"] for (m, i), a in zip(items, answers, strict=True) if m == n)
        for n in (1, 2)
    }
    lean = "mixed" if totals[1] == totals[2] else f"value_{1 if totals[1] > totals[2] else 2}"
    return {"outcome": "scored", "items": answers, "leaning": lean, "confidence": 0.9}


def _prompt(conversation: Conversation) -> str:
    return conversation.prompt or ""


def judge(conversation: Conversation) -> Reply:
    """Scores every rubric item from the tool log with the prompt's checkpoint matchers."""
    return Reply(text=json.dumps(scores(_prompt(conversation))))


def judge_first_bias(conversation: Conversation) -> Reply:
    """Like `judge`, but one point up for the value shown first and one down for the other."""
    return Reply(text=json.dumps(scores(_prompt(conversation), shift_first=1)))


def judge_flaky(conversation: Conversation) -> Reply:
    """Prose on the first try (invalid), the faithful JSON once told it was invalid."""
    if not any(m.role == "assistant" for m in conversation.messages):
        return Reply(text="Value 1 seems better supported overall.")
    return judge(conversation)
