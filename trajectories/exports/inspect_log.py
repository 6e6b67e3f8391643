"""A run as an Inspect AI eval log, so `inspect view` and Inspect's log tools open it.

One sample per episode: the task id is the sample id and the episode's sample number its epoch
(counted from 1, as Inspect does). Messages keep their roles, tool calls and tool results; the
server's tool log, the state diff and the episode's identity go in the sample's metadata, since
Inspect has no field for them. Every judge's verdict is a score named after the judge, its
value the two pole scores (`{"a": ..., "b": ...}`), its answer the leaning. Episodes that ended
in error carry Inspect's sample error; max_steps and timeout become sample limits.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from judges.episodes import judged, leaning
from judges.verdict import Judgment
from trajectories.exports import ExportedRun, MissingExtra, export_format
from trajectories.schema import Message, Trajectory


def _messages(t: Trajectory) -> list[Any]:
    from inspect_ai.model import (
        ChatMessageAssistant,
        ChatMessageSystem,
        ChatMessageTool,
        ChatMessageUser,
    )
    from inspect_ai.tool import ToolCall, ToolCallError

    names = {c.id: c.name for m in t.messages for c in m.tool_calls}
    out: list[Any] = []
    for m in t.messages:
        content = m.content or ""
        if m.role == "system":
            out.append(ChatMessageSystem(content=content))
        elif m.role == "user":
            out.append(ChatMessageUser(content=content))
        elif m.role == "assistant":
            calls = [_tool_call(ToolCall, c.id, c.name, c.arguments) for c in m.tool_calls]
            out.append(
                ChatMessageAssistant(content=content, tool_calls=calls or None, model=t.model)
            )
        else:
            error = _tool_error(m)
            out.append(
                ChatMessageTool(
                    content=content,
                    tool_call_id=m.tool_call_id,
                    function=names.get(m.tool_call_id or ""),
                    error=ToolCallError("unknown", error) if error else None,
                )
            )
    return out


def _tool_call(cls: Any, call_id: str, name: str, raw: str) -> Any:
    try:
        arguments = json.loads(raw) if raw.strip() else {}
        problem = None if isinstance(arguments, dict) else "arguments are not a JSON object"
    except json.JSONDecodeError as exc:
        arguments, problem = {}, f"arguments are not valid JSON: {exc.msg}"
    if problem:
        arguments = {}
    return cls(id=call_id, function=name, arguments=arguments, parse_error=problem)


def _tool_error(m: Message) -> str | None:
    """The error a tool result reports (results are ToolResult JSON), if it is one."""
    try:
        data = json.loads(m.content or "")
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and data.get("ok") is False:
        return str(data.get("error") or "tool error")
    return None


def _score(judgment: Judgment) -> Any:
    from inspect_ai.scorer import Score

    outcome, scores, _ = judged(judgment)
    return Score(
        value=scores if outcome == "scored" else outcome,
        answer=leaning(scores),
        explanation=judgment.note or None,
        metadata={
            "outcome": outcome,
            "items": [i.model_dump() for i in judgment.items],
            "swap_disagreement": judgment.swap_disagreement,
            "position_bias": judgment.position_bias,
            "passes": len(judgment.passes),
        },
    )


def _sample(run: ExportedRun, t: Trajectory) -> Any:
    from inspect_ai.log import EvalError, EvalSample, EvalSampleLimit
    from inspect_ai.model import ModelOutput, ModelUsage

    task = run.tasks.get(t.task_id)
    limit = None
    if t.status == "max_steps":
        steps = run.config.harness_config.max_steps or (task.max_steps if task else len(t.tool_log))
        limit = EvalSampleLimit(type="custom", limit=steps, reason="tool-call budget")
    elif t.status == "timeout":
        limit = EvalSampleLimit(type="time", limit=run.config.harness_config.timeout_s)
    model = t.model or t.harness
    return EvalSample(
        id=t.task_id,
        epoch=t.sample + 1,
        input=task.prompt if task else next((m.content or "" for m in t.messages), ""),
        target=[t.values["a"], t.values["b"]],
        messages=_messages(t),
        output=ModelOutput.from_content(model, t.final_answer or ""),
        scores={
            judge: _score(found[t.episode_id])
            for judge, found in run.judgments.items()
            if t.episode_id in found
        },
        metadata={
            "episode_id": t.episode_id,
            "status": t.status,
            "harness": t.harness,
            "seed": t.seed,
            "value_system": t.value_system,
            "values": dict(t.values),
            "swapped": t.swapped,
            "skills": t.skills,
            "tools": [spec.model_dump() for spec in t.tools],
            "tool_log": [e.model_dump(mode="json") for e in t.tool_log],
            "state_diff": t.state_diff,
        },
        model_usage={
            model: ModelUsage(
                input_tokens=t.usage.prompt_tokens,
                output_tokens=t.usage.completion_tokens,
                total_tokens=t.usage.prompt_tokens + t.usage.completion_tokens,
            )
        },
        started_at=t.started_at,
        total_time=t.duration_s,
        error=EvalError(message=t.error or "error", traceback="", traceback_ansi="")
        if t.status == "error"
        else None,
        limit=limit,
    )


def _results(run: ExportedRun) -> Any:
    from inspect_ai.log import EvalMetric, EvalResults, EvalScore

    scores = []
    for judge, found in run.judgments.items():
        found_here = [found[t.episode_id] for t in run.trajectories if t.episode_id in found]
        scored = [j for j in found_here if judged(j)[0] == "scored"]
        metrics = {
            "mean_a": sum(j.scores["a"] for j in scored) / len(scored) if scored else 0.0,
            "mean_b": sum(j.scores["b"] for j in scored) / len(scored) if scored else 0.0,
            "leans_a": sum(j.scores["a"] > j.scores["b"] for j in scored),
            "leans_b": sum(j.scores["b"] > j.scores["a"] for j in scored),
        }
        scores.append(
            EvalScore(
                name=judge,
                scorer=judge,
                scored_samples=len(scored),
                unscored_samples=len(run.trajectories) - len(scored),
                metrics={k: EvalMetric(name=k, value=v) for k, v in metrics.items()},
            )
        )
    done = sum(t.status != "error" for t in run.trajectories)
    return EvalResults(total_samples=len(run.trajectories), completed_samples=done, scores=scores)


def eval_log(run: ExportedRun) -> Any:
    """The run as an `inspect_ai.log.EvalLog`."""
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSpec, EvalStats
    from inspect_ai.model import ModelUsage

    c = run.config
    model = c.model.model if c.model else c.harness
    expected = len(c.task_ids) * c.samples
    usage = ModelUsage(
        input_tokens=sum(t.usage.prompt_tokens for t in run.trajectories),
        output_tokens=sum(t.usage.completion_tokens for t in run.trajectories),
    )
    usage.total_tokens = usage.input_tokens + usage.output_tokens
    starts = [datetime.fromisoformat(t.started_at) for t in run.trajectories]
    ends = [
        s + timedelta(seconds=t.duration_s) for s, t in zip(starts, run.trajectories, strict=True)
    ]
    return EvalLog(
        status="success" if len(run.trajectories) >= expected else "started",
        eval=EvalSpec(
            eval_id=c.run_id,
            run_id=c.run_id,
            created=c.created_at,
            task=f"valuegym/{c.run_id}",
            task_id=c.run_id,
            task_attribs={"harness": c.harness, "sandbox": c.sandbox},
            task_args={"task_sources": c.task_sources, "seed": c.seed},
            solver=c.harness,
            dataset=EvalDataset(
                name="valuegym",
                samples=len(c.task_ids),
                sample_ids=list(c.task_ids),
            ),
            model=f"valuegym/{model}",
            model_base_url=c.model.base_url if c.model else None,
            config=EvalConfig(epochs=c.samples),
            packages={"valuegym": c.valuegym_version},
            metadata={"valuegym_run": json.loads(c.model_dump_json())},
        ),
        results=_results(run),
        stats=EvalStats(
            started_at=min(starts).isoformat() if starts else c.created_at,
            completed_at=max(ends).isoformat() if ends else c.created_at,
            model_usage={f"valuegym/{model}": usage},
        ),
        samples=[_sample(run, t) for t in run.trajectories],
    )


@export_format("inspect", "an Inspect AI eval log (inspect view, read_eval_log)", "{run}.eval")
def write_inspect(run: ExportedRun, out: Path) -> list[Path]:
    try:
        from inspect_ai.log import write_eval_log
    except ImportError as exc:
        raise MissingExtra(
            "Inspect export needs inspect-ai: pip install 'valuegym[inspect]'"
        ) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    log = eval_log(run)
    log.eval.packages["inspect_ai"] = version("inspect_ai")
    write_eval_log(log, str(out), format="json" if out.suffix == ".json" else "eval")
    return [out]
