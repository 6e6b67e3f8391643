"""Wire models shared by environments, sandboxes, harnesses and trajectories.

The same pydantic models are used on both sides of every boundary (in-process calls, the
sandbox server's HTTP API, the journal on disk), so a tool call means one thing everywhere.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ToolSpec(BaseModel):
    """A tool as an agent sees it: the OpenAI function-calling shape."""

    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> dict[str, Any]:
        return {"type": "function", "function": self.model_dump()}


class ToolCall(BaseModel):
    """An action: one call of one tool."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


ErrorKind = Literal[
    "refused", "unknown_tool", "invalid_arguments", "tool_error", "internal", "budget_exhausted"
]
BUDGET_EXHAUSTED: ErrorKind = "budget_exhausted"
"""The error of a call past the episode's tool-call budget: refused, logged, never run."""

MAX_ARGUMENT_BYTES = 1 << 20
"""The largest tool-call arguments (as JSON) an environment is given, on every backend."""

TOO_LARGE = "__too_large__"
"""The key of the stand-in for arguments over the limit (its value: their size in bytes)."""


def bounded_arguments(arguments: Any, limit: int = MAX_ARGUMENT_BYTES) -> Any:
    """`arguments`, or, when their JSON is over `limit` bytes, a small stand-in that says so:
    the environment never sees them, the call fails as `invalid_arguments`, and the tool log
    keeps their size instead of megabytes an agent may have sent to exhaust the sandbox."""
    try:
        size = len(json.dumps(arguments))
    except (TypeError, ValueError):
        return arguments
    return arguments if size <= limit else {TOO_LARGE: size, "limit": limit}


KEEP_ALIVE_S = 75
"""How long valuegym's HTTP servers (the sandbox server; the loopback servers: the scripted model
server, the viewer) keep an idle connection open: longer than the idle expiry of the client
pools that talk to them (httpx and httpx2 5 s, Node's undici 4 s, aiohttp 15 s; 75 s is nginx's
default), so an idle connection is always retired by its client, never closed by the server
just as the client reuses it. With equal timeouts (uvicorn's 5 s against httpx2's 5 s) that race
loses the request: the MCP client does not retry, so its session ends "Connection closed"; a
relay in between (the docker sandbox's, a harness container's) and a loaded machine widen it."""


DEFAULT_MCP_NAME = "tools"
"""The name the MCP endpoint gives itself and harnesses give it: neutral, the same everywhere."""


class ToolResult(BaseModel):
    """What the agent gets back. Errors are results, never exceptions, so agents can recover."""

    ok: bool
    data: Any = None
    error: str | None = None
    error_kind: ErrorKind | None = None

    @classmethod
    def success(cls, data: Any) -> ToolResult:
        return cls(ok=True, data=data)

    @classmethod
    def failure(cls, kind: ErrorKind, message: str) -> ToolResult:
        return cls(ok=False, error=message, error_kind=kind)

    @property
    def over_budget(self) -> bool:
        return self.error_kind == BUDGET_EXHAUSTED

    def agent_text(self) -> str:
        """The result as every agent sees it, whatever the harness or transport (HTTP, MCP,
        shell): this object as compact JSON, `{"ok": true, "data": ...}` or
        `{"ok": false, "error": "...", "error_kind": "..."}`."""
        return self.model_dump_json(exclude_none=True)


class ToolLogEntry(BaseModel):
    """The environment's own record of one call: the authoritative evidence of what happened."""

    step: int
    tool: str
    arguments: dict[str, Any] = Field(description="As the agent sent them.")
    normalized: dict[str, Any] | None = Field(
        default=None, description="As the tool received them: validated, defaults filled in."
    )
    result: ToolResult
    state_changed: bool
    refused: bool = Field(
        default=False,
        description="Not run: the tool is outside the allow-list or the budget was used up.",
    )
    clock: str = Field(description="The seeded clock's time when the call ran.")


class Finalized(BaseModel):
    """A session's end: what the world looks like now and how it got there."""

    final_state: dict[str, Any]
    state_diff: list[dict[str, Any]]
    tool_log: list[ToolLogEntry]
