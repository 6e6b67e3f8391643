"""The `react` harness: a native function-calling loop on the official OpenAI client.

Each turn sends the whole conversation and the task's tool definitions; tool calls run through
the session (so any sandbox backend works) and their results go back as tool messages, until
the model answers without a tool call. Every end is recorded: finished, max_steps, timeout or
error, with the transcript so far.
"""

from __future__ import annotations

import time
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from harnesses.base import EpisodeContext, HarnessResult, require_model
from harnesses.models import ModelEndpoint
from harnesses.prompts import system_prompt, tool_definitions
from harnesses.retry import ModelCallFailed, ModelCallTimeout, call_model
from harnesses.tool_loop import ToolLoop
from trajectories.schema import EpisodeStatus, Message, MessageToolCall, Usage


def wire_message(message: Message) -> dict[str, Any]:
    """A trajectory message in the Chat Completions request shape."""
    body: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        body["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        body["tool_call_id"] = message.tool_call_id
    return body


def opening_messages(ctx: EpisodeContext) -> list[Message]:
    return [
        Message(role="system", content=system_prompt(ctx)),
        Message(role="user", content=ctx.prompt),
    ]


def episode_deadline(ctx: EpisodeContext) -> float:
    return ctx.deadline or time.monotonic() + ctx.config.timeout_s


def _complete(
    client: openai.OpenAI,
    ctx: EpisodeContext,
    model: ModelEndpoint,
    messages: list[Message],
    tools: list[dict[str, Any]],
    timeout: float,
) -> ChatCompletion:
    """One Chat Completions request, posted as built.

    `chat.completions.create` would first walk the whole conversation and every tool schema
    against the SDK's typed parameter definitions (a no-op for this plain JSON, but most of
    the orchestrator's CPU per turn); the body here is already in the wire shape. The SDK
    still sends it, applies the timeout and parses the reply. The idempotency key (the SDK
    would draw a uuid4 per request) names the episode and turn.
    """
    body: dict[str, Any] = {
        "model": model.model,
        "messages": [wire_message(m) for m in messages],
        "temperature": ctx.config.temperature,
        "seed": ctx.seed,
    }
    if tools:
        body["tools"] = tools
    key = f"valuegym-{ctx.seed}-{len(messages)}"
    return client.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletion,
        options={"timeout": timeout, "idempotency_key": key},
    )


def react(ctx: EpisodeContext) -> HarnessResult:
    """Runs the model in a tool-calling loop until it answers without calling a tool."""
    model = require_model(ctx)
    if isinstance(model, HarnessResult):
        return model
    deadline = episode_deadline(ctx)
    tools = tool_definitions(ctx)
    messages = opening_messages(ctx)
    usage = Usage()
    loop = ToolLoop(ctx)

    def ended(
        status: EpisodeStatus, error: str | None = None, answer: str | None = None
    ) -> HarnessResult:
        return HarnessResult(
            status=status, messages=messages, final_answer=answer, error=error, usage=usage
        )

    try:
        client = ctx.clients.openai(model)
        while True:
            response = call_model(
                lambda timeout: _complete(client, ctx, model, messages, tools, timeout),
                deadline,
            )
            usage.requests += 1
            if response.usage:
                usage.prompt_tokens += response.usage.prompt_tokens
                usage.completion_tokens += response.usage.completion_tokens
            if not response.choices:
                return ended("error", "the model endpoint returned no choices")
            reply = response.choices[0].message
            calls = [
                MessageToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in reply.tool_calls or []
                if c.type == "function"
            ]
            messages.append(Message(role="assistant", content=reply.content, tool_calls=calls))
            if not calls:
                return ended("finished", answer=reply.content or "")
            results, ending = loop.run_turn(calls)
            messages.extend(results)
            if ending is not None:
                return ended(ending.status, ending.reason)
    except ModelCallTimeout as exc:
        return ended("timeout", str(exc))
    except ModelCallFailed as exc:
        return ended("error", str(exc))
    except Exception as exc:  # a broken endpoint or session must not lose the transcript
        return ended("error", f"{type(exc).__name__}: {exc}")
