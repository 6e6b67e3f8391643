"""The OpenAI Chat Completions wire format: requests in, completions and SSE chunks out.

Only the fields the scripted server needs are modelled; the rest of a request is accepted and
ignored (`extra="allow"`), as a real server would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from envs.protocol import ToolSpec
from harnesses.scripted.conversation import Reply, WireModel, estimate_tokens, stream_pieces
from trajectories.schema import Message, MessageToolCall


class FunctionDef(WireModel):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class ToolDef(WireModel):
    type: Literal["function"] = "function"
    function: FunctionDef


class CalledFunction(WireModel):
    name: str
    arguments: str = ""


class ToolCallIn(WireModel):
    id: str
    type: str = "function"
    function: CalledFunction


class ChatMessage(WireModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class ChatRequest(WireModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    seed: int | None = None


def _text(content: str | list[dict[str, Any]] | None) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


def conversation_parts(request: ChatRequest) -> tuple[list[Message], list[ToolSpec]]:
    """The request's messages in the trajectory's shape and the tools it offers."""
    messages = [
        Message(
            role="system" if m.role == "developer" else m.role,
            content=_text(m.content),
            tool_calls=[
                MessageToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                for c in m.tool_calls or []
            ],
            tool_call_id=m.tool_call_id,
        )
        for m in request.messages
    ]
    tools = [
        ToolSpec(
            name=t.function.name,
            description=t.function.description,
            parameters=t.function.parameters,
        )
        for t in request.tools or []
    ]
    return messages, tools


def call_id(turn: int, index: int) -> str:
    return f"call_{turn}_{index}"


def _usage(reply: Reply, prompt_tokens: int) -> dict[str, int]:
    completion = estimate_tokens(
        (reply.text or "") + "".join(c.name + c.arguments for c in reply.tool_calls)
    )
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }


def completion(
    reply: Reply, model: str, response_id: str, turn: int, prompt_tokens: int
) -> dict[str, Any]:
    """A non-streaming `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id(turn, i),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(reply, prompt_tokens),
    }


def stream(
    reply: Reply,
    model: str,
    response_id: str,
    turn: int,
    prompt_tokens: int,
    include_usage: bool,
) -> Iterator[str]:
    """The same completion as server-sent events, split into small deltas as a real server does."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if reply.text:
        for piece in stream_pieces(reply.text):
            yield chunk({"content": piece})
    for i, call in enumerate(reply.tool_calls):
        head = {"index": i, "id": call_id(turn, i), "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        for piece in stream_pieces(call.arguments):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        body = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _usage(reply, prompt_tokens),
        }
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "code": None, "param": None}}
