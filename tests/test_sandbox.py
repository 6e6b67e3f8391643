"""The same behaviour on every sandbox backend: in-process, a server subprocess, docker.

Sessions run `escape_probe` (tests/sandbox_envs), a test-only environment hosted through the
server's `--env-module`/`--env-path` (mounted read-only into containers).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from envs.remote import RemoteSession, SandboxError
from envs.sandbox import Sandbox, make_sandbox
from envs.sandbox_options import SandboxOptions
from envs.task import Task

from .conftest import EXAMPLE

PROBE_PATH = Path(__file__).parent / "sandbox_envs"
PROBE_TOOLS = ["write_note", "read_notes", "write_file", "connect", "whereami"]
BACKENDS = ["inprocess", "process", "docker"]
SERVER_BACKENDS = ["process", "docker"]  # the ones with an agent plane to authenticate


def probe_options(**update: object) -> SandboxOptions:
    return SandboxOptions(env_modules=["escape_probe"], env_paths=[PROBE_PATH], **update)


def probe_task() -> Task:
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(
        id="sandbox-probe",
        environment="escape_probe",
        initial_state={"notes": {"seeded": "yes"}},
        allowed_tools=PROBE_TOOLS,
        max_steps=100,
    )
    return Task.model_validate(data)


@pytest.fixture(scope="module", params=BACKENDS)
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    options = probe_options()
    if request.param == "docker":
        options.image = request.getfixturevalue("docker_image")
    box = make_sandbox(request.param, options)
    yield box
    box.close()


def test_allow_list_is_enforced_where_tools_run(sandbox: Sandbox) -> None:
    session = sandbox.open(probe_task(), seed=1)
    assert [t.name for t in session.tools] == PROBE_TOOLS
    refused = session.call("wipe_notes", {})
    unknown = session.call("format_disk", {})
    malformed = session.call("write_note", "not an object")
    assert (refused.ok, refused.error_kind) == (False, "refused")
    assert (unknown.ok, unknown.error_kind) == (False, "unknown_tool")
    assert malformed.error_kind == "invalid_arguments"
    assert session.call("read_notes", {}).data == {"seeded": "yes"}, "the refused tool never ran"
    log = session.finalize().tool_log
    assert [(e.tool, e.refused, e.state_changed) for e in log[:2]] == [
        ("wipe_notes", True, False),
        ("format_disk", False, False),
    ]
    session.close()


def test_concurrent_sessions_do_not_see_each_others_writes(sandbox: Sandbox) -> None:
    sessions = {name: sandbox.open(probe_task(), seed=7) for name in ("left", "right")}
    barrier = threading.Barrier(2)

    def write(name: str) -> None:
        barrier.wait()
        for index in range(20):
            assert sessions[name].call("write_note", {"key": f"n{index}", "text": name}).ok

    threads = [threading.Thread(target=write, args=(name,)) for name in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, session in sessions.items():
        notes = session.call("read_notes", {}).data
        assert set(notes.values()) == {"yes", name}
        finalized = session.finalize()
        assert len(finalized.tool_log) == 21
        assert {e["value"] for e in finalized.state_diff} == {name}
        session.close()


@pytest.mark.parametrize("sandbox", SERVER_BACKENDS, indirect=True)
def test_an_agent_token_reaches_only_its_own_session(sandbox: Sandbox) -> None:
    mine, theirs = (sandbox.open(probe_task(), seed=s) for s in (1, 2))
    assert isinstance(mine, RemoteSession) and mine.agent_url and mine.agent_token
    base = mine.agent_url.rsplit("/sessions/", 1)[0]
    with httpx2.Client(trust_env=False, timeout=10) as http:
        auth = {"authorization": f"Bearer {mine.agent_token}"}
        call = {"tool": "write_note", "arguments": {"key": "k", "text": "intruder"}}
        assert http.post(f"{mine.agent_url}/call", json=call, headers=auth).status_code == 200
        assert http.get(f"{base}/control/health", headers=auth).status_code == 401
        opened = http.post(f"{base}/control/sessions", headers=auth, json={})
        assert opened.status_code == 401
        stolen = http.post(f"{theirs.agent_url}/call", json=call, headers=auth)
        assert stolen.status_code == 403
        assert http.get(f"{theirs.agent_url}/tools", headers=auth).status_code == 403
        assert http.post(f"{theirs.mcp_url}", headers=auth, json={}).status_code == 403
        assert http.get(f"{mine.agent_url}/tools").status_code == 401
    assert theirs.finalize().tool_log == [], "nothing reached the other session"
    assert [e.tool for e in mine.finalize().tool_log] == ["write_note"]
    mine.close()
    theirs.close()


async def _over_mcp(url: str, token: str) -> tuple[list[str], dict, bool]:
    headers = {"authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        listed = await client.list_tools()
        wrote = await client.call_tool("write_note", {"key": "via", "text": "mcp"})
        refused = await client.call_tool("wipe_notes", {})
    return [t.name for t in listed.tools], wrote.structured_content, refused.is_error


@pytest.mark.parametrize("sandbox", SERVER_BACKENDS, indirect=True)
def test_the_mcp_endpoint_serves_the_session_tools(sandbox: Sandbox) -> None:
    session = sandbox.open(probe_task(), seed=3)
    assert session.mcp_url and session.agent_token
    names, wrote, refused = asyncio.run(_over_mcp(session.mcp_url, session.agent_token))
    assert names == PROBE_TOOLS
    assert wrote == {"ok": True, "data": {"key": "via"}}
    assert refused
    log = session.finalize().tool_log
    assert [(e.tool, e.refused) for e in log] == [("write_note", False), ("wipe_notes", True)]
    session.close()


@pytest.mark.parametrize("sandbox", SERVER_BACKENDS, indirect=True)
def test_reset_starts_over_and_a_closed_session_is_gone(sandbox: Sandbox) -> None:
    session = sandbox.open(probe_task(), seed=4)
    assert isinstance(session, RemoteSession)
    session.call("write_note", {"key": "a", "text": "b"})
    session.reset()
    assert session.finalize().tool_log == []
    session.close()
    with pytest.raises(SandboxError, match="not valid for this session"):
        session.call("read_notes", {})
    with pytest.raises(SandboxError, match="no_such_session"):
        session.finalize()


def test_unknown_environment_is_a_clear_error(sandbox: Sandbox) -> None:
    task = probe_task().model_copy(update={"environment": "moon_base"})
    with pytest.raises(Exception, match="moon_base"):
        sandbox.open(task, seed=1)


@pytest.mark.parametrize("sandbox", ["docker"], indirect=True)  # the only security boundary
def test_an_environment_cannot_reach_outside_its_container(sandbox: Sandbox, tmp_path) -> None:
    session = sandbox.open(probe_task(), seed=5)
    marker = f"valuegym-escape-{uuid.uuid4().hex}"
    host_file = tmp_path / marker
    for path in (str(host_file), f"/etc/{marker}", f"/opt/valuegym/env-paths/0/{marker}"):
        result = session.call("write_file", {"path": path, "text": "escaped"})
        assert not result.ok and result.error_kind == "tool_error", path
    assert session.call("write_file", {"path": f"/tmp/{marker}", "text": "x"}).ok
    assert not host_file.exists() and not Path(f"/tmp/{marker}").exists()
    assert not (PROBE_PATH / marker).exists()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        result = session.call("connect", {"host": "127.0.0.1", "port": port})
        assert not result.ok and "cannot connect" in (result.error or "")
        with pytest.raises(BlockingIOError):
            listener.accept()
    where = session.call("whereami", {}).data
    assert where["interfaces"] == ["lo"] and where["uid"] != 0
    session.close()
