"""Where a CLI harness's process runs: on the host (default) or in a hardened container.

`--harness-sandbox docker` starts, per episode, a container of the sandbox image (the same image
family as the environment's containers) confined like them: no network at all
(`network_mode=none`), a read-only root, every capability dropped, `no-new-privileges`, a
non-root user, memory and process limits, and labels `valuegym sandbox prune` reaps. It reaches
exactly the endpoints the harness names (the model endpoint and the session's agent plane):
each is relayed through a Unix socket mounted into the container, where `envs.forward` listens on
the container's loopback at the endpoint's own port and the endpoint's host name resolves to
127.0.0.1, so URLs, TLS names and tokens are the same as on the host. The episode's folder is
the only host folder it can write; programs it needs (the Claude Code CLI) are mounted
read-only. Commands run in it with `docker exec`; the container is removed at the episode's end.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import docker.errors

from envs.docker_sandbox import (
    CONTAINER_USER,
    LABEL,
    OWNER_LABEL,
    _hardening,
    check_docker,
    docker_client,
    owner_label,
)
from envs.forward import Relay, TcpAddress, UnixAddress
from envs.remote import SandboxError, SandboxUnavailable
from envs.sandbox_options import SandboxOptions

HARNESS_SANDBOXES = ("host", "docker")
ROLE_LABEL = "valuegym.role"
BOX_ROOT = "/episode"
RELAY_DIR = "/run/valuegym-relay"
BOX_PATH = "/usr/local/bin:/usr/bin:/bin"
BOX_MEMORY = "2g"  # a CLI harness (a JavaScript runtime) needs more than an environment server
BOX_PIDS = 512
READY_TIMEOUT_S = 60.0
STDERR_TAIL = 600


class Process(Protocol):
    """A harness process the episode drives: its stdout lines, its end, a kill."""

    def lines(self) -> Iterator[str]: ...

    def wait(self, timeout: float) -> int | None: ...

    def kill(self) -> None: ...

    def stderr_tail(self) -> str: ...


class HostProcess:
    """A local process in its own process group (a kill takes its children too)."""

    def __init__(
        self, argv: list[str], cwd: Path, env: dict[str, str], stdin: str, stderr: Path
    ) -> None:
        self._stderr = stderr
        with stderr.open("w") as err:
            self._process = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.write(stdin)
            self._process.stdin.close()

    def lines(self) -> Iterator[str]:
        assert self._process.stdout is not None
        yield from self._process.stdout

    def wait(self, timeout: float) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(timeout=timeout)
        return None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=10)

    def stderr_tail(self) -> str:
        return self._stderr.read_text(errors="replace").strip()[-STDERR_TAIL:]


def endpoint_address(url: str) -> TcpAddress:
    """The host and port a URL's client connects to."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise SandboxError(f"harness sandbox: {url!r} names no host")
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    if port is None:
        raise SandboxError(f"harness sandbox: {url!r} has no port and an unknown scheme")
    return TcpAddress(parts.hostname, port)


