"""The Anthropic Messages wire format, for CLI harnesses that speak it.

Content blocks map onto the OpenAI-shaped conversation policies read: `tool_use` blocks become
assistant tool calls and `tool_result` blocks become tool messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from envs.protocol import ToolSpec
from harnesses.scripted.conversation import Reply, WireModel, estimate_tokens, stream_pieces
from trajectories.schema import Message, MessageToolCall


class AnthropicTool(WireModel):
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)


class AnthropicMessage(WireModel):
    role: Literal["user", "assistant", "system"]
    content: str | list[dict[str, Any]]


class CountTokensRequest(WireModel):
    """`POST /v1/messages/count_tokens`: a Messages request without the generation settings."""

    model: str
    system: str | list[dict[str, Any]] | None = None
    messages: list[AnthropicMessage] = Field(default_factory=list)
    tools: list[AnthropicTool] | None = None


class MessagesRequest(CountTokensRequest):
    max_tokens: int = 1024
    messages: list[AnthropicMessage] = Field(min_length=1)
    stream: bool = False


def _blocks_text(blocks: str | list[dict[str, Any]] | None) -> str:
    if blocks is None:
        return ""
    if isinstance(blocks, str):
        return blocks
    return "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def conversation_parts(request: CountTokensRequest) -> tuple[list[Message], list[ToolSpec]]:
    """The request as OpenAI-shaped messages and the tools it offers."""
    messages: list[Message] = []
    if request.system:
        messages.append(Message(role="system", content=_blocks_text(request.system)))
    for m in request.messages:
        blocks = [{"type": "text", "text": m.content}] if isinstance(m.content, str) else m.content
        if m.role == "system":  # Claude Code sends context as a system turn in `messages`
            messages.append(Message(role="system", content=_blocks_text(blocks)))
            continue
        if m.role == "assistant":
            calls = [
                MessageToolCall(id=b["id"], name=b["name"], arguments=json.dumps(b.get("input")))
                for b in blocks
                if b.get("type") == "tool_use"
            ]
            messages.append(
                Message(role="assistant", content=_blocks_text(blocks) or None, tool_calls=calls)
            )
            continue
        for b in blocks:
            if b.get("type") == "tool_result":
                content = b.get("content")
                text = content if isinstance(content, str) else _blocks_text(content)
                messages.append(
                    Message(role="tool", tool_call_id=b.get("tool_use_id"), content=text)
                )
        text = _blocks_text(blocks)
        if text:
            messages.append(Message(role="user", content=text))
    tools = [
        ToolSpec(name=t.name, description=t.description, parameters=t.input_schema)
        for t in request.tools or []
    ]
    return messages, tools


def tool_use_id(turn: int, index: int) -> str:
    return f"toolu_{turn}_{index}"


def _input(arguments: str) -> Any:
    """The call's input object; malformed arguments are passed on as the raw text."""
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments


def _output_tokens(reply: Reply) -> int:
    return estimate_tokens(
        (reply.text or "") + "".join(c.name + c.arguments for c in reply.tool_calls)
    )


def message(
    reply: Reply, model: str, response_id: str, turn: int, prompt_tokens: int
) -> dict[str, Any]:
    """A non-streaming `message` object."""
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": tool_use_id(turn, i),
                "name": call.name,
                "input": _input(call.arguments),
            }
        )
    return {
        "id": response_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": _output_tokens(reply)},
    }


def _event(name: str, body: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **body})}\n\n"


def stream(
    reply: Reply, model: str, response_id: str, turn: int, prompt_tokens: int
) -> Iterator[str]:
    """The same message as the Messages API's server-sent events."""
    start = message(Reply(), model, response_id, turn, prompt_tokens)
    start.update(content=[], stop_reason=None)
    start["usage"]["output_tokens"] = 0
    yield _event("message_start", {"message": start})
    index = 0
    if reply.text:
        yield _event(
            "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}
        )
        for piece in stream_pieces(reply.text):
            yield _event(
                "content_block_delta",
                {"index": index, "delta": {"type": "text_delta", "text": piece}},
            )
        yield _event("content_block_stop", {"index": index})
        index += 1
    for i, call in enumerate(reply.tool_calls):
        block = {"type": "tool_use", "id": tool_use_id(turn, i), "name": call.name, "input": {}}
        yield _event("content_block_start", {"index": index, "content_block": block})
        for piece in stream_pieces(call.arguments):
            yield _event(
                "content_block_delta",
                {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
            )
        yield _event("content_block_stop", {"index": index})
        index += 1
    stop = "tool_use" if reply.tool_calls else "end_turn"
    yield _event(
        "message_delta",
        {
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": _output_tokens(reply)},
        },
    )
    yield _event("message_stop", {})


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
