"""The `openai-agents` harness: an OpenAI Agents SDK agent, tools over the session's MCP endpoint.

`pip install 'valuegym[openai-agents]'`. The endpoint's `api` picks the SDK's model class:
`OpenAIResponsesModel` for `responses`, `OpenAIChatCompletionsModel` for `chat`. Tools come from
the session's MCP endpoint through the SDK's own `MCPServerStreamableHttp`, so the agent sees
them the way a deployed Agents SDK app would. Tracing is off for the whole process
(`set_tracing_disabled`, as well as per run), so the SDK never starts its exporter: nothing
leaves the machine and nothing is logged about a missing tracing key.

The run ends `max_steps` at the session's first budget refusal (the MCP client raises there and
the SDK stops), `timeout` at the deadline, and `error` with the reason for anything else.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from envs.protocol import ToolResult
from harnesses.base import EpisodeContext, HarnessResult, require_model
from harnesses.prompts import system_prompt
from harnesses.scripted.wire_responses import input_messages
from trajectories.schema import EpisodeStatus, Message, Usage

MCP_TIMEOUT_S = 60.0


class BudgetExhausted(Exception):
    """The session refused a call for the budget: the run stops here."""


def _over_budget(result: Any) -> str | None:
    structured = getattr(result, "structured_content", None) or getattr(
        result, "structuredContent", None
    )
    if not isinstance(structured, dict):
        return None
    try:
        parsed = ToolResult.model_validate(structured)
    except ValueError:
        return None
    return parsed.error if parsed.over_budget else None


def _budget_cause(exc: BaseException) -> BudgetExhausted | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BudgetExhausted):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def transcript(ctx: EpisodeContext, items: list[Any]) -> list[Message]:
    """The system prompt, the task prompt and the run's items as trajectory messages."""
    opening = [
        Message(role="system", content=system_prompt(ctx)),
        Message(role="user", content=ctx.prompt),
    ]
    converted = []
    for item in items:
        with_input = getattr(item, "to_input_item", None)
        if with_input is None:
            continue
        raw = with_input()
        converted.append(raw if isinstance(raw, dict) else json.loads(json.dumps(raw, default=str)))
    return opening + input_messages(converted)


async def _run(ctx: EpisodeContext, model_endpoint: Any, deadline: float) -> HarnessResult:
    import openai
    from agents import Agent, ModelSettings, RunConfig, Runner, set_tracing_disabled
    from agents.exceptions import AgentsException, MaxTurnsExceeded
    from agents.mcp import MCPServerStreamableHttp
    from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
    from agents.models.openai_responses import OpenAIResponsesModel

    class SessionTools(MCPServerStreamableHttp):
        """The session's MCP endpoint; a budget refusal stops the run."""

        async def call_tool(self, tool_name, arguments, meta=None):  # type: ignore[no-untyped-def]
            result = await super().call_tool(tool_name, arguments, meta)
            reason = _over_budget(result)
            if reason:
                raise BudgetExhausted(reason)
            return result

    set_tracing_disabled(True)  # valuegym's process: no trace is ever made or exported
    session = ctx.session
    client = openai.AsyncOpenAI(
        base_url=model_endpoint.base_url, api_key=model_endpoint.api_key(), max_retries=4
    )
    if model_endpoint.api == "responses":
        model: Any = OpenAIResponsesModel(model=model_endpoint.model, openai_client=client)
        settings = ModelSettings(temperature=ctx.config.temperature)
    else:
        model = OpenAIChatCompletionsModel(model=model_endpoint.model, openai_client=client)
        settings = ModelSettings(temperature=ctx.config.temperature, extra_args={"seed": ctx.seed})
    server = SessionTools(
        name=session.mcp_name,
        params={
            "url": session.mcp_url,
            "headers": {"Authorization": f"Bearer {session.agent_token}"},
            "timeout": MCP_TIMEOUT_S,
        },
        cache_tools_list=True,
        client_session_timeout_seconds=MCP_TIMEOUT_S,
        failure_error_function=None,  # a raising call ends the run instead of going to the model
    )
    items: list[Any] = []
    usage = Usage()

    def ended(status: EpisodeStatus, error: str | None = None, answer: str | None = None):
        return HarnessResult(
            status=status,
            messages=transcript(ctx, items),
            final_answer=answer,
            error=error,
            usage=usage,
            harness_version=_version(),
        )

    def count(wrapper: Any) -> None:
        used = getattr(wrapper, "usage", None)
        if used is not None:
            usage.requests = used.requests
            usage.prompt_tokens = used.input_tokens
            usage.completion_tokens = used.output_tokens

    try:
        async with server:
            agent = Agent(
                name="assistant",
                instructions=system_prompt(ctx),
                model=model,
                model_settings=settings,
                mcp_servers=[server],
            )
            remaining = deadline - time.monotonic()
            result = await asyncio.wait_for(
                Runner.run(
                    agent,
                    ctx.prompt,
                    max_turns=2 * ctx.max_steps + 10,
                    run_config=RunConfig(tracing_disabled=True),
                ),
                timeout=max(0.001, remaining),
            )
            items = list(result.new_items)
            count(result.context_wrapper)
            answer = result.final_output if isinstance(result.final_output, str) else None
            return ended("finished", answer=answer or "")
    except TimeoutError:
        return ended("timeout", "episode deadline passed")
    except MaxTurnsExceeded as exc:
        _keep(exc, items, count)
        return ended("max_steps", f"the Agents SDK's turn limit: {exc}")
    except AgentsException as exc:
        _keep(exc, items, count)
        budget = _budget_cause(exc)
        if budget is not None:
            return ended("max_steps", f"stopped at the step limit ({ctx.max_steps} tool calls)")
        return ended("error", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a broken endpoint or session must not lose the transcript
        budget = _budget_cause(exc)
        if budget is not None:
            return ended("max_steps", f"stopped at the step limit ({ctx.max_steps} tool calls)")
        return ended("error", f"{type(exc).__name__}: {exc}")
    finally:
        await client.close()


def _keep(exc: Any, items: list[Any], count: Any) -> None:
    details = getattr(exc, "run_data", None)
    if details is not None:
        items.extend(details.new_items)
        count(details.context_wrapper)


def _version() -> str:
    from importlib.metadata import version

    return f"openai-agents {version('openai-agents')}"


def openai_agents(ctx: EpisodeContext) -> HarnessResult:
    """Runs an OpenAI Agents SDK agent until it answers, on a chat or responses endpoint."""
    model = require_model(ctx, apis=("responses", "chat"))
    if isinstance(model, HarnessResult):
        return model
    if not ctx.session.mcp_url or not ctx.session.agent_token:
        return HarnessResult(
            status="error",
            error="openai-agents reaches the tools over MCP: run it with --sandbox process or "
            "docker",
        )
    try:
        import agents  # noqa: F401
    except ImportError:
        return HarnessResult(
            status="error",
            error="the openai-agents harness needs the OpenAI Agents SDK: "
            "pip install 'valuegym[openai-agents]'",
        )
    deadline = ctx.deadline or time.monotonic() + ctx.config.timeout_s
    return asyncio.run(_run(ctx, model, deadline))
