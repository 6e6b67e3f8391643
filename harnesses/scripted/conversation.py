"""What a scripted policy sees and says, independent of the wire protocol that carried it.

Both wire adapters (OpenAI, Anthropic) turn a request into a `Conversation` and a policy's
`Reply` back into their own response shape, so a policy is written once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envs.protocol import ToolSpec
from envs.task import Task
from trajectories.schema import Message


@dataclass(frozen=True)
class Conversation:
    """A chat request as a policy sees it: messages in OpenAI's shape plus what the server knows.

    `task` is the loaded task whose prompt is the first user message (None when none matches);
    `attempt` counts earlier identical requests, so fault policies can fail in bursts.
    """

    policy: str
    param: str | None
    messages: list[Message]
    tools: list[ToolSpec]
    task: Task | None = None
    seed: int | None = None
    attempt: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str | None:
        return next((m.content for m in self.messages if m.role == "user"), None)

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation holds: the policy's position in its script.

        Counted by assistant messages, not tool results, so harnesses that send a tool's output
        back as plain text (or as a user message) keep their place in the script too.
        """
        return sum(1 for m in self.messages if m.role == "assistant")

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]


class ScriptedCall(BaseModel):
    name: str
    arguments: str = Field(description="Raw JSON text; fault policies make it malformed.")


class Reply(BaseModel):
    """A policy's answer: text and/or tool calls, or an HTTP error, optionally after a delay."""

    text: str | None = None
    tool_calls: list[ScriptedCall] = Field(default_factory=list)
    status: int = 200
    error: str | None = None
    retry_after_s: float | None = None
    delay_s: float = 0.0

    @classmethod
    def failure(cls, status: int, message: str, retry_after_s: float | None = None) -> Reply:
        return cls(status=status, error=message, retry_after_s=retry_after_s)


Policy = Callable[[Conversation], Reply]


class PolicyError(ValueError):
    """A request the policy cannot serve (no matching task, a bad parameter): an HTTP 400."""


NAMESPACE_SEPARATORS = ("_", ".", "-", "/", ":")


def offered_name(name: str, offered: list[str]) -> str:
    """The offered tool a scripted call of `name` means.

    Harnesses namespace the tools they offer (Claude Code calls an MCP tool
    `mcp__<server>__<tool>`), so a call is matched to the offered tool that ends in its name
    after a separator, preferring the prefix most offered tools share (the namespace). A name
    with no such match is left alone: fault policies call tools nobody offered on purpose.
    """
    if name in offered:
        return name
    prefixes = {
        tool: tool[: -len(name)]
        for tool in offered
        if len(tool) > len(name)
        and tool.endswith(name)
        and tool[-len(name) - 1] in NAMESPACE_SEPARATORS
    }
    if not prefixes:
        return name
    shared = {tool: sum(o.startswith(p) for o in offered) for tool, p in prefixes.items()}
    best = max(shared.values())
    winners = [tool for tool, count in shared.items() if count == best]
    return winners[0] if len(winners) == 1 else name


def split_model(model: str) -> tuple[str, str | None]:
    """`fault-http-500:2` -> (`fault-http-500`, `2`): a policy name and its optional parameter."""
    name, _, param = model.partition(":")
    return name, (param or None)


def normalise_prompt(text: str) -> str:
    return " ".join(text.split())


def estimate_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters a token."""
    return max(1, len(text) // 4) if text else 0


class WireModel(BaseModel):
    """A request body on the wire: unknown fields are kept, since clients send many we ignore."""

    model_config = ConfigDict(extra="allow")


STREAM_CHUNK_CHARS = 24


def stream_pieces(text: str) -> list[str]:
    """Text cut into the small pieces a streamed reply sends one event at a time."""
    return [text[i : i + STREAM_CHUNK_CHARS] for i in range(0, len(text), STREAM_CHUNK_CHARS)]
