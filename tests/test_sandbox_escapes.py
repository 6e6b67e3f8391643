"""Escapes that hostile environment code or agents tried, each shown to fail.

Environment code is `hostile_probe` (tests/sandbox_envs/escape_probe.py): tools that attack the
sandbox the way a hostile imported release would. The docker tests share one warm container
(as a real run does, session after session), so each also shows that what one session's code
did there does not reach the next.

1. the orchestrator's relay led to the host's Docker API through a swapped socket path;
2. environment code filled the host disk through a writable host folder;
3. one session's code read or altered other sessions (state, tokens, tool log, final record);
4. a `.py` file written by environment code was imported later (the working folder on the
   import path);
5. on the embedded backends a release tool that writes where the agent says overwrote files in
   the user's working folder (see tests/test_import_backends.py);
6. one oversized request killed a container and every session in it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import yaml
from typer.testing import CliRunner

from envs.docker_sandbox import DockerSandbox
from envs.process_sandbox import ProcessSandbox
from envs.protocol import MAX_ARGUMENT_BYTES, TOO_LARGE
from envs.relay import NotOurSocket, UnixRelay, connect_unix_checked, socket_identity
from envs.remote import RemoteSession, SandboxError
from envs.sandbox import Sandbox
from envs.sandbox_options import SandboxOptions
from envs.task import Task
from harnesses.base import EpisodeContext, HarnessResult
from harnesses.golden import golden_a
from valuegym.cli import app
from valuegym.runner import RunConfig, create_run, execute_run

from .conftest import EXAMPLE
from .test_sandbox import PROBE_PATH, probe_options, probe_task

HOSTILE_TOOLS = [
    "symlink",
    "fill",
    "remove",
    "plant_module",
    "import_fresh",
    "writable_import_path",
    "snoop",
    "tamper",
    "sleep",
]
MiB = 1 << 20


def hostile_task() -> Task:
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(
        id="hostile-x",
        environment="hostile_probe",
        initial_state={"notes": {}},
        allowed_tools=HOSTILE_TOOLS,
        max_steps=100,
    )
    return Task.model_validate(data)


@pytest.fixture(scope="module")
def docker_box(docker_image: str) -> Iterator[DockerSandbox]:
    """One warm container for every docker probe here."""
    box = DockerSandbox(probe_options(image=docker_image))
    box.start()
    yield box
    box.close()


def relay_get(session: RemoteSession, path: str) -> httpx2.Response:
    base = session.agent_url.rsplit("/sessions/", 1)[0]
    with httpx2.Client(trust_env=False, timeout=10) as http:
        return http.get(f"{base}{path}")


# -- 1. the relay and the container's socket -----------------------------------------------------


def _answering(path: Path, reply: bytes) -> socket.socket:
    """A Unix socket at `path` that answers every connection with `reply`."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(reply), reply)
                )

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_the_relay_never_follows_a_swapped_socket_path(tmp_path: Path) -> None:
    """Escape 1 as it was done: the sandbox's socket path replaced by a symlink to another
    socket (the host's Docker API). The relay keeps talking to the socket it was given or to
    nothing."""
    sandbox_path, docker_path = tmp_path / "server.sock", tmp_path / "docker.sock"
    sandbox, docker_api = _answering(sandbox_path, b"sandbox"), _answering(docker_path, b"docker")
    relay = UnixRelay(str(sandbox_path))
    identity = socket_identity(sandbox_path)
    try:
        with httpx2.Client(trust_env=False, timeout=5) as http:
            assert http.get(f"{relay.url}/version").text == "sandbox"
            sandbox_path.unlink()
            sandbox_path.symlink_to(docker_path)
            with pytest.raises(httpx2.TransportError):
                http.get(f"{relay.url}/version", headers={"connection": "close"})
        with pytest.raises(OSError):
            connect_unix_checked(sandbox_path, None)  # a symlink is never followed
        sandbox_path.unlink()
        other = _answering(sandbox_path, b"impostor")  # a new socket at the same path
        with pytest.raises(NotOurSocket):
            connect_unix_checked(sandbox_path, identity)
        other.close()
        sandbox_path.unlink()
        sandbox_path.write_text("not a socket")
        with pytest.raises(NotOurSocket):
            connect_unix_checked(sandbox_path, None)
    finally:
        relay.close()
        sandbox.close()
        docker_api.close()
    assert socket_identity(docker_path)  # the other socket was there all along


