"""ATIF trajectories (Harbor's Agent Trajectory Interchange Format), one JSON file per episode.

Steps follow the conversation: the system prompt and the user's task are steps of their own
(`source` "system" and "user"), each assistant turn is an agent step whose tool calls carry the
results that answered them as its observation. The tool definitions the agent was given go in
`agent.tool_definitions` in OpenAI's function shape. Both are what a replay or a fine-tuning
pipeline needs and what converters of other harnesses' logs tend to drop. valuegym's own record
(end status, the server's tool log, state diff, judgments) rides in the root `extra`.

The models below are the subset of the ATIF schema that valuegym writes; they validate every
file as it is written, and tests read the files back through them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trajectories.exports import ExportedRun, export_format
from trajectories.schema import Trajectory

ATIF_VERSION = "ATIF-v1.6"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AtifToolCall(_Model):
    tool_call_id: str
    function_name: str
    arguments: dict[str, Any]


class AtifResult(_Model):
    source_call_id: str | None = None
    content: str | None = None


class AtifObservation(_Model):
    results: list[AtifResult]


class AtifStep(_Model):
    step_id: int = Field(ge=1)
    source: Literal["system", "user", "agent"]
    message: str
    model_name: str | None = None
    tool_calls: list[AtifToolCall] | None = None
    observation: AtifObservation | None = None
    extra: dict[str, Any] | None = None


class AtifAgent(_Model):
    name: str
    version: str
    model_name: str | None = None
    tool_definitions: list[dict[str, Any]] | None = None
    extra: dict[str, Any] | None = None


class AtifFinalMetrics(_Model):
    total_prompt_tokens: int | None = None
    total_completion_tokens: int | None = None
    total_steps: int | None = None
    extra: dict[str, Any] | None = None


class AtifTrajectory(_Model):
    schema_version: str
    session_id: str
    agent: AtifAgent
    steps: list[AtifStep]
    notes: str | None = None
    final_metrics: AtifFinalMetrics | None = None
    extra: dict[str, Any] | None = None

    @field_validator("steps")
    @classmethod
    def _sequential(cls, steps: list[AtifStep]) -> list[AtifStep]:
        if [s.step_id for s in steps] != list(range(1, len(steps) + 1)):
            raise ValueError("step_id must count 1, 2, 3... in order")
        return steps


def _arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parsed arguments, or {} and the raw text where the model's arguments did not parse."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        return {}, raw
    return (value, None) if isinstance(value, dict) else ({}, raw)


def atif_trajectory(run: ExportedRun, t: Trajectory) -> AtifTrajectory:
    results = {m.tool_call_id: m.content for m in t.messages if m.role == "tool"}
    steps: list[AtifStep] = []
    for m in t.messages:
        if m.role == "tool":
            continue  # answered inside the agent step that called it
        if m.role in ("system", "user"):
            steps.append(AtifStep(step_id=len(steps) + 1, source=m.role, message=m.content or ""))
            continue
        calls, malformed = [], {}
        for c in m.tool_calls:
            arguments, raw = _arguments(c.arguments)
            calls.append(AtifToolCall(tool_call_id=c.id, function_name=c.name, arguments=arguments))
            if raw is not None:
                malformed[c.id] = raw
        observed = [
            AtifResult(source_call_id=c.id, content=results[c.id])
            for c in m.tool_calls
            if c.id in results
        ]
        steps.append(
            AtifStep(
                step_id=len(steps) + 1,
                source="agent",
                message=m.content or "",
                model_name=t.model,
                tool_calls=calls or None,
                observation=AtifObservation(results=observed) if observed else None,
                extra={"malformed_arguments": malformed} if malformed else None,
            )
        )
    judgments = {
        judge: found[t.episode_id].model_dump(mode="json")
        for judge, found in run.judgments.items()
        if t.episode_id in found
    }
    return AtifTrajectory(
        schema_version=ATIF_VERSION,
        session_id=f"{t.run_id}/{t.episode_id}",
        agent=AtifAgent(
            name=t.harness,
            version=run.config.valuegym_version,
            model_name=t.model,
            tool_definitions=[spec.openai() for spec in t.tools],
            extra={"skills": t.skills, "framework": "valuegym"},
        ),
        steps=steps,
        notes=(
            "Exported by valuegym. Tool results are the sandbox server's; its own tool log "
            "(what the environment executed, in order) is in extra.valuegym.tool_log."
        ),
        final_metrics=AtifFinalMetrics(
            total_prompt_tokens=t.usage.prompt_tokens,
            total_completion_tokens=t.usage.completion_tokens,
            total_steps=len(steps),
            extra={"requests": t.usage.requests},
        ),
        extra={
            "valuegym": {
                "run_id": t.run_id,
                "episode_id": t.episode_id,
                "task_id": t.task_id,
                "sample": t.sample,
                "seed": t.seed,
                "status": t.status,
                "error": t.error,
                "started_at": t.started_at,
                "duration_s": t.duration_s,
                "value_system": t.value_system,
                "values": dict(t.values),
                "swapped": t.swapped,
                "final_answer": t.final_answer,
                "tool_log": [e.model_dump(mode="json") for e in t.tool_log],
                "state_diff": t.state_diff,
                "judgments": judgments,
            }
        },
    )


def file_name(episode_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", episode_id) + ".json"


@export_format("atif", "ATIF trajectories, one JSON file per episode (Harbor)", "{run}-atif")
def write_atif(run: ExportedRun, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for t in run.trajectories:
        path = out / file_name(t.episode_id)
        path.write_text(
            atif_trajectory(run, t).model_dump_json(indent=2, exclude_none=True) + "\n",
            encoding="utf-8",
        )
        written.append(path)
    return written
