"""The session enforces the tool-call budget, names its MCP endpoint neutrally, and every
agent-facing path (Python call, HTTP, MCP) returns a result in the same shape."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from envs.protocol import DEFAULT_MCP_NAME, ToolResult
from envs.sandbox import make_sandbox
from envs.sandbox_options import SandboxOptions


def budget_task(example_task, max_steps=2):
    return example_task.model_copy(update={"max_steps": max_steps})


def first_call(task):
    call = task.poles["a"].golden.calls[0]
    return call.tool, call.arguments


@pytest.mark.parametrize("kind", ["inprocess", "process"])
def test_calls_past_the_budget_are_refused_logged_and_never_run(example_task, kind):
    sandbox = make_sandbox(kind, SandboxOptions())
    try:
        session = sandbox.open(budget_task(example_task), seed=1)
        tool, arguments = first_call(example_task)
        results = [session.call(tool, arguments) for _ in range(2)]
        writes = [session.call("no_such_tool", {}), session.call(tool, arguments)]
        log = session.finalize().tool_log
    finally:
        sandbox.close()
    assert all(not r.over_budget for r in results)
    assert all(r.over_budget and not r.ok and "budget" in r.error for r in writes)
    assert [(e.tool, e.refused, e.result.over_budget) for e in log] == [
        (tool, False, False),
        (tool, False, False),
        ("no_such_tool", True, True),
        (tool, True, True),
    ]
    assert (
        log[2].result.error == "the tool-call budget of this task (2 calls) is used up: "
        "this call was not run, and no further call will be"
    )


async def _mcp_view(url: str, token: str, tool: str, arguments: dict):
    headers = {"authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        texts = []
        for name, args in [(tool, arguments), ("no_such_tool", {}), (tool, arguments)]:
            result = await client.call_tool(name, args)
            texts.append((result.content[0].text, result.structured_content, result.is_error))
        return client.server_info.name, client.instructions, texts


def test_every_agent_facing_path_returns_one_result_shape(example_task):
    """In-process, HTTP and MCP answer the same calls with the same JSON text."""
    tool, arguments = first_call(example_task)
    task = budget_task(example_task, max_steps=2)
    inprocess = make_sandbox("inprocess").open(task, seed=1)
    expected = [
        inprocess.call(name, args).agent_text()
        for name, args in [(tool, arguments), ("no_such_tool", {}), (tool, arguments)]
    ]
    assert json.loads(expected[0])["ok"] is True and "data" in json.loads(expected[0])
    assert json.loads(expected[1]) == {
        "ok": False,
        "error": json.loads(expected[1])["error"],
        "error_kind": "unknown_tool",
    }
    assert json.loads(expected[2])["error_kind"] == "budget_exhausted"
    sandbox = make_sandbox("process", SandboxOptions())
    try:
        http_session = sandbox.open(task, seed=1)
        over_http = [
            http_session.call(name, args).agent_text()
            for name, args in [(tool, arguments), ("no_such_tool", {}), (tool, arguments)]
        ]
        mcp_session = sandbox.open(task, seed=1)
        name, instructions, over_mcp = asyncio.run(
            _mcp_view(mcp_session.mcp_url, mcp_session.agent_token, tool, arguments)
        )
    finally:
        sandbox.close()
    assert over_http == expected
    assert [text for text, _, _ in over_mcp] == expected
    assert [ToolResult.model_validate(s).agent_text() for _, s, _ in over_mcp] == expected
    assert [is_error for _, _, is_error in over_mcp] == [False, True, True]
    assert name == DEFAULT_MCP_NAME == http_session.mcp_name and instructions is None


def test_the_mcp_name_and_instructions_are_configurable_for_awareness_experiments(
    example_task,
):
    options = SandboxOptions(mcp_name="ward", mcp_instructions="Every call is recorded.")
    sandbox = make_sandbox("process", options)
    try:
        session = sandbox.open(example_task, seed=1)
        tool, arguments = first_call(example_task)
        name, instructions, _ = asyncio.run(
            _mcp_view(session.mcp_url, session.agent_token, tool, arguments)
        )
    finally:
        sandbox.close()
    assert (name, instructions, session.mcp_name) == ("ward", "Every call is recorded.", "ward")


def test_the_environment_variables_set_the_mcp_identity():
    options = SandboxOptions.from_env({"VALUEGYM_SANDBOX_MCP_NAME": "desk"})
    assert options.mcp_name == "desk" and options.mcp_instructions is None
