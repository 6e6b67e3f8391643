"""The trajectory: one record per episode, whatever its end. Every later feature reads this."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from envs.protocol import ToolLogEntry, ToolSpec

EpisodeStatus = Literal["finished", "max_steps", "error", "timeout"]
STATUSES: tuple[EpisodeStatus, ...] = ("finished", "max_steps", "error", "timeout")
SCHEMA_VERSION = 1


class MessageToolCall(BaseModel):
    """A tool call as the model emitted it; `arguments` is the raw text, malformed or not."""

    id: str
    name: str
    arguments: str


class Message(BaseModel):
    """One chat message in OpenAI's shape (system, user, assistant or tool)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[MessageToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None


class Usage(BaseModel):
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Trajectory(BaseModel):
    """An episode: who ran what, how it ended, every message, and the server's tool log."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    episode_id: str
    task_id: str
    sample: int
    seed: int
    harness: str
    harness_version: str | None = Field(
        default=None, description="The agent program's own version, where it has one."
    )
    model: str | None = None
    skills: list[str] = Field(
        default_factory=list, description="Active skills as `name@content-hash` (12 hex digits)."
    )
    value_system: str
    values: dict[Literal["a", "b"], str] = Field(description="The values as presented: A first.")
    swapped: bool = Field(default=False, description="Poles exchanged for counterbalancing.")
    condition: Literal["agent", "choice"] = Field(
        default="agent",
        description="agent: the task with its tools; choice: asked as a two-option question.",
    )
    status: EpisodeStatus
    error: str | None = None
    started_at: str
    duration_s: float
    tools: list[ToolSpec] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    final_answer: str | None = None
    tool_log: list[ToolLogEntry] = Field(default_factory=list)
    final_state: dict[str, Any] = Field(default_factory=dict)
    state_diff: list[dict[str, Any]] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.sample)


def episode_id(task_id: str, sample: int) -> str:
    return f"{task_id}#{sample}"