def test_the_container_cannot_touch_the_socket_the_orchestrator_uses(
    docker_box: DockerSandbox,
) -> None:
    session = docker_box.open(hostile_task(), seed=1)
    container = docker_box.containers[0]
    for link in ("/run/valuegym/server.sock", "/run/valuegym/handoff.sock", "/tmp/server.sock"):
        result = session.call("symlink", {"target": "/var/run/docker.sock", "link": link})
        if link.startswith("/run/"):
            assert not result.ok and "Read-only" in (result.error or ""), result
    assert isinstance(session, RemoteSession)
    version = relay_get(session, "/version")
    assert version.status_code == 404 and "ApiVersion" not in version.text
    health = relay_get(session, "/control/health")
    assert health.status_code == 401 and health.json()["error"] == "unauthorized"
    assert container.client.health().sessions == 1, "the orchestrator still reaches its server"
    assert sorted(os.listdir(container.socket_dir)) == ["handoff", "server.sock"]
    assert os.listdir(container.socket_dir / "handoff") == [], "the hand-over socket is gone"
    session.close()


# -- 2. the host disk ----------------------------------------------------------------------------


def test_nothing_the_container_writes_reaches_the_host_disk(docker_box: DockerSandbox) -> None:
    session = docker_box.open(hostile_task(), seed=2)
    container = docker_box.containers[0]
    into_mount = session.call("fill", {"path": "/run/valuegym/fill", "megabytes": 200}).data
    into_tmp = session.call("fill", {"path": "/tmp/fill", "megabytes": 200}).data
    into_shm = session.call("fill", {"path": "/dev/shm/fill", "megabytes": 200}).data
    into_root = session.call("fill", {"path": "/fill", "megabytes": 1}).data
    for path in ("/tmp/fill", "/dev/shm/fill"):
        session.call("remove", {"path": path})
    session.close()
    assert into_mount == {"written": 0, "error": "Read-only file system"}
    assert into_root == {"written": 0, "error": "Read-only file system"}
    assert into_tmp["error"] == "No space left on device" and into_tmp["written"] <= 64 * MiB
    assert into_shm["error"] == "No space left on device" and into_shm["written"] <= 16 * MiB
    mounts = container.container.attrs["Mounts"]
    assert mounts and not [m["Destination"] for m in mounts if m["RW"]], "no writable host path"
    host_bytes = sum(p.stat().st_size for p in container.socket_dir.rglob("*") if p.is_file())
    assert host_bytes == 0
    assert container.alive() and container.client.health().sessions == 0


# -- 3. other sessions ---------------------------------------------------------------------------


def test_one_session_can_neither_read_nor_alter_another(docker_box: DockerSandbox) -> None:
    """Y is open and has a secret in its state while hostile X runs beside it in the same
    container; Y's record comes out exactly as Y made it."""
    y = docker_box.open(probe_task(), seed=3)
    assert isinstance(y, RemoteSession)
    secret = f"secret-{uuid.uuid4().hex}"
    assert y.call("write_note", {"key": "y", "text": secret}).ok
    x = docker_box.open(hostile_task(), seed=4)
    before = docker_box.containers[0].client.health().sessions
    control_token = docker_box.containers[0].client._control_token
    needles = [secret, y.agent_token, y.session_id, control_token]
    snooped = x.call("snoop", {"needles": needles}).data
    tampered = x.call("tamper", {}).data
    assert snooped["found"] == [], snooped
    assert snooped["readable"] == {}, "no other process's environment, memory or folder"
    assert tampered["signalled"] == [] and tampered["memory_written"] == []
    assert tampered["fork"] == "Operation not permitted"
    assert tampered["unix_socket"] == "Operation not permitted"
    assert tampered["other_workers_listed"] == []
    assert y.call("write_note", {"key": "after", "text": "x ran"}).ok
    record = y.finalize()
    assert [(e.step, e.tool) for e in record.tool_log] == [(0, "write_note"), (1, "write_note")]
    assert record.final_state == {"notes": {"seeded": "yes", "y": secret, "after": "x ran"}}
    assert [op["path"] for op in record.state_diff] == ["/notes/y", "/notes/after"]
    x_record = x.finalize()  # X patched its own copy of the code: the server built the record
    assert [e.tool for e in x_record.tool_log] == ["snoop", "tamper"]
    for session in (x, y):
        session.close()
    assert docker_box.containers[0].client.health().sessions == before - 2


