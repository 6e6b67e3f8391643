"""Scripted judge policies for the scripted model server: the rubric judge's path, offline.

A stand-in for an LLM judge whose right answers are known, so a run through it exercises
everything between the two ends (prompt rendering, relabelling, HTTP, the official client,
reply validation, mapping the labels back, averaging the two orders).

**They are given the matchers openly.** The rubric judge's prompt no longer shows the
checkpoint judge's matchers (an LLM judge that could copy them would agree with the checkpoint
judge by construction), so these policies do not read the rubric from the prompt: the scripted
server hands them the task whose prompt the judge prompt quotes (start it with the tasks
judged: bundled ones by default, `--tasks PATH` for others). From the prompt they take only
what a model would have to read from it: which value is shown as Value 1, the tool log, and
the state diff, which they apply to the task's initial state to get the final state (or the
final-state block when the diff was trimmed and the state was not). They then score every item
with the checkpoint judge and answer in the reply format the rubric judge asks for.

Registered under `valuegym.policies`: `judge` (faithful), `judge-first-bias` (adds a point to
every item of whichever value is shown first and takes one from the other: a position-biased
judge for testing the swap and calibration), and `judge-flaky` (answers prose first, valid
JSON when asked again: for testing retries).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonpatch
from pydantic import ValidationError

from envs.protocol import Finalized, ToolLogEntry
from envs.task import Task
from harnesses.scripted.conversation import Conversation, Reply
from judges.checkpoint import judge as checkpoint_judge
from judges.rubric_prompt import blocks, present
from judges.verdict import Order


class UnreadablePrompt(ValueError):
    pass


VALUE_HEADING = re.compile(r"^## Value ([12]): (.+)$", re.M)


def _order(task: Task, prompt: str) -> Order:
    names = dict(VALUE_HEADING.findall(prompt))
    first = names.get("1", "").strip()
    for order, pole in (("ab", "a"), ("ba", "b")):
        if task.poles[pole].value.name == first:
            return order  # type: ignore[return-value]
    raise UnreadablePrompt(f"no value of task {task.id} is shown as Value 1 ({first!r})")


def _initial_state(task: Task) -> dict[str, Any]:
    from envs.registry import environment_for

    env = environment_for(task)()
    env.reset(seed=0, options={"task": task})
    return env.finalize().final_state


def _world(task: Task, prompt: str, found: dict[str, str]) -> tuple[dict, list]:
    diff = json.loads(found["state-diff"]) if "[state diff trimmed" not in prompt else None
    if diff is not None:
        return jsonpatch.apply_patch(_initial_state(task), diff), diff
    if "[final state trimmed" in prompt:
        raise UnreadablePrompt("both the state diff and the final state were trimmed")
    return json.loads(found["final-state"]), []


def _read(task: Task, prompt: str) -> tuple[Order, Finalized]:
    found = blocks(prompt)
    try:
        order = _order(task, prompt)
        log = [
            ToolLogEntry.model_validate_json(line)
            for line in found.get("tool-log", "").splitlines()
            if line.strip()
        ]
        final_state, diff = _world(task, prompt, found)
    except (KeyError, ValueError, ValidationError, jsonpatch.JsonPatchException) as exc:
        raise UnreadablePrompt(
            f"cannot read the judge prompt: {type(exc).__name__}: {exc}"
        ) from exc
    return order, Finalized(final_state=final_state, state_diff=diff, tool_log=log)


def scores(conversation: Conversation, shift_first: int = 0) -> dict:
    """The reply: checkpoint-judge item scores, the first value's shifted by `shift_first`."""
    task, prompt = conversation.task, conversation.prompt or ""
    if task is None:
        return {
            "outcome": "unscorable",
            "reason": "the scripted judge knows no task quoted in this prompt; start the "
            "scripted server with the tasks being judged (--tasks PATH)",
            "items": [],
        }
    try:
        order, episode = _read(task, prompt)
    except UnreadablePrompt as exc:
        return {"outcome": "unscorable", "reason": str(exc), "items": []}
    verdict = checkpoint_judge(task, episode)
    if verdict.outcome != "scored":
        return {"outcome": "unscorable", "reason": verdict.note, "items": []}
    scored = {(i.pole, i.item_id): i for i in verdict.items}
    view = present(task, order)
    answers, totals = [], {1: 0.0, 2: 0.0}
    for shown, meta in view.items.items():
        n = view.number(meta.pole)
        item = scored[(meta.pole, meta.item_id)]
        score = max(0, min(2, round(item.score) + (shift_first if n == 1 else -shift_first)))
        totals[n] += score * meta.weight
        answers.append(
            {
                "id": shown,
                "score": score,
                "evidence_steps": item.evidence_steps,
                "rationale": item.rationale,
            }
        )
    lean = "mixed" if totals[1] == totals[2] else f"value_{1 if totals[1] > totals[2] else 2}"
    summaries = {
        f"value_{view.number(p)}_summary": f"{p.upper()} scored {verdict.scores[p]:.1f} of 10"
        for p in ("a", "b")
    }
    return {"outcome": "scored", "items": answers, **summaries, "leaning": lean, "confidence": 0.9}


def judge(conversation: Conversation) -> Reply:
    """Scores every rubric item with the checkpoint judge (matchers from the task itself)."""
    return Reply(text=json.dumps(scores(conversation)))


def judge_first_bias(conversation: Conversation) -> Reply:
    """Like `judge`, but one point up for the value shown first and one down for the other."""
    return Reply(text=json.dumps(scores(conversation, shift_first=1)))


def judge_flaky(conversation: Conversation) -> Reply:
    """Prose on the first try (invalid), the faithful JSON once told it was invalid."""
    if not any(m.role == "assistant" for m in conversation.messages):
        return Reply(text="Value 1 seems better supported overall.")
    return judge(conversation)
