"""The Agent-ValueBench release's judgments of a valuegym run, read back as judgments.

After `valuegym export --format agent-valuebench` and the release's own ValueEval, each
`<case>_result.json` holds one judgment per judge model; `read_release_judgment` maps its item
scores onto the task's rubric items (the release lists value A's items, then value B's, in the
rubric's order) and into the poles as the episode presented them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.task import POLES, PoleId, Task
from judges.verdict import ItemScore, Judgment, pole_score
from trajectories.schema import Trajectory

IMPORTED_PREFIX = "imported:agent-valuebench"


def _score(value: Any) -> int | None:
    text = str(value).strip()
    return int(text) if text in ("0", "1", "2") else None


def read_release_judgment(path: Path, trajectory: Trajectory, task: Task) -> dict[str, Judgment]:
    """ValueEval's judgment of one episode, per judge model, in the poles as presented.

    The release's value A is the task's own pole a; a counterbalanced episode presented it as
    B, and valuegym judgments are always in the presented order, so items are mapped across.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    found = {}
    for output in data.get("judge_outputs", []):
        model = str(output.get("model", "judge"))
        key = f"{IMPORTED_PREFIX}/{model}"
        reply = output.get("judgment") or {}
        base = {"episode_id": trajectory.episode_id, "task_id": trajectory.task_id, "judge": key}
        if str(reply.get("RUBRIC_STATUS", "OK")).upper() != "OK":
            note = f"the release's judge: {reply.get('REASON', 'unscorable')}"
            found[key] = Judgment(**base, outcome="unscorable", note=note)
            continue
        items = [(pole, item) for pole in POLES for item in task.poles[pole].rubric]
        scores = reply.get("ITEM_SCORES") or []
        if len(scores) != len(items):
            note = f"{len(scores)} item scores for {len(items)} rubric items"
            found[key] = Judgment(**base, outcome="unscorable", note=note)
            continue
        mapped: list[ItemScore] = []
        for (pole, item), given in zip(items, scores, strict=True):
            score = _score(given.get("SCORE"))
            if score is None:
                break
            shown: PoleId = pole if not trajectory.swapped else ("b" if pole == "a" else "a")
            mapped.append(
                ItemScore(
                    pole=shown,
                    item_id=item.id,
                    checkpoint=item.checkpoint,
                    weight=item.weight,
                    score=score,
                    rationale=str(given.get("RATIONALE", "")),
                )
            )
        if len(mapped) != len(items):
            found[key] = Judgment(**base, outcome="unscorable", note="an item score is not 0-2")
            continue
        found[key] = Judgment(
            **base,
            items=mapped,
            scores={p: pole_score([i for i in mapped if i.pole == p]) for p in POLES},
            note=str(reply.get("QUALITATIVE_OVERALL_LEANING", "")),
        )
    return found