def _journal(run_dir: Path) -> dict[str, dict]:
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    return {record["task_id"]: record for record in map(json.loads, lines)}


def _scores(run_dir: Path) -> dict[str, tuple]:
    report = CliRunner().invoke(app, ["report", str(run_dir), "--json"])
    assert report.exit_code == 0, report.output
    return {e["task_id"]: (e["status"], e["scores"]) for e in json.loads(report.output)["episodes"]}


def _attacker_then_golden(ctx: EpisodeContext) -> HarnessResult:
    """X: the hostile tools, everything a release could do to the next task; others: golden A."""
    if ctx.task.environment != "hostile_probe":
        return golden_a(ctx)
    ctx.call("tamper", {})
    for folder in ("", "/tmp", "/tmp/.local/lib/python3.11/site-packages"):
        for name in ("statistics", "jsonpatch", "sitecustomize", "usercustomize"):
            ctx.call("plant_module", {"folder": folder, "name": name})
    ctx.call("fill", {"path": "/dev/shm/left-behind", "megabytes": 8})
    return HarnessResult(status="finished")


def test_a_malicious_task_before_it_leaves_another_tasks_record_and_score_unchanged(
    docker_box: DockerSandbox, example_task: Task, tmp_path: Path
) -> None:
    """The cross-task check: a real run, X (hostile) then Y (a bundled task, golden A) in the
    same warm container, against Y run alone in-process."""
    open_before = docker_box.containers[0].client.health().sessions
    config = RunConfig(run_id="cross", harness="attacker", sandbox="docker", samples=1)
    together, alone = tmp_path / "together", tmp_path / "alone"
    create_run(together, config, [hostile_task(), example_task])
    create_run(alone, config.model_copy(update={"sandbox": "inprocess"}), [example_task])
    summary = execute_run(together, _attacker_then_golden, sandbox=docker_box, concurrency=1)
    assert summary.counts == {"finished": 2}
    execute_run(alone, _attacker_then_golden, concurrency=1)
    y_after_x, y_alone = _journal(together)[example_task.id], _journal(alone)[example_task.id]
    for field in ("status", "tool_log", "final_state", "state_diff", "error"):
        assert y_after_x[field] == y_alone[field], field
    assert y_after_x["tool_log"], "Y really ran"
    scores = _scores(together)[example_task.id]
    assert scores == _scores(alone)[example_task.id]
    assert scores[0] == "finished" and 10.0 in [s for s in scores[1].values() if s is not None]
    assert docker_box.containers[0].client.health().sessions == open_before


# -- 4. the import path --------------------------------------------------------------------------


CONTAINER_FOLDERS = ("", "/tmp", "/tmp/.local/lib/python3.11/site-packages")
"""The working folder, /tmp and the user site folder ($HOME is /tmp in the image)."""


def _plant_and_import(box: Sandbox, folders: tuple[str, ...]) -> tuple[list[dict], dict, dict]:
    planter = box.open(hostile_task(), seed=5)
    planted = [
        planter.call("plant_module", {"folder": folder, "name": "colorsys"}).data
        for folder in folders
    ]
    same_session = planter.call("import_fresh", {"name": "colorsys"}).data
    later = box.open(hostile_task(), seed=6)
    next_session = later.call("import_fresh", {"name": "colorsys"}).data
    for session in (planter, later):
        session.close()
    return planted, same_session, next_session


