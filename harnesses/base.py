"""The harness contract: a plain function from an episode context to a result.

Harnesses register by name under the `valuegym.harnesses` entry-point group, so a third party
adds one in its own package (`my-harness = "mypkg.agent:run"`) without touching valuegym.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Literal

from pydantic import BaseModel, Field

from envs.protocol import ToolResult, ToolSpec
from envs.sandbox import Session
from envs.task import Task
from harnesses.clients import ModelClients
from harnesses.models import ModelApi, ModelEndpoint
from harnesses.skills import Skill
from trajectories.schema import EpisodeStatus, Message, Usage

ENTRY_POINT_GROUP = "valuegym.harnesses"

PromptStyle = Literal["valuegym", "agent-valuebench"]
HarnessSandbox = Literal["host", "docker"]


class HarnessConfig(BaseModel):
    """Knobs every harness honours; recorded in the run's configuration."""

    max_steps: int | None = Field(default=None, description="Overrides the task's max_steps.")
    timeout_s: float = 600.0
    temperature: float = 0.0
    system_prompt: str | None = None
    prompt_style: PromptStyle = Field(
        default="valuegym",
        description="agent-valuebench: prompts, tool schemas and tool results as the "
        "Agent-ValueBench release's runner presents them, for numbers comparable with its own.",
    )
    harness_sandbox: HarnessSandbox = Field(
        default="host",
        description="Where a CLI harness's own process runs: on the host, or (docker) in a "
        "hardened container that reaches only the model endpoint and the session's agent plane.",
    )


@dataclass
class EpisodeContext:
    """What a harness gets. `task` is there for oracle harnesses; agents use prompt and tools.

    `clients` holds the run's model clients, shared across episodes: take the model client
    from there (`ctx.clients.openai(ctx.model)`) rather than building one per episode.
    """

    task: Task
    session: Session
    config: HarnessConfig
    seed: int
    deadline: float = field(default=0.0)
    model: ModelEndpoint | None = None
    skills: list[Skill] = field(default_factory=list)
    clients: ModelClients = field(default_factory=ModelClients)

    @property
    def prompt(self) -> str:
        return self.task.prompt

    @property
    def tools(self) -> list[ToolSpec]:
        return self.session.tools

    @property
    def max_steps(self) -> int:
        return self.config.max_steps or self.task.max_steps

    def expired(self) -> bool:
        return bool(self.deadline) and time.monotonic() > self.deadline

    def call(self, tool: str, arguments: object) -> ToolResult:
        return self.session.call(tool, arguments)


class HarnessResult(BaseModel):
    status: EpisodeStatus
    messages: list[Message] = Field(default_factory=list)
    final_answer: str | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    harness_version: str | None = Field(
        default=None, description="The agent program's own version (e.g. the Claude Code CLI's)."
    )


Harness = Callable[[EpisodeContext], HarnessResult]

HARNESS_SANDBOXES_ATTRIBUTE = "harness_sandboxes"
"""A harness function lists where its process can run (`("host", "docker")`); unset: host only,
for harnesses that run in the orchestrator's process and execute nothing the model writes."""


def harness_sandboxes(harness: Harness) -> tuple[str, ...]:
    return tuple(getattr(harness, HARNESS_SANDBOXES_ATTRIBUTE, ("host",)))


def require_model(
    ctx: EpisodeContext, apis: tuple[ModelApi, ...] = ("chat",)
) -> ModelEndpoint | HarnessResult:
    """The episode's model endpoint, or an error result saying why there is no usable one
    (none given, its key unset, or it speaks a protocol this harness does not)."""
    if ctx.model is None:
        return HarnessResult(
            status="error",
            error="this harness needs a model endpoint: pass --model NAME "
            "(endpoints are named in valuegym.endpoints.yaml)",
        )
    if ctx.model.api not in apis:
        return HarnessResult(
            status="error",
            error=f"model endpoint {ctx.model.name!r} speaks the {ctx.model.api} API; this "
            f"harness needs an endpoint with api: {' or '.join(apis)}",
        )
    problem = ctx.model.key_problem()
    return HarnessResult(status="error", error=problem) if problem else ctx.model


class UnknownHarness(KeyError):
    def __str__(self) -> str:
        return f"no harness named {self.args[0]!r}; installed: {', '.join(harness_names())}"


def harness_names() -> list[str]:
    return sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))


def get_harness(name: str) -> Harness:
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        return entry.load()
    raise UnknownHarness(name)
