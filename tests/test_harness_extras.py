"""Every harness extra installs into one environment beside the sandbox server, which still works.

The `dev` extra pulls in `harnesses` (every harness's extra), so the environment these tests run
in is that environment: the resolver kept `mcp` in the server's range, pip sees no conflict, and
a server subprocess started from it serves MCP with the harness SDKs imported next to it.
"""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import requires, version
from urllib.parse import urlsplit

import httpx2
from packaging.requirements import Requirement
from packaging.version import Version

from envs.sandbox import make_sandbox
from envs.sandbox_options import SandboxOptions
from harnesses.scripted.server import ScriptedServer

from .test_budget import _mcp_view, first_call

HARNESS_DISTRIBUTIONS = {"claude-agent-sdk", "openai-agents", "smolagents", "mini-swe-agent"}


def _extra(name: str) -> set[str]:
    chosen = set()
    for line in requires("valuegym") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is not None and "extra" in str(marker) and marker.evaluate({"extra": name}):
            chosen.add(requirement.name)
    return chosen


def test_dev_pulls_in_every_harness_extra_and_pip_sees_no_conflict():
    assert "valuegym" in _extra("dev")  # dev -> valuegym[harnesses]
    assert _extra("harnesses") == {"valuegym"}
    assert {
        r
        for e in ("claude-code", "openai-agents", "smolagents", "mini-swe-agent")
        for r in _extra(e)
    } >= HARNESS_DISTRIBUTIONS
    for distribution in HARNESS_DISTRIBUTIONS:
        assert version(distribution)  # installed
    server_pin = next(Requirement(r) for r in requires("valuegym") if r.startswith("mcp"))
    assert Version(version("mcp")) in server_pin.specifier
    checked = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_sandbox_server_serves_mcp_with_every_harness_sdk_imported(example_task):
    import agents  # noqa: F401
    import claude_agent_sdk  # noqa: F401
    import minisweagent  # noqa: F401
    import smolagents  # noqa: F401

    import harnesses.claude_code
    import harnesses.openai_agents
    import harnesses.shell
    import harnesses.smolagents_agent  # noqa: F401

    sandbox = make_sandbox("process", SandboxOptions())
    try:
        session = sandbox.open(example_task, seed=1)
        tool, arguments = first_call(example_task)
        name, _, results = asyncio.run(
            _mcp_view(session.mcp_url, session.agent_token, tool, arguments)
        )
    finally:
        sandbox.close()
    assert name == "tools"
    assert [is_error for _, _, is_error in results] == [False, True, False]


def _served_after_idle(url: str, path: str, headers: dict[str, str], idle_s: float) -> None:
    """Two requests on one connection, `idle_s` apart: the second must be answered on it."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        connection.getresponse().read()
        first = connection.sock
        time.sleep(idle_s)
        connection.request("GET", path, headers=headers)  # http.client never redials here
        answer = connection.getresponse()
        answer.read()
        assert connection.sock is first
        assert answer.status == 200
    finally:
        connection.close()


def test_servers_keep_an_idle_connection_past_the_client_pools_expiry(example_task):
    """An MCP client (httpx2) reuses an idle connection until its pool's expiry; a server that
    closes it first races the reuse and the call is lost (the MCP session ends "Connection
    closed", seen through the docker relay under load). So the sandbox server and the scripted
    model server must still answer on a connection idle for a little over that expiry."""
    idle_s = httpx2.Limits().keepalive_expiry + 0.5
    sandbox = make_sandbox("process", SandboxOptions())
    try:
        with ScriptedServer([example_task]) as server, ThreadPoolExecutor(2) as pool:
            session = sandbox.open(example_task, seed=1)
            agent = urlsplit(session.agent_url)
            auth = {"Authorization": f"Bearer {session.agent_token}"}
            checks = [
                pool.submit(
                    _served_after_idle, session.agent_url, f"{agent.path}/tools", auth, idle_s
                ),
                pool.submit(_served_after_idle, server.base_url, "/v1/models", {}, idle_s),
            ]
            for check in checks:
                check.result()
    finally:
        sandbox.close()