def test_planted_modules_are_never_imported_in_the_container(docker_box: DockerSandbox) -> None:
    planted, same_session, next_session = _plant_and_import(docker_box, CONTAINER_FOLDERS)
    assert all(p["planted"] for p in planted), "the files were written"
    for imported in (same_session, next_session):
        assert not imported["already_loaded"], "a real import happened"
        assert not imported["planted"] and imported["file"].startswith("/usr/"), imported
    session = docker_box.open(hostile_task(), seed=7)
    path = session.call("writable_import_path", {}).data
    session.close()
    assert path["writable"] == [] and "" not in path["path"] and "/tmp" not in path["path"]


def test_planted_modules_are_never_imported_by_the_process_backend(tmp_path: Path) -> None:
    """Only the working folder: the process backend writes to your real /tmp (no boundary)."""
    box = ProcessSandbox(probe_options())
    try:
        planted, same_session, next_session = _plant_and_import(box, ("",))
    finally:
        box.close()
    assert planted[0]["planted"] and planted[0]["cwd"] != os.getcwd(), "a private folder"
    for imported in (same_session, next_session):
        assert not imported["planted"] and not imported["already_loaded"]


# -- 6. limits -----------------------------------------------------------------------------------


def _post(session: RemoteSession, body: bytes) -> httpx2.Response:
    headers = {"authorization": f"Bearer {session.agent_token}", "content-type": "application/json"}
    with httpx2.Client(trust_env=False, timeout=60) as http:
        return http.post(f"{session.agent_url}/call", content=body, headers=headers)


def _note(text_bytes: int, key: str = "big") -> bytes:
    return json.dumps(
        {"tool": "write_note", "arguments": {"key": key, "text": "x" * text_bytes}}
    ).encode()


def test_oversized_requests_are_refused_and_the_container_lives_on(
    docker_box: DockerSandbox,
) -> None:
    container = docker_box.containers[0]
    bystander = docker_box.open(probe_task(), seed=8)
    attacker = docker_box.open(probe_task(), seed=9)
    assert isinstance(attacker, RemoteSession)
    huge = _post(attacker, _note(40 * MiB))
    assert huge.status_code == 413, huge.text
    assert (
        huge.json()["error"] == "request_too_large" and "limit of 4194304" in huge.json()["detail"]
    )
    over_argument = _post(attacker, _note(2 * MiB))  # under the body limit, over the argument's
    assert over_argument.status_code == 200
    refused = over_argument.json()
    assert refused["error_kind"] == "invalid_arguments" and "limit of 1048576" in refused["error"]
    for index in range(18):  # grow the state past what the server takes back at finalize
        assert _post(attacker, _note(MAX_ARGUMENT_BYTES - 100, f"n{index}")).status_code == 200
    assert bystander.call("write_note", {"key": "still", "text": "here"}).ok
    with pytest.raises(SandboxError, match="over the sandbox's limit of 16777216 bytes"):
        attacker.finalize()
    record = bystander.finalize()
    assert [e.tool for e in record.tool_log] == ["write_note"]
    attacker.close()
    bystander.close()
    assert container.alive() and docker_box.containers == [container], "no container was lost"
    assert not container.state()["OOMKilled"]
    log = container.container.logs().decode()
    assert '"error": "request_too_large"' in log and attacker.agent_token not in log
    first = json.loads(over_argument.request.content)  # what the agent sent vs what was logged
    assert len(first["arguments"]["text"]) == 2 * MiB


