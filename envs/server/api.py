"""The sandbox server's HTTP API models, used by the server and its client alike.

Tool specs, results, log entries and `Finalized` come from `envs.protocol`; this module holds only
the envelopes the control plane adds around them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envs.protocol import DEFAULT_MCP_NAME, ToolSpec
from envs.task import Task

CONTROL_DIGEST_ENV = "VALUEGYM_CONTROL_TOKEN_SHA256"
"""The environment variable that hands the server the SHA-256 of its control token. The server
never learns the token itself, so nothing in its environment (which processes in a container can
read from `/proc`) or its memory lets environment code use the control plane. Never a command
line flag, which other local users could read from the process table."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OpenSession(BaseModel):
    """Control plane: start one episode of `task` with `seed`."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    seed: int
    lease_s: float | None = Field(
        default=None, gt=0, description="Idle seconds before the session is reclaimed."
    )


class ResetSession(BaseModel):
    """Control plane: start the episode again from the task's initial state."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, description="Keep the session's seed when omitted.")


class SessionOpened(BaseModel):
    """What the orchestrator gets for a new (or reset) session; it hands the agent part on."""

    session_id: str
    agent_token: str
    tools: list[ToolSpec]
    lease_s: float
    mcp_name: str = Field(
        default=DEFAULT_MCP_NAME,
        description="What the MCP endpoint calls itself; harnesses name it the same.",
    )


class AgentCall(BaseModel):
    """Agent plane: one tool call.

    Unlike `envs.protocol.ToolCall`, `arguments` takes any JSON: a malformed call from an agent
    must reach the environment, be logged and come back as an `invalid_arguments` result, exactly
    as it does in-process.
    """

    tool: str
    arguments: Any = Field(default_factory=dict)


class Health(BaseModel):
    status: str = "ok"
    version: str
    sessions: int
    environments: list[str]
    uptime_s: float
    idle_exit_s: float | None


class ApiError(BaseModel):
    """Every non-2xx answer of the server has this body."""

    error: str
    detail: str
