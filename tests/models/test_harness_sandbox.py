"""Harness containers (`--harness-sandbox docker`): what a harness process inside one can reach,
and that an episode's end removes it."""

from __future__ import annotations

import http.server
import threading

import pytest

from envs.docker_sandbox import OWNER_LABEL, docker_client, owner_label
from envs.sandbox import make_sandbox
from envs.sandbox_options import SandboxOptions
from harnesses.base import HarnessConfig
from harnesses.harness_sandbox import ROLE_LABEL, HarnessBox
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

pytestmark = pytest.mark.slow  # containers

PROBE = """
import os, socket, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:{port}/").read().decode())
for where in [("127.0.0.1", {other}), ("10.0.0.1", 80)]:
    try:
        socket.create_connection(where, timeout=3)
        print("reached", where)
    except OSError:
        print("unreachable", where)
print("uid", os.getuid())
for path in ("/usr/probe", "/episode/probe"):
    try:
        open(path, "w").close()
        print("wrote", path)
    except OSError:
        print("read-only", path)
"""


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from the endpoint")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def two_servers():
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [s.server_address[1] for s in servers]
    for server in servers:
        server.shutdown()


def harness_containers() -> list:
    labels = [f"{OWNER_LABEL}={owner_label()}", f"{ROLE_LABEL}=harness"]
    return docker_client().containers.list(all=True, filters={"label": labels})


def test_a_harness_container_reaches_its_endpoints_and_nothing_else(
    docker_image, two_servers, tmp_path
):
    port, other = two_servers
    with HarnessBox(tmp_path, [f"http://127.0.0.1:{port}/v1"]) as box:
        code, output = box.run(
            ["python3", "-c", PROBE.format(port=port, other=other)], {}, "/episode", 30
        )
        assert harness_containers()
        timed_out, _ = box.run(["sleep", "30"], {}, "/episode", 1)
    assert code == 0, output
    assert output.splitlines() == [
        "hello from the endpoint",
        f"unreachable ('127.0.0.1', {other})",  # the host's other loopback services
        "unreachable ('10.0.0.1', 80)",  # any other address
        "uid 10001",
        "read-only /usr/probe",
        "wrote /episode/probe",
    ]
    assert (tmp_path / "probe").exists()
    assert timed_out == 124
    assert harness_containers() == []


def test_a_claude_code_episode_past_its_deadline_is_a_timeout_and_its_container_is_gone(
    docker_image, scripted, example_task, tmp_path
):
    sandbox = make_sandbox("process", SandboxOptions.from_env())
    try:
        config = RunConfig(
            run_id="slow",
            harness="claude-code",
            sandbox="process",
            harness_config=HarnessConfig(timeout_s=20, harness_sandbox="docker"),
            model=scripted.endpoint("fault-slow:60", "anthropic"),
        )
        create_run(tmp_path / "run", config, [example_task])
        execute_run(tmp_path / "run", "claude-code", sandbox=sandbox)
    finally:
        sandbox.close()
    (episode,) = run_trajectories(tmp_path / "run")
    assert episode.status == "timeout", episode.error
    assert harness_containers() == []
