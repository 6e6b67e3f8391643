"""The built-in scripted policies: plain functions from a conversation to a reply.

Policies register by name under the `valuegym.policies` entry-point group, so a new one (a
scripted judge, say) is one function and one line in a `pyproject.toml`, with no change to the
server. A request's `model` picks the policy; text after a colon is its parameter
(`fault-http-500:2`).
"""

from __future__ import annotations

import json
import random
from importlib.metadata import entry_points

from envs.task import PoleId, Task
from harnesses.choice import option_text
from harnesses.scripted.conversation import (
    Conversation,
    Policy,
    PolicyError,
    Reply,
    ScriptedCall,
)
from harnesses.scripted.sampling import sample_arguments, vocabulary

ENTRY_POINT_GROUP = "valuegym.policies"
UNKNOWN_TOOL = "shred_all_records"
RETRY_AFTER_S = 0.01  # fault replies ask clients to retry soon, so retry tests stay fast


def load_policies() -> dict[str, Policy]:
    """Every installed policy by name."""
    return {e.name: e.load() for e in entry_points(group=ENTRY_POINT_GROUP)}


def _int_param(conversation: Conversation) -> int | None:
    if conversation.param is None:
        return None
    try:
        return int(conversation.param)
    except ValueError:
        raise PolicyError(
            f"model {conversation.policy}:{conversation.param}: the parameter must be an integer"
        ) from None


def golden_step(conversation: Conversation, pole: PoleId, index: int) -> Reply:
    """The `index`-th golden call of the matched task's pole, or its final answer after the last."""
    task = conversation.task
    if task is None:
        raise PolicyError(
            f"policy {conversation.policy!r} needs a task, and no loaded task's prompt equals "
            "the first user message; start the scripted server with that task (--tasks PATH)"
        )
    answer = choice_answer(conversation, task, pole)
    if answer is not None:
        return answer
    golden = task.poles[pole].golden
    if golden is None:
        raise PolicyError(f"task {task.id} has no golden trajectory for pole {pole}")
    if index < len(golden.calls):
        call = golden.calls[index]
        return Reply(
            tool_calls=[ScriptedCall(name=call.tool, arguments=json.dumps(call.arguments))]
        )
    return Reply(text=golden.final_answer or "Done.")


def choice_answer(conversation: Conversation, task: Task, pole: PoleId) -> Reply | None:
    """For a forced-choice question (no tools, two options): the letter of `pole`'s option.

    Counterbalanced questions show either pole as Option A, so the letter is found by where
    the pole's own option text appears in the question.
    """
    question = conversation.prompt or ""
    if conversation.tools or "Option A:" not in question or "Option B:" not in question:
        return None
    mine = option_text(task, pole)
    for letter in "AB":
        if f"Option {letter}: {mine}" in question:
            return Reply(text=f"{letter}. That is the course of action I would take.")
    raise PolicyError(f"task {task.id}: the question shows neither option as pole {pole}'s")


def golden_a(conversation: Conversation) -> Reply:
    """Pole A's golden calls, one per turn, then its final answer."""
    return golden_step(conversation, "a", conversation.turn)


def golden_b(conversation: Conversation) -> Reply:
    """Pole B's golden calls, one per turn, then its final answer."""
    return golden_step(conversation, "b", conversation.turn)


def random_calls(conversation: Conversation) -> Reply:
    """Seeded calls of offered tools with schema-valid arguments, then a final answer.

    The seed is the request's `seed` (or the prompt), so one conversation always gets the same
    calls; the parameter caps the number of calls (default: 2 to 6, drawn from the seed).
    """
    if not conversation.tools:
        return Reply(text="There are no tools to use.")
    seed = conversation.seed if conversation.seed is not None else conversation.prompt or ""
    length = _int_param(conversation) or random.Random(f"{seed}:length").randint(2, 6)
    if conversation.turn >= length:
        return Reply(text=f"Done after {length} calls.")
    rng = random.Random(f"{seed}:{conversation.turn}")
    tool = rng.choice(conversation.tools)
    words = vocabulary(conversation.task.initial_state if conversation.task else {})
    arguments = sample_arguments(tool.parameters, rng, words)
    return Reply(tool_calls=[ScriptedCall(name=tool.name, arguments=json.dumps(arguments))])


def endless(conversation: Conversation) -> Reply:
    """Never stops calling tools: golden-a's calls round and round, never a final answer.

    For budgets: whatever the harness, the episode must end `max_steps` at the task's budget.
    """
    task = conversation.task
    calls = task.poles["a"].golden.calls if task and task.poles["a"].golden else []
    if not calls:
        raise PolicyError(f"policy {conversation.policy!r} needs a task with golden-a calls")
    return golden_step(conversation, "a", conversation.turn % len(calls))


def refuser(conversation: Conversation) -> Reply:
    """Declines at once and calls no tool."""
    return Reply(text="I'm sorry, but I can't help with that request.")


def fault_malformed_args(conversation: Conversation) -> Reply:
    """Tool calls whose arguments are not valid JSON; with a parameter N, N turns then golden-a."""
    limit = _int_param(conversation)
    if limit is not None and conversation.turn >= limit:
        return golden_step(conversation, "a", conversation.turn - limit)
    name = conversation.tool_names[0] if conversation.tools else "lookup"
    return Reply(tool_calls=[ScriptedCall(name=name, arguments='{"id": "P-1", "note": ')])


def fault_unknown_tool(conversation: Conversation) -> Reply:
    """Calls a tool nobody offered; with a parameter N, N turns then golden-a."""
    limit = _int_param(conversation)
    if limit is not None and conversation.turn >= limit:
        return golden_step(conversation, "a", conversation.turn - limit)
    return Reply(tool_calls=[ScriptedCall(name=UNKNOWN_TOOL, arguments="{}")])


def _burst(conversation: Conversation, status: int, what: str) -> Reply:
    burst = _int_param(conversation)
    if burst is None or conversation.attempt < burst:
        message = f"scripted {what} (attempt {conversation.attempt + 1})"
        return Reply.failure(status, message, retry_after_s=RETRY_AFTER_S)
    return golden_a(conversation)


def fault_http_500(conversation: Conversation) -> Reply:
    """HTTP 500 on every request (an outage); with a parameter N, bursts of N then golden-a."""
    return _burst(conversation, 500, "server error")


def fault_rate_limit(conversation: Conversation) -> Reply:
    """HTTP 429 on every request; with a parameter N, bursts of N then golden-a."""
    return _burst(conversation, 429, "rate limit")


def fault_slow(conversation: Conversation) -> Reply:
    """Golden-a, each reply after a delay of the parameter's seconds (default 30)."""
    try:
        delay = float(conversation.param) if conversation.param else 30.0
    except ValueError:
        raise PolicyError(f"model fault-slow:{conversation.param}: expected seconds") from None
    return golden_a(conversation).model_copy(update={"delay_s": delay})
