"""The OpenAI Responses wire format (`POST /v1/responses`), streaming or not, with function calls.

A request's `instructions` and `input` items map onto the OpenAI-shaped conversation policies
read: messages keep their role, `function_call` items become assistant tool calls and
`function_call_output` items tool messages. Only what the scripted server needs is modelled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from envs.protocol import ToolSpec
from harnesses.scripted.conversation import Reply, WireModel, estimate_tokens, stream_pieces
from trajectories.schema import Message, MessageToolCall


class ResponsesTool(WireModel):
    type: str = "function"
    name: str = ""
    description: str | None = ""
    parameters: dict[str, Any] | None = Field(default_factory=dict)


class ResponsesRequest(WireModel):
    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[ResponsesTool] | None = None
    stream: bool = False
    seed: int | None = None


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(
        str(part.get("text", ""))
        for part in content
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text")
    )


def input_messages(items: str | list[dict[str, Any]]) -> list[Message]:
    """Responses input items as trajectory messages: messages keep their role, `function_call`
    items become assistant tool calls and `function_call_output` items tool messages."""
    messages: list[Message] = []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role", "user")
            role = "system" if role == "developer" else role
            if role in ("system", "user", "assistant"):
                messages.append(Message(role=role, content=_text(item.get("content"))))
        elif kind == "function_call":
            call = MessageToolCall(
                id=str(item.get("call_id", "")),
                name=str(item.get("name", "")),
                arguments=str(item.get("arguments", "")),
            )
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and last.tool_calls:
                last.tool_calls.append(call)  # parallel calls of one turn arrive as items
            elif last is not None and last.role == "assistant" and last.content is not None:
                last.tool_calls.append(call)  # text, then calls, of one turn
            else:
                messages.append(Message(role="assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                Message(
                    role="tool",
                    tool_call_id=str(item.get("call_id", "")),
                    content=output if isinstance(output, str) else _text(output),
                )
            )
    return messages


def conversation_parts(request: ResponsesRequest) -> tuple[list[Message], list[ToolSpec]]:
    """The request's instructions and input items as trajectory messages, and its tools."""
    messages: list[Message] = []
    if request.instructions:
        messages.append(Message(role="system", content=request.instructions))
    messages += input_messages(request.input)
    tools = [
        ToolSpec(name=t.name, description=t.description or "", parameters=t.parameters or {})
        for t in request.tools or []
        if t.type == "function"
    ]
    return messages, tools


def _usage(reply: Reply, prompt_tokens: int) -> dict[str, Any]:
    output = estimate_tokens(
        (reply.text or "") + "".join(c.name + c.arguments for c in reply.tool_calls)
    )
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt_tokens + output,
    }


def output_items(reply: Reply, response_id: str, turn: int) -> list[dict[str, Any]]:
    """The reply as completed output items: a message (if it has text), then function calls."""
    items: list[dict[str, Any]] = []
    if reply.text:
        items.append(
            {
                "type": "message",
                "id": f"msg_{response_id}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{response_id}_{i}",
                "call_id": f"call_{turn}_{i}",
                "name": call.name,
                "arguments": call.arguments,
                "status": "completed",
            }
        )
    return items


def response(
    reply: Reply,
    model: str,
    response_id: str,
    turn: int,
    prompt_tokens: int,
    status: str = "completed",
) -> dict[str, Any]:
    """A non-streaming `response` object."""
    done = status == "completed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output_items(reply, response_id, turn) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": None,
        "top_p": None,
        "usage": _usage(reply, prompt_tokens) if done else None,
    }


def stream(
    reply: Reply, model: str, response_id: str, turn: int, prompt_tokens: int
) -> Iterator[str]:
    """The same response as the Responses API's server-sent events."""
    sequence = 0

    def event(name: str, body: dict[str, Any]) -> str:
        nonlocal sequence
        sequence += 1
        payload = {"type": name, "sequence_number": sequence - 1, **body}
        return f"event: {name}\ndata: {json.dumps(payload)}\n\n"

    pending = response(reply, model, response_id, turn, prompt_tokens, status="in_progress")
    yield event("response.created", {"response": pending})
    yield event("response.in_progress", {"response": pending})
    for index, item in enumerate(output_items(reply, response_id, turn)):
        head = {"output_index": index}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            yield event("response.output_item.added", {**head, "item": {**item, "content": []}})
            part = {"item_id": item["id"], **head, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": []}
            yield event("response.content_part.added", {**part, "part": empty})
            for piece in stream_pieces(text):
                yield event("response.output_text.delta", {**part, "delta": piece})
            yield event("response.output_text.done", {**part, "text": text})
            yield event("response.content_part.done", {**part, "part": item["content"][0]})
        else:
            yield event("response.output_item.added", {**head, "item": {**item, "arguments": ""}})
            part = {"item_id": item["id"], **head}
            for piece in stream_pieces(item["arguments"]):
                yield event("response.function_call_arguments.delta", {**part, "delta": piece})
            yield event(
                "response.function_call_arguments.done", {**part, "arguments": item["arguments"]}
            )
        yield event("response.output_item.done", {**head, "item": item})
    done = response(reply, model, response_id, turn, prompt_tokens)
    yield event("response.completed", {"response": done})
