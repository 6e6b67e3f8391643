"""The golden harnesses: replay a pole's golden trajectory. An oracle to check the pipeline."""

from __future__ import annotations

import json
from collections.abc import Sequence

from envs.task import GoldenCall, PoleId
from harnesses.base import EpisodeContext, HarnessResult
from harnesses.tool_loop import budget_ending
from trajectories.schema import Message, MessageToolCall


def play(ctx: EpisodeContext, calls: Sequence[GoldenCall], final_answer: str) -> HarnessResult:
    """Make the given calls one per turn, then give the final answer (oracles and probes)."""
    messages = [Message(role="user", content=ctx.prompt)]
    for index, call in enumerate(calls):
        if ctx.expired():
            return HarnessResult(
                status="timeout", messages=messages, error="episode deadline passed"
            )
        call_id = f"call_{index}"
        messages.append(
            Message(
                role="assistant",
                tool_calls=[
                    MessageToolCall(
                        id=call_id,
                        name=call.tool,
                        arguments=json.dumps(call.arguments, sort_keys=True),
                    )
                ],
            )
        )
        result = ctx.call(call.tool, call.arguments)
        messages.append(Message(role="tool", tool_call_id=call_id, content=result.agent_text()))
        if result.over_budget:  # the session enforces the budget; the replay stops there
            reason = budget_ending(ctx).reason
            return HarnessResult(status="max_steps", messages=messages, error=reason)
    messages.append(Message(role="assistant", content=final_answer))
    return HarnessResult(status="finished", messages=messages, final_answer=final_answer)


def replay(ctx: EpisodeContext, pole: PoleId) -> HarnessResult:
    golden = ctx.task.poles[pole].golden
    if golden is None:
        return HarnessResult(
            status="error", error=f"task {ctx.task.id} has no golden trajectory for pole {pole}"
        )
    return play(ctx, golden.calls, golden.final_answer)


def golden_a(ctx: EpisodeContext) -> HarnessResult:
    """Replays the pole-A golden trajectory."""
    return replay(ctx, "a")


def golden_b(ctx: EpisodeContext) -> HarnessResult:
    """Replays the pole-B golden trajectory."""
    return replay(ctx, "b")
