"""A run in the Agent-ValueBench release's trajectory format (`valuegym export --format
agent-valuebench`), so the release's own judge (ValueEval) can score a valuegym run.

Each agent-condition episode becomes `<case>_traj.json` as the release's TrajGen writes it:
one step per model turn with the assistant message, its tool calls (arguments parsed) and each
call's response, the environment's own return object taken from the server's tool log.
Each choice-condition episode becomes the LLMChoice runner's `<case>_choice_llm.json`
(`trajectories.exports.agent_valuebench_choice`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.protocol import ToolResult
from envs.task import Task
from harnesses.prompts import release_result
from harnesses.tool_loop import parse_arguments
from trajectories.exports import ExportedRun, export_format
from trajectories.exports.agent_valuebench_choice import write_choice_results
from trajectories.schema import Message, Trajectory


def case_stem(task: Task) -> str:
    """The release's name for a task's case (`case_00042`), or the task id for other tasks."""
    case_file = task.metadata.get("case_file")
    return Path(str(case_file)).stem if case_file else task.id


def _arguments(raw: str) -> dict[str, Any]:
    """Arguments as the release's runner keeps them: parsed, else `{}`."""
    for text in (raw, raw + "}"):
        try:
            value = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def release_steps(trajectory: Trajectory) -> list[dict[str, Any]]:
    """One step per model turn: its message, its tool calls and each call's response.

    A response is the environment's own return object, taken from the server's tool log (the
    record of what ran); a call that never reached the environment (malformed arguments) gets
    the error the agent was shown.
    """
    log = iter(trajectory.tool_log)
    replies = {m.tool_call_id: m for m in trajectory.messages if m.role == "tool"}
    steps = []
    for message in trajectory.messages:
        if message.role != "assistant":
            continue
        calls, responses = [], []
        for call in message.tool_calls:
            calls.append(
                {"id": call.id, "name": call.name, "arguments": _arguments(call.arguments)}
            )
            reply = replies.get(call.id)
            if reply is None:
                continue  # stopped before this call ran
            if isinstance(parse_arguments(call.name, call.arguments), dict):
                entry = next(log, None)
                content = release_result(entry.result) if entry else _content(reply)
            else:
                content = _content(reply)
            responses.append({"tool_call_id": call.id, "name": call.name, "content": content})
        steps.append(
            {
                "step": len(steps) + 1,
                "assistant_message": {"role": "assistant", "content": message.content},
                "tool_calls": calls,
                "tool_responses": responses,
            }
        )
    if trajectory.status == "error" and steps:
        steps[-1]["error"] = trajectory.error or "error"
    elif trajectory.status == "error":
        steps.append(
            {
                "step": 1,
                "assistant_message": None,
                "tool_calls": [],
                "tool_responses": [],
                "error": trajectory.error or "error",
            }
        )
    return steps


def _content(message: Message) -> Any:
    """What the agent was shown, in the release's shape."""
    try:
        return release_result(ToolResult.model_validate_json(message.content or ""))
    except ValueError:
        pass
    try:
        return json.loads(message.content or "")
    except json.JSONDecodeError:
        return {"success": False, "error": message.content}


def _texts(steps: list[dict[str, Any]], final: str, status: str) -> tuple[str, str]:
    plain, raw = [], []
    for step in steps:
        plain.append(f"Step {step['step']}:")
        text = (step["assistant_message"] or {}).get("content")
        if text:
            plain.append(f"assistant_output: {text}")
            raw.append(text)
        for call in step["tool_calls"]:
            arguments = json.dumps(call["arguments"], ensure_ascii=False)
            plain.append(f"tool_call: name={call['name']} | arguments={arguments}")
            raw.append(
                "<tool_call>"
                + json.dumps({"name": call["name"], "arguments": call["arguments"]})
                + "</tool_call>"
            )
        for response in step["tool_responses"]:
            result = json.dumps(response["content"], ensure_ascii=False, default=str)
            plain.append(f"tool_response: name={response['name']} | result={result}")
            raw.append(f"<tool_response>{result}</tool_response>")
        if step.get("error"):
            plain.append(f"Error: {step['error']}")
        plain.append("")
    if final:
        plain.append(f"final_answer: {final}")
    plain.append(f"status: {status}")
    return "\n".join(plain), "\n".join(raw)


def trajectory_file(trajectory: Trajectory, task: Task) -> dict[str, Any]:
    """An agent-condition episode as the release's TrajGen trajectory object."""
    status = {"finished": "finished", "max_steps": "max_steps"}.get(trajectory.status, "error")
    final = (trajectory.final_answer or "") if status == "finished" else ""
    steps = release_steps(trajectory)
    text, raw = _texts(steps, final, status)
    schemas = {spec.name: spec for spec in trajectory.tools}
    return {
        "case_name": task.metadata.get("case_name", task.title or task.id),
        "environment": task.metadata.get("release_environment", task.environment),
        "task_description": task.prompt.strip(),
        "function_list": list(task.allowed_tools),
        "tool_schema": [
            schemas[name].model_dump() for name in task.allowed_tools if name in schemas
        ],
        "tool_mode": "openai_function_call",
        "tool_choice": "auto",
        "status": status,
        "final_answer": final,
        "trajectory_text": text,
        "trajectory_text_raw": raw,
        "steps": steps,
    }


def write_trajectories(
    trajectories: list[Trajectory], tasks: dict[str, Task], out: Path
) -> list[Path]:
    """`<case>_traj.json` per agent-condition episode; `sample_<k>/` folders when a run has
    several samples (the release's judge wants one file per case in a folder)."""
    several = len({t.sample for t in trajectories}) > 1
    written = []
    for trajectory in sorted(trajectories, key=lambda t: (t.sample, t.task_id)):
        if trajectory.condition != "agent":
            continue
        task = tasks[trajectory.task_id]
        folder = out / f"sample_{trajectory.sample}" if several else out
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{case_stem(task)}_traj.json"
        body = json.dumps(trajectory_file(trajectory, task), indent=2, ensure_ascii=False)
        path.write_text(body + "\n", encoding="utf-8")
        written.append(path)
    return written


@export_format(
    "agent-valuebench",
    "the Agent-ValueBench release's files: trajectories (<case>_traj.json) for its judge, "
    "forced-choice results (<case>_choice_llm.json, run_manifest.json, run_summary.json, "
    "case_value_adherence_details.json) for its value-priority step",
    "{run}-agent-valuebench",
)
def write_release(run: ExportedRun, out: Path) -> list[Path]:
    written = write_trajectories(run.trajectories, run.tasks, out)
    return written + write_choice_results(run.trajectories, run.tasks, run.config, out)
