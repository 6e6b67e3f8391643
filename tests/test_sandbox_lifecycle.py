"""What happens around sessions: servers that die mid-episode, leases, idle exit, leaked
containers, the warm pool and the containers' confinement."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import docker
import pytest

from envs.docker_sandbox import LABEL, OWNER_LABEL, DockerSandbox, owner_label, prune_containers
from envs.process_sandbox import ProcessSandbox
from envs.sandbox import Sandbox
from envs.server.api import OpenSession
from envs.server.sessions import Forbidden, NoSuchSession, SessionTable
from envs.server.workers import ForkServer
from harnesses.base import EpisodeContext, HarnessResult
from valuegym.runner import RunConfig, create_run, execute_run

from .test_sandbox import PROBE_PATH, probe_options, probe_task


def ours(client: docker.DockerClient) -> list:
    owner = f"{OWNER_LABEL}={owner_label()}"
    return client.containers.list(all=True, filters={"label": [LABEL, owner]})


def kill_server(sandbox: Sandbox) -> None:
    if isinstance(sandbox, ProcessSandbox):
        sandbox.server().process.kill()
    else:
        assert isinstance(sandbox, DockerSandbox)
        sandbox.containers[0].container.kill()


@pytest.fixture(params=["process", "docker"])
def server_sandbox(request: pytest.FixtureRequest):
    if request.param == "docker":
        box: Sandbox = DockerSandbox(probe_options(image=request.getfixturevalue("docker_image")))
    else:
        box = ProcessSandbox(probe_options())
    yield box
    box.close()


def test_a_server_killed_mid_episode_is_an_error_episode_and_the_run_goes_on(
    server_sandbox: Sandbox, tmp_path: Path
) -> None:
    episodes = []

    def harness(ctx: EpisodeContext) -> HarnessResult:
        episodes.append(ctx.seed)
        ctx.call("write_note", {"key": "step", "text": "one"})
        if len(episodes) == 1:
            kill_server(server_sandbox)
        ctx.call("write_note", {"key": "step", "text": "two"})
        return HarnessResult(status="finished")

    run_dir = tmp_path / "run"
    config = RunConfig(run_id="kill", harness="killer", sandbox=server_sandbox.name, samples=3)
    create_run(run_dir, config, [probe_task()])
    summary = execute_run(run_dir, harness, sandbox=server_sandbox, concurrency=1)
    assert summary.counts == {"error": 1, "finished": 2}
    records = sorted(
        (json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()),
        key=lambda r: r["sample"],
    )
    first = records[0]
    assert first["status"] == "error"
    assert "SandboxUnavailable" in first["error"] and "call write_note" in first["error"]
    expected = "exit code 137, killed" if server_sandbox.name == "docker" else "status -9"
    assert expected in first["error"]
    assert [len(r["tool_log"]) for r in records[1:]] == [2, 2]


def test_leases_reclaim_abandoned_sessions() -> None:
    now = [0.0]
    forks = ForkServer(["escape_probe"], [PROBE_PATH], spares=0)
    table = SessionTable(forks, default_lease_s=10, clock=lambda: now[0])
    kept = table.open(OpenSession(task=probe_task(), seed=1))
    dropped = table.open(OpenSession(task=probe_task(), seed=2, lease_s=5))
    now[0] = 6.0
    table.call(table.for_agent(kept.session_id, kept.agent_token), "read_notes", {})
    assert table.reap() == [dropped.session_id] and len(table) == 1
    with pytest.raises(Forbidden):
        table.for_agent(dropped.session_id, dropped.agent_token)
    with pytest.raises(NoSuchSession):
        table.finalize(dropped.session_id)
    now[0] = 15.9
    assert table.reap() == [], "activity at t=6 renewed the lease to t=16"
    now[0] = 16.0
    assert table.reap() == [kept.session_id]
    forks.close()


def test_an_idle_server_exits_by_itself() -> None:
    box = ProcessSandbox(probe_options(idle_exit_s=0.5))
    process = box.server().process
    assert process.wait(timeout=20) == 0
    box.close()


def test_an_idle_container_exits_by_itself_and_prune_removes_it(docker_image: str) -> None:
    box = DockerSandbox(probe_options(image=docker_image, idle_exit_s=0.5))
    try:
        box.start()
        container = box.containers[0]
        assert container.container.wait(timeout=30)["StatusCode"] == 0
        pruned = prune_containers(box.docker())
        assert (container.name, "exited") in {(p.name, p.reason) for p in pruned}
    finally:
        box.close()


def test_warm_containers_host_many_sessions(docker_image: str) -> None:
    box = DockerSandbox(probe_options(image=docker_image, pool_size=2))
    try:
        assert len(box.start()) == 2
        names = {c.name for c in box.containers}
        sessions = [box.open(probe_task(), seed=s) for s in range(6)]
        assert {c.name for c in box.containers} == names, "no container was started per session"
        for container in box.containers:
            assert container.client.health().sessions == 3
        for session in sessions:
            session.close()
    finally:
        box.close()


def test_sandbox_containers_are_confined(docker_image: str) -> None:
    box = DockerSandbox(probe_options(image=docker_image, memory="256m", pids_limit=64))
    try:
        box.start()
        attrs = box.containers[0].container.attrs
    finally:
        box.close()
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none" and host["PortBindings"] in (None, {})
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Memory"] == 256 * 2**20 and host["PidsLimit"] == 64
    assert "noexec" in host["Tmpfs"]["/tmp"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["Config"]["Labels"][LABEL] == "1"
    mounts = {m["Destination"]: m["RW"] for m in attrs["Mounts"]}
    assert mounts == {"/run/valuegym": False, "/opt/valuegym/env-paths/0": False}, (
        "no host path is writable"
    )
    assert host["ShmSize"] == 16 * 2**20
    assert not host.get("Init"), "no init process: the server is PID 1"


def test_prune_removes_containers_whose_orchestrator_died(docker_image: str) -> None:
    client = docker.from_env()
    leaker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from envs.docker_sandbox import DockerSandbox
                from envs.sandbox_options import SandboxOptions
                box = DockerSandbox(SandboxOptions(image={docker_image!r}))
                print(box.start() and box.containers[0].name, flush=True)
                time.sleep(120)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert leaker.stdout is not None
    leaked = leaker.stdout.readline().strip()
    leaker.kill()
    leaker.wait()
    assert client.containers.get(leaked).status == "running"
    mine = DockerSandbox(probe_options(image=docker_image))
    try:
        mine.start()
        pruned = prune_containers(client)
        assert leaked in {p.name for p in pruned}
        assert mine.containers[0].name not in {p.name for p in pruned}, "in use: kept"
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(leaked)
        assert mine.containers[0].alive()
    finally:
        mine.close()
    assert ours(client) == []


def test_a_docker_run_without_its_image_fails_before_it_starts(cli, tmp_path: Path) -> None:
    from valuegym.cli import app

    out = tmp_path / "run"
    args = ["run", "--out", str(out), "--sandbox", "docker"]
    result = cli.invoke(app, args, env={"VALUEGYM_SANDBOX_IMAGE": "valuegym-missing:0"})
    assert result.exit_code == 2
    assert "valuegym sandbox build" in result.output or "Docker engine" in result.output
    assert not out.exists(), "no run folder full of error episodes"
