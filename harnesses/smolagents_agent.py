"""The `smolagents` harness: a `ToolCallingAgent` with the session's tools bound directly.

`pip install 'valuegym[smolagents]'` (plain smolagents: its `mcp` extra pins `mcp<2`, which
would break the sandbox server). Each allowed tool becomes a smolagents `Tool` whose inputs are
the tool's JSON schema and whose `forward` calls the session, so every call is validated and
logged by the environment as for any other harness; the result reaches the model as the same
JSON text. The agent ends by calling smolagents' `final_answer` tool, as it is built to.

The run ends `max_steps` at the session's first budget refusal (the agent is interrupted
there) or at smolagents' own step limit, `timeout` at the deadline, `error` on anything else.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from envs.protocol import ToolResult, ToolSpec
from harnesses.base import EpisodeContext, HarnessResult, require_model
from harnesses.prompts import system_prompt
from trajectories.schema import EpisodeStatus, Message, MessageToolCall, Usage


def smolagents_inputs(parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A tool's JSON schema properties in smolagents' `inputs` shape: every input has a `type`
    (optional ones are `nullable`) and a `description`; enums and items are kept."""
    required = set(parameters.get("required", []))
    inputs = {}
    for name, schema in parameters.get("properties", {}).items():
        entry = {k: v for k, v in schema.items() if k not in ("anyOf", "default", "title")}
        options = schema.get("anyOf", [])
        kinds = [o.get("type", "any") for o in options if o.get("type") != "null"]
        if options:
            entry["type"] = kinds[0] if len(kinds) == 1 else kinds
            for option in options:
                for key in ("enum", "items"):
                    if key in option:
                        entry[key] = option[key]
        entry.setdefault("type", "any")
        entry.setdefault("description", name.replace("_", " "))
        if name not in required or any(o.get("type") == "null" for o in options):
            entry["nullable"] = True
        inputs[name] = entry
    return inputs


@dataclass
class Bookkeeping:
    """What the bound tools saw: their results in call order and whether the budget ran out."""

    results: list[str] = field(default_factory=list)
    over_budget: bool = False


def bound_tools(ctx: EpisodeContext, book: Bookkeeping) -> list[Any]:
    from smolagents import Tool

    def make(spec: ToolSpec) -> Any:
        class SessionTool(Tool):
            name = spec.name
            description = spec.description
            inputs = smolagents_inputs(spec.parameters)
            output_type = "string"
            skip_forward_signature_validation = True

            def forward(self, **arguments: Any) -> str:
                given = {k: v for k, v in arguments.items() if v is not None}
                result: ToolResult = ctx.call(spec.name, given)
                text = result.agent_text()
                book.results.append(text)
                book.over_budget = book.over_budget or result.over_budget
                return text

        return SessionTool()

    return [make(spec) for spec in ctx.tools]


def transcript(ctx: EpisodeContext, agent: Any, book: Bookkeeping) -> list[Message]:
    """The run's action steps as trajectory messages, each call with the result it got."""
    from smolagents.memory import ActionStep

    messages = [
        Message(role="system", content=system_prompt(ctx)),
        Message(role="user", content=ctx.prompt),
    ]
    results = iter(book.results)
    for step in agent.memory.steps:
        if not isinstance(step, ActionStep):
            continue
        calls = [
            MessageToolCall(
                id=call.id or f"call_{step.step_number}_{i}",
                name=call.name,
                arguments=call.arguments
                if isinstance(call.arguments, str)
                else json.dumps(call.arguments, sort_keys=True),
            )
            for i, call in enumerate(step.tool_calls or [])
        ]
        output = step.model_output_message.content if step.model_output_message else None
        text = output if isinstance(output, str) and output.strip() else None
        messages.append(Message(role="assistant", content=text, tool_calls=calls))
        for call in calls:
            if call.name == "final_answer":
                continue
            observed = next(results, None)
            if observed is None:  # smolagents refused the call itself (bad arguments)
                observed = str(step.error) if step.error else (step.observations or "")
            messages.append(Message(role="tool", tool_call_id=call.id, content=observed))
    return messages


def smolagents_agent(ctx: EpisodeContext) -> HarnessResult:
    """Runs a smolagents `ToolCallingAgent` until it gives its final answer."""
    model_endpoint = require_model(ctx, apis=("chat",))
    if isinstance(model_endpoint, HarnessResult):
        return model_endpoint
    try:
        from smolagents import OpenAIServerModel, ToolCallingAgent
        from smolagents.utils import AgentError
    except ImportError:
        return HarnessResult(
            status="error",
            error="the smolagents harness needs smolagents: pip install 'valuegym[smolagents]'",
        )
    from importlib.metadata import version

    deadline = ctx.deadline or time.monotonic() + ctx.config.timeout_s
    book = Bookkeeping()
    model = OpenAIServerModel(
        model_id=model_endpoint.model,
        api_base=model_endpoint.base_url,
        api_key=model_endpoint.api_key(),
        client_kwargs={"max_retries": 4, "timeout": max(1.0, deadline - time.monotonic())},
        temperature=ctx.config.temperature,
        seed=ctx.seed,
    )
    timed_out = False

    def watch(step: Any, agent: Any) -> None:
        nonlocal timed_out
        if book.over_budget:
            agent.interrupt()
        elif time.monotonic() > deadline:
            timed_out = True
            agent.interrupt()

    agent = ToolCallingAgent(
        tools=bound_tools(ctx, book),
        model=model,
        instructions=system_prompt(ctx),
        max_steps=2 * ctx.max_steps + 10,
        step_callbacks=[watch],
        verbosity_level=-1,
        return_full_result=True,
    )
    usage = Usage()
    status: EpisodeStatus = "finished"
    error: str | None = None
    answer: str | None = None
    try:
        result = agent.run(ctx.prompt)
        answer = str(result.output) if result.output is not None else ""
        if result.state == "max_steps_error":
            status, error, answer = "max_steps", "stopped at smolagents' step limit", None
    except AgentError as exc:
        if book.over_budget:
            status, error = "max_steps", f"stopped at the step limit ({ctx.max_steps} tool calls)"
        elif timed_out:
            status, error = "timeout", "episode deadline passed"
        else:
            status, error = "error", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a broken endpoint or session must not lose the transcript
        status, error = "error", f"{type(exc).__name__}: {exc}"
    if book.over_budget and status == "finished":
        status, error, answer = "max_steps", "the session refused a call for the budget", None
    counts = agent.monitor.get_total_token_counts()
    usage.prompt_tokens, usage.completion_tokens = counts.input_tokens, counts.output_tokens
    usage.requests = sum(1 for s in agent.memory.steps if type(s).__name__ == "ActionStep")
    return HarnessResult(
        status=status,
        messages=transcript(ctx, agent, book),
        final_answer=answer,
        error=error,
        usage=usage,
        harness_version=f"smolagents {version('smolagents')}",
    )