def test_the_argument_limit_gives_the_same_record_on_every_backend() -> None:
    """The stand-in for oversized arguments is the same in-process and in a server."""
    from envs.sandbox import make_sandbox

    logs = []
    for kind in ("inprocess", "process"):
        box = make_sandbox(kind, probe_options())
        try:
            session = box.open(probe_task(), seed=1)
            result = session.call(
                "write_note", {"key": "k", "text": "y" * (MAX_ARGUMENT_BYTES + 1)}
            )
            assert not result.ok and result.error_kind == "invalid_arguments"
            logs.append([e.model_dump() for e in session.finalize().tool_log])
            session.close()
        finally:
            box.close()
    assert logs[0] == logs[1]
    assert set(logs[0][0]["arguments"]) == {TOO_LARGE, "limit"}


@pytest.fixture
def process_box() -> Iterator[ProcessSandbox]:
    options = SandboxOptions(
        env_modules=["escape_probe"], env_paths=[PROBE_PATH], call_timeout_s=1.5, max_inflight=2
    )
    box = ProcessSandbox(options)
    yield box
    box.close()


def test_a_hung_tool_is_stopped_at_the_per_call_limit(process_box: ProcessSandbox) -> None:
    hung = process_box.open(hostile_task(), seed=1)
    other = process_box.open(probe_task(), seed=2)
    with pytest.raises(SandboxError, match=r"did not finish within 1\.5 s"):
        hung.call("sleep", {"seconds": 30})
    with pytest.raises(SandboxError, match=r"did not finish within 1\.5 s"):
        hung.finalize()  # the session failed for good, with its reason
    assert other.call("read_notes", {}).ok
    other.close()
    hung.close()


def test_mcp_streams_and_parallel_requests_are_bounded_and_audited(
    process_box: ProcessSandbox,
) -> None:
    session = process_box.open(hostile_task(), seed=3)
    assert isinstance(session, RemoteSession)
    auth = {"authorization": f"Bearer {session.agent_token}"}
    with httpx2.Client(trust_env=False, timeout=10) as http:
        stream = http.get(session.mcp_url, headers={**auth, "accept": "text/event-stream"})
        assert stream.status_code == 405 and "POST" in stream.headers["allow"]
        forged = http.get(f"{session.agent_url}/tools", headers={"authorization": "Bearer x"})
        assert forged.status_code == 403
    results: list[int] = []

    def slow_call() -> None:
        body = {"tool": "sleep", "arguments": {"seconds": 1.0}}
        with httpx2.Client(trust_env=False, timeout=10) as http:
            results.append(
                http.post(f"{session.agent_url}/call", json=body, headers=auth).status_code
            )

    threads = [threading.Thread(target=slow_call) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = threading.Event()
    deadline.wait(0.5)  # both are in progress (each takes a second, one after the other)
    with httpx2.Client(trust_env=False, timeout=10) as http:
        third = http.post(f"{session.agent_url}/call", json={"tool": "read_notes"}, headers=auth)
    for thread in threads:
        thread.join()
    assert third.status_code == 429 and third.json()["error"] == "too_many_requests"
    assert sorted(results) == [200, 200]
    session.close()
    server = process_box.server()
    audit = [json.loads(line.split(" ", 1)[1]) for line in server.tail if line.startswith("audit ")]
    assert {(a["status"], a["error"]) for a in audit} >= {
        (405, "method_not_allowed"),
        (403, "forbidden"),
        (429, "too_many_requests"),
    }
    assert all(session.agent_token not in json.dumps(a) for a in audit)


def test_a_session_whose_tool_log_is_full_fails_with_the_reason() -> None:
    from envs.server.workers import ForkServer, SessionFailed, WorkerLimits, WorkerSession

    forks = ForkServer(["escape_probe"], [PROBE_PATH], spares=0)
    try:
        session = WorkerSession(forks, probe_task(), 1, WorkerLimits(max_calls=3))
        for index in range(3):
            assert session.call("write_note", {"key": f"k{index}", "text": "t"}).ok
        with pytest.raises(SessionFailed, match="tool log is full"):
            session.call("read_notes", {})
        with pytest.raises(SessionFailed, match="tool log is full"):
            session.finalize()
        session.close()
    finally:
        forks.close()
