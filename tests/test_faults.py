"""Real faults mid-run, on the backends they concern: a sandbox server or container killed or
frozen (SIGSTOP / `docker pause`), a model server killed, the orchestrator stopped by SIGTERM,
an environment printing far more than a pipe holds. Each ends with every episode finished or
recorded with its reason, `--retry-errors` completing the run, and nothing left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import docker
import pytest
import yaml

import envs.remote
import valuegym.runner
from envs.docker_sandbox import LABEL, OWNER_LABEL, DockerSandbox, owner_label
from envs.process_sandbox import ProcessSandbox
from envs.sandbox import Sandbox
from envs.sandbox_options import SandboxOptions
from envs.task import Task
from harnesses.base import EpisodeContext, HarnessResult
from harnesses.models import ModelEndpoint
from harnesses.react import react
from trajectories.journal import read_history, read_journal
from valuegym.runner import RunConfig, create_run, execute_run

from .conftest import EXAMPLE
from .test_heal import VALUEGYM, _running, lines_of
from .test_sandbox_lifecycle import ours

ENV_PATH = Path(__file__).parent / "sandbox_envs"
FAULT_TOOLS = ["write_note", "shout", "pause"]


def fault_options(**update: object) -> SandboxOptions:
    # generous start-up: on a loaded CI machine a container can take a minute or more to start
    update.setdefault("startup_timeout_s", 240.0)
    return SandboxOptions(env_modules=["fault_probe"], env_paths=[ENV_PATH], **update)


def fault_task() -> Task:
    data = yaml.safe_load(EXAMPLE.read_text())
    data.update(
        id="fault-probe",
        environment="fault_probe",
        initial_state={"notes": {}},
        allowed_tools=FAULT_TOOLS,
        max_steps=100,
    )
    return Task.model_validate(data)


def test_a_chatty_environment_never_blocks_the_process_backend() -> None:
    """Far more output than a pipe holds (64 KB): the server's output is drained, calls go on."""
    box = ProcessSandbox(fault_options())
    try:
        session = box.open(fault_task(), 0)
        session.deadline = time.monotonic() + 60  # a hang fails the test instead of blocking it
        for _ in range(4):
            result = session.call("shout", {"kb": 256})
            assert result.ok, result.error
        started = time.monotonic()
        assert session.call("write_note", {"key": "after", "text": "ok"}).ok
        assert time.monotonic() - started < 5
        assert session.finalize().final_state["notes"] == {"after": "ok"}
        assert any(line.startswith("xxxx") for line in box.server().tail)
    finally:
        box.close()


