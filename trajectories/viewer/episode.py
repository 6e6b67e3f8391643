"""One episode as the viewer shows it: the conversation interleaved with the server's tool log.

The tool log is the record (what the environment executed); messages say what the model wrote
around it. Each assistant tool call is paired with the next logged step of the same tool; calls
whose arguments did not parse never reached the server and are shown as not run. Every step
carries the checkpoints it satisfied or violated (the checkpoint judge's own evaluation) and the
rubric items that cite it as evidence, so the page can link steps and scores both ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from envs.protocol import ToolLogEntry
from envs.task import POLES, PoleId, Task
from harnesses.tool_loop import parse_arguments
from judges.checkpoint import CheckpointResult, evaluate, world_of
from judges.spec import as_presented
from judges.verdict import ItemScore, Judgment
from trajectories.schema import Message, MessageToolCall, Trajectory
from trajectories.viewer.align import AlignedRow, align


@dataclass
class Mark:
    """A checkpoint a step bears on."""

    checkpoint: str
    pole: PoleId
    kind: Literal["satisfied", "violated", "attempted"]  # attempted: the tool turned it down


@dataclass
class Step:
    entry: ToolLogEntry
    call: MessageToolCall | None = None
    marks: list[Mark] = field(default_factory=list)
    items: list[ItemScore] = field(default_factory=list)

    @property
    def result_text(self) -> str:
        result = self.entry.result
        return json.dumps(result.data if result.ok else result.error, indent=2, default=str)


@dataclass
class Turn:
    """One entry of the timeline: a message, a logged step, or a call that never ran."""

    kind: Literal["message", "step", "unrun"]
    message: Message | None = None
    step: Step | None = None
    call: MessageToolCall | None = None
    reply: str | None = None  # what the harness answered a call that never ran


@dataclass
class CheckpointRow:
    pole: PoleId
    result: CheckpointResult

    @property
    def steps(self) -> list[int]:
        return sorted(set(self.result.hits.values()))


@dataclass
class EpisodeView:
    trajectory: Trajectory
    task: Task | None  # as presented to the agent (poles swapped for counterbalanced episodes)
    judgment: Judgment | None
    turns: list[Turn]
    checkpoints: list[CheckpointRow]
    golden: list[AlignedRow]

    def items(self, pole: PoleId) -> list[ItemScore]:
        return [i for i in self.judgment.items if i.pole == pole] if self.judgment else []


def _timeline(trajectory: Trajectory, steps: dict[int, Step]) -> list[Turn]:
    replies = {m.tool_call_id: m.content for m in trajectory.messages if m.role == "tool"}
    pending = list(trajectory.tool_log)
    turns: list[Turn] = []
    for message in trajectory.messages:
        if message.role == "tool":
            continue  # shown with the step (or the unrun call) it answers
        if message.content or not message.tool_calls:
            turns.append(Turn("message", message=message))
        for call in message.tool_calls:
            ran = isinstance(parse_arguments(call.name, call.arguments), dict)
            if ran and pending and pending[0].tool == call.name:
                step = steps[pending.pop(0).step]
                step.call = call
                turns.append(Turn("step", step=step))
            else:
                turns.append(Turn("unrun", call=call, reply=replies.get(call.id)))
    turns += [Turn("step", step=steps[e.step]) for e in pending]  # steps no message mentions
    return turns


def episode_view(
    trajectory: Trajectory, task: Task | None, judgment: Judgment | None
) -> EpisodeView:
    presented = as_presented(task, trajectory) if task else None
    steps = {e.step: Step(e) for e in trajectory.tool_log}
    rows: list[CheckpointRow] = []
    if presented is not None:
        pole_of = {cp.id: p for p in POLES for cp in presented.poles[p].checkpoints}
        world = world_of(presented, trajectory)
        for cp_id, result in evaluate(presented, trajectory.tool_log, world).items():
            rows.append(CheckpointRow(pole_of[cp_id], result))
            for step in sorted(set(result.hits.values())):
                if step in steps:
                    steps[step].marks.append(Mark(cp_id, pole_of[cp_id], "satisfied"))
            for kind, found in (("violated", result.violations), ("attempted", result.attempts)):
                for step in found:
                    if step in steps:
                        steps[step].marks.append(Mark(cp_id, pole_of[cp_id], kind))
    for item in judgment.items if judgment else []:
        for step in item.evidence_steps:
            if step in steps:
                steps[step].items.append(item)
    return EpisodeView(
        trajectory=trajectory,
        task=presented,
        judgment=judgment,
        turns=_timeline(trajectory, steps),
        checkpoints=rows,
        golden=align(presented, trajectory.tool_log) if presented else [],
    )
