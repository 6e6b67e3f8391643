"""Running a model's tool calls through the session, shared by every model-driven harness.

One place decides how malformed arguments are answered, when a model that keeps emitting calls
that cannot run is given up on, and that the episode ends `max_steps` when the session refuses a
call for the budget (the environment enforces it), so react and LangGraph episodes end the same
way for the same model behaviour and produce the same server-side tool log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from envs.protocol import ToolResult
from harnesses.base import EpisodeContext
from harnesses.prompts import tool_content
from trajectories.schema import EpisodeStatus, Message, MessageToolCall

MAX_UNRUNNABLE_TURNS = 3
PROTOCOL_ERRORS = frozenset({"unknown_tool", "refused"})


@dataclass(frozen=True)
class Ending:
    status: EpisodeStatus
    reason: str


def parse_arguments(name: str, raw: str) -> dict | ToolResult:
    """The call's arguments as an object, or an error result that tells the model what to fix."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ToolResult.failure(
            "invalid_arguments",
            f"the arguments of {name} are not valid JSON ({exc.msg} at position {exc.pos}); "
            "call the tool again with a JSON object matching its parameters",
        )
    if not isinstance(value, dict):
        return ToolResult.failure(
            "invalid_arguments",
            f"the arguments of {name} must be a JSON object, got {type(value).__name__}; "
            "call the tool again with a JSON object matching its parameters",
        )
    return value


def budget_ending(ctx: EpisodeContext) -> Ending:
    return Ending("max_steps", f"stopped at the step limit ({ctx.max_steps} tool calls)")


@dataclass
class ToolLoop:
    """Per-episode bookkeeping: tool calls sent (the step count) and unrunnable-turn streaks."""

    ctx: EpisodeContext
    steps: int = 0
    streak: int = 0
    last_problem: str = field(default="")

    def run_turn(self, calls: list[MessageToolCall]) -> tuple[list[Message], Ending | None]:
        """Execute one assistant turn's calls in order; the tool messages and, maybe, an end."""
        messages: list[Message] = []
        unrunnable = True
        for call in calls:
            if self.ctx.expired():
                return messages, Ending("timeout", "episode deadline passed")
            self.steps += 1
            arguments = parse_arguments(call.name, call.arguments)
            malformed = isinstance(arguments, ToolResult)
            result = arguments if malformed else self.ctx.call(call.name, arguments)
            is_protocol_error = malformed or result.error_kind in PROTOCOL_ERRORS
            if is_protocol_error:
                self.last_problem = f"{call.name}: {result.error}"
            unrunnable = unrunnable and is_protocol_error
            messages.append(
                Message(
                    role="tool",
                    tool_call_id=call.id,
                    content=tool_content(result, self.ctx.config.prompt_style),
                )
            )
            if result.over_budget:
                return messages, budget_ending(self.ctx)
        self.streak = self.streak + 1 if unrunnable else 0
        if self.streak >= MAX_UNRUNNABLE_TURNS:
            reason = (
                f"the model sent tool calls that could not run {self.streak} turns in a row "
                f"(last: {self.last_problem})"
            )
            return messages, Ending("error", reason)
        return messages, None