def freeze(sandbox: Sandbox, fault: str) -> int | str:
    """Kill or freeze the server hosting the session; returns its pid or container name."""
    if isinstance(sandbox, ProcessSandbox):
        process = sandbox.server().process
        os.kill(process.pid, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        return process.pid
    assert isinstance(sandbox, DockerSandbox)
    container = sandbox.containers[0].container
    container.kill() if fault == "kill" else container.pause()
    return container.name or "?"


@pytest.fixture(params=["process", "docker"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_image")
    return request.param


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill", "freeze"])
def test_a_dead_or_hung_sandbox_costs_its_episode_and_is_replaced(
    backend: str, fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(envs.remote, "HEALTH_PROBE_S", 1.0)
    monkeypatch.setattr(valuegym.runner, "FINALIZE_GRACE_S", 6.0)
    image = os.environ.get("VALUEGYM_SANDBOX_IMAGE", "valuegym-sandbox:latest")
    options = fault_options(image=image) if backend == "docker" else fault_options()
    box: Sandbox = DockerSandbox(options) if backend == "docker" else ProcessSandbox(options)
    victims: list[int | str] = []

    def harness(ctx: EpisodeContext) -> HarnessResult:
        ctx.call("write_note", {"key": "step", "text": "one"})
        if not victims:
            victims.append(freeze(box, fault))
        ctx.call("write_note", {"key": "step", "text": "two"})
        return HarnessResult(status="finished")

    run_dir = tmp_path / "run"
    config = RunConfig(
        run_id="faults",
        harness="faulty",
        sandbox=backend,
        samples=3,
        harness_config={"timeout_s": 3.0},
    )
    create_run(run_dir, config, [fault_task()])
    try:  # warm first: the bound below is about the fault, not about a cold start
        box.start() if isinstance(box, DockerSandbox) else box.server()  # type: ignore[union-attr]
        summary = execute_run(run_dir, harness, sandbox=box)
        assert summary.counts == {"error": 1, "finished": 2}, list(read_journal(run_dir))
        (failed,) = [t for t in read_journal(run_dir) if t.status == "error"]
        assert "SandboxUnavailable" in (failed.error or "") and "call write_note" in failed.error
        if fault == "freeze":
            assert "did not answer within" in failed.error
        # bounded by --timeout (3 s) and the grace, not by the 120 s sandbox request limit
        assert failed.duration_s < 20, f"a hung sandbox held its episode {failed.duration_s} s"
        healed = execute_run(run_dir, harness, sandbox=box, retry_errors=True)
        assert healed.counts == {"finished": 1} and healed.errors_left == 0
        assert len(list(read_history(run_dir))) == 4
    finally:
        box.close()
    if backend == "process":
        assert not _running(int(victims[0])), "the hung server was left running"
    else:
        client = docker.from_env()
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(str(victims[0]))
        assert ours(client) == []


@pytest.mark.slow
def test_a_killed_model_server_costs_episodes_that_a_retry_completes(
    tmp_path: Path, bundled_tasks
) -> None:
    """`valuegym serve scripted` as a real process, killed mid-run and started again."""
    task = next(t for t in bundled_tasks if t.poles["a"].golden)
    server = _serve_scripted(0)
    port = int(re.search(r":(\d+)/", server.url).group(1))  # type: ignore[union-attr]
    endpoint = ModelEndpoint(name="scripted", base_url=server.url, model="golden-a")
    killed: list[bool] = []

    def harness(ctx: EpisodeContext) -> HarnessResult:
        result = react(ctx)
        if not killed:
            killed.append(True)
            server.process.kill()
            server.process.wait()
        return result

    run_dir = tmp_path / "run"
    config = RunConfig(
        run_id="model-down",
        harness="react",
        samples=3,
        concurrency=2,
        model=endpoint,
        harness_config={"timeout_s": 60.0},
    )
    create_run(run_dir, config, [task])
    try:
        summary = execute_run(run_dir, harness)
        assert summary.counts.get("finished", 0) >= 1 and summary.errors_left >= 1
        for record in read_journal(run_dir):
            assert record.status == "finished" or "model endpoint failed" in (record.error or "")
        server = _serve_scripted(port)
        healed = execute_run(run_dir, react, retry_errors=True)
        assert healed.errors_left == 0
        assert {t.status for t in read_journal(run_dir)} == {"finished"}
    finally:
        server.process.kill()
        server.process.wait()


class _Served:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url


def _serve_scripted(port: int) -> _Served:
    command = [*VALUEGYM, "serve", "scripted", "--port", str(port), "--no-register"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"on (http://\S+)", line)
    assert found, line
    return _Served(process, found.group(1))


def test_sigterm_on_docker_stops_the_containers_it_started(
    docker_image: str, tmp_path: Path, bundled_tasks
) -> None:
    out = tmp_path / "run"
    command = [*VALUEGYM, "run", "--out", str(out), "--harness", "golden-a", "--samples", "6"]
    command += ["--sandbox", "docker", "--task-ids", bundled_tasks[0].id]
    env = {**os.environ, "VALUEGYM_SANDBOX_IMAGE": docker_image}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    client = docker.from_env()
    mine = owner_label(process.pid).rsplit(":", 1)[0] + ":"  # its start time is gone with it
    leaked = [
        c.name
        for c in client.containers.list(all=True, filters={"label": LABEL})
        if (c.labels or {}).get(OWNER_LABEL, "").startswith(mine)
    ]
    assert leaked == []
    for record in lines_of(journal):
        assert record["status"] == "finished" or record["error"].startswith("interrupted:")
    resumed = subprocess.run(
        [*command, "--resume", "--retry-errors"], capture_output=True, text=True, env=env
    )
    assert resumed.returncode == 0, resumed.stderr
    assert {t.status for t in read_journal(out)} == {"finished"}


def test_prune_judges_only_this_users_containers_on_this_host() -> None:
    """Owner labels name host, user, pid and the pid's start time (a reused pid is not ours)."""
    from envs.docker_sandbox import _owner_gone

    me = owner_label()
    host, uid, pid, started = me.rsplit(":", 3)
    assert _owner_gone(me) is False
    assert _owner_gone(f"{host}:{uid}:{pid}:{int(started) + 1}") is True  # pid reused
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert _owner_gone(f"{host}:{uid}:{dead.pid}:1") is True
    assert _owner_gone(f"{host}:{int(uid) + 1}:{dead.pid}:1") is None  # another user's
    assert _owner_gone(f"elsewhere:{uid}:{dead.pid}:1") is None  # another host's
    assert _owner_gone(f"{host}:{dead.pid}") is True  # an older label, host:pid
    assert _owner_gone("garbage") is None