def _is_loopback_ip(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


def _give_to_container_user(root: Path) -> None:
    """The container's user must write the episode folder; nobody else on the host should."""
    uid, gid = (int(x) for x in CONTAINER_USER.split(":"))
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.chown(path, uid, gid, follow_symlinks=False)
        return
    root.chmod(0o711)  # others may pass through, not list
    for path in root.rglob("*"):
        path.chmod(0o777 if path.is_dir() else 0o666)


class BoxProcess:
    """A command run with `docker exec` in a harness container, stdout streamed by lines."""

    def __init__(self, box: HarnessBox, argv: list[str], env: dict[str, str], workdir: str):
        api = box.client.api
        self._box = box
        self._exec = api.exec_create(
            box.container.id, argv, environment=env, workdir=workdir, user=CONTAINER_USER
        )["Id"]
        self._stream = api.exec_start(self._exec, stream=True, demux=True)
        self._stderr = bytearray()

    def lines(self) -> Iterator[str]:
        pending = b""
        for out, err in self._stream:
            if err:
                self._stderr += err
                del self._stderr[: max(0, len(self._stderr) - 4 * STDERR_TAIL)]
            if out:
                pending += out
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", errors="replace") + "\n"
        if pending:
            yield pending.decode("utf-8", errors="replace")

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = self._box.client.api.exec_inspect(self._exec)
            except docker.errors.DockerException:  # the container is gone: so is the command
                return None
            if not state.get("Running"):
                return state.get("ExitCode")
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def kill(self) -> None:
        self._box.kill()

    def stderr_tail(self) -> str:
        return self._stderr.decode("utf-8", errors="replace").strip()[-STDERR_TAIL:]


class HarnessBox:
    """One episode's hardened harness container, reaching only `urls`.

    `root` (the episode's folder) is mounted read-write at `BOX_ROOT`; `files` maps host paths
    to the container paths they are mounted at, read-only.
    """

    def __init__(
        self,
        root: Path,
        urls: list[str],
        files: dict[str, str] | None = None,
        options: SandboxOptions | None = None,
    ) -> None:
        self.options = options or SandboxOptions.from_env()
        self.client = docker_client()
        check_docker(self.options, self.client)
        self._relays: list[Relay] = []
        self._relay_dir = Path(tempfile.mkdtemp(prefix="valuegym-harness-relay-"))
        self._relay_dir.chmod(0o755)
        self._lock = threading.Lock()
        self.container: Any = None
        try:
            forwards, hosts = self._forwards(urls)
            _give_to_container_user(root)
            volumes = {str(root): {"bind": BOX_ROOT, "mode": "rw"}}
            volumes[str(self._relay_dir)] = {"bind": RELAY_DIR, "mode": "ro"}
            for host_path, inside in (files or {}).items():
                volumes[str(Path(host_path).resolve())] = {"bind": inside, "mode": "ro"}
            confined = _hardening(self.options)
            confined.update(mem_limit=BOX_MEMORY, memswap_limit=BOX_MEMORY, pids_limit=BOX_PIDS)
            self.container = self.client.containers.run(
                self.options.image,
                entrypoint=["python3", "-P", "-m", "envs.forward"],
                command=forwards,
                name=f"valuegym-harness-{secrets.token_hex(4)}",
                detach=True,
                volumes=volumes,
                extra_hosts=hosts,
                # the relays listen at the endpoints' own ports, 443 included
                sysctls={"net.ipv4.ip_unprivileged_port_start": "0"},
                working_dir=BOX_ROOT,
                labels={LABEL: "1", OWNER_LABEL: owner_label(), ROLE_LABEL: "harness"},
                **confined,
            )
            self._wait_ready()
        except docker.errors.DockerException as exc:
            self.close()
            raise SandboxUnavailable(f"harness container: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _forwards(self, urls: list[str]) -> tuple[list[str], dict[str, str]]:
        """The in-container relays' arguments and the host names that resolve to loopback."""
        by_port: dict[int, TcpAddress] = {}
        for url in urls:
            address = endpoint_address(url)
            seen = by_port.setdefault(address.port, address)
            if seen != address:
                raise SandboxError(
                    f"harness sandbox: {seen.host}:{seen.port} and {address.host}:{address.port} "
                    "share a port; give the endpoints distinct ports"
                )
        forwards, hosts = [], {}
        for index, (port, address) in enumerate(sorted(by_port.items())):
            path = self._relay_dir / f"{index}.sock"
            self._relays.append(Relay(UnixAddress(str(path)), address, socket_mode=0o666))
            forwards += ["--forward", f"127.0.0.1:{port}={RELAY_DIR}/{path.name}"]
            if not _is_loopback_ip(address.host):
                hosts[address.host] = "127.0.0.1"
        return forwards, hosts

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while b"relays ready" not in self.container.logs():
            self.container.reload()
            if self.container.status == "exited" or time.monotonic() > deadline:
                logs = self.container.logs(tail=5).decode(errors="replace").strip()
                raise SandboxError(
                    f"harness container {self.container.name} did not start"
                    + (f"; its log ends: {logs}" if logs else "")
                )
            time.sleep(0.05)

    def start(self, argv: list[str], env: dict[str, str], workdir: str) -> BoxProcess:
        return BoxProcess(self, argv, {"PATH": BOX_PATH, **env}, workdir)

    def run(
        self, argv: list[str], env: dict[str, str], workdir: str, timeout_s: float
    ) -> tuple[int, str]:
        """Run a command to its end (killed after `timeout_s`: exit status 124)."""
        limited = ["timeout", "-k", "5", str(max(1, int(timeout_s))), *argv]
        done = self.container.exec_run(
            limited, environment={"PATH": BOX_PATH, **env}, workdir=workdir, user=CONTAINER_USER
        )
        return done.exit_code, done.output.decode("utf-8", errors="replace")

    def kill(self) -> None:
        with self._lock, contextlib.suppress(docker.errors.DockerException):
            if self.container is not None:
                self.container.kill()

    def close(self) -> None:
        with self._lock:
            if self.container is not None:
                with contextlib.suppress(docker.errors.DockerException):
                    self.container.remove(force=True)
                self.container = None
        for relay in self._relays:
            relay.close()
        self._relays = []
        shutil.rmtree(self._relay_dir, ignore_errors=True)

    def __enter__(self) -> HarnessBox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
