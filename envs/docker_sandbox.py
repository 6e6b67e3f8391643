"""The docker backend: warm, hardened containers, each hosting many sessions.

A container runs the sandbox server with no network at all (`network_mode=none`: only its own
loopback), a read-only root filesystem, small `noexec` tmpfs mounts (`/tmp`, `/dev/shm`), every
capability dropped, `no-new-privileges`, a non-root user, and memory and process limits.

Nothing on the host is writable from a container. The orchestrator creates the server's
listening Unix socket itself, in a private folder that is never mounted, and hands it over:
a read-only mount holds only a hand-over socket, which the server connects to once to receive
the listening socket (SCM_RIGHTS). So environment code can neither plant files on the host
disk nor replace the socket the orchestrator and its relay connect to. Opening a session is
one request to an already running server, never a container start. Containers carry labels so
`valuegym sandbox prune` can find leaked ones, and exit by themselves when idle.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import docker
import docker.errors
import requests
from docker.models.containers import Container
from pydantic import BaseModel

from envs.process_sandbox import limit_arguments, mcp_arguments
from envs.relay import UnixRelay, socket_identity
from envs.remote import RemoteSession, SandboxError, SandboxUnavailable, ServerClient
from envs.sandbox_options import SERVER_ENVIRONMENT, SandboxOptions
from envs.server.api import CONTROL_DIGEST_ENV, token_digest
from envs.task import Task

log = logging.getLogger(__name__)

LABEL = "valuegym.sandbox"
OWNER_LABEL = "valuegym.owner"
RUNTIME_LABEL = "valuegym.runtime-dir"
SOURCE_LABEL = "valuegym.source"
RELEASE_LABEL = "valuegym.release"  # the release root a release image was built for
CONTAINER_USER = "10001:10001"
SOCKET_DIR = "/run/valuegym"
HANDOFF_NAME = "handoff.sock"
ENV_PATHS_DIR = "/opt/valuegym/env-paths"


def docker_client() -> docker.DockerClient:
    """A client for the local Docker engine, or `SandboxUnavailable` saying why there is none."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxUnavailable(f"cannot reach the Docker engine: {exc}") from exc
    return client


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), which tells a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_label(pid: int | None = None) -> str:
    """`host:uid:pid:start-time` of the orchestrator that starts a container: prune removes a
    container only when this user's orchestrator on this host that made it is gone."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{os.getuid()}:{pid}:{_start_time(pid) or '?'}"


def _hardening(options: SandboxOptions) -> dict[str, Any]:
    """The `containers.run` arguments that confine a sandbox container."""
    return {
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,noexec,size={options.tmpfs_size}"},
        "shm_size": options.shm_size,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "user": CONTAINER_USER,
        "mem_limit": options.memory,
        "memswap_limit": options.memory,
        "pids_limit": options.pids_limit,
        "nano_cpus": int(options.cpus * 1e9) if options.cpus else None,
        "init": True,
    }


def check_docker(options: SandboxOptions, client: docker.DockerClient | None = None) -> None:
    """Raise `SandboxError` unless Docker is reachable and the sandbox image exists."""
    client = client or docker_client()
    try:
        image = client.images.get(options.image)
    except docker.errors.ImageNotFound:
        how = "valuegym sandbox build"
        if options.release_dirs:  # imported tasks: the image with the release's requirements
            releases = " ".join(str(Path(d).resolve().parent) for d in options.release_dirs)
            how += f" --release {releases}"
        raise SandboxError(f"no sandbox image {options.image!r}: build it with `{how}`") from None
    from envs.sandbox_image import source_fingerprint

    built_from = (image.labels or {}).get(SOURCE_LABEL)
    if built_from and built_from != source_fingerprint():
        log.warning(
            "sandbox image %s was built from other valuegym sources; "
            "rebuild it with `valuegym sandbox build`",
            options.image,
        )
    # one release image per sandbox tag: built for another release, it may lack this one's
    # requirements (an environment then fails at open, naming the missing module)
    built_for = (image.labels or {}).get(RELEASE_LABEL)
    for root in sorted({str(Path(d).resolve().parent) for d in options.release_dirs}):
        if built_for and built_for != root:
            log.warning(
                "release image %s was built for the release at %s, not %s; rebuild it with "
                "`valuegym sandbox build --release %s`",
                options.image,
                built_for,
                root,
                root,
            )


def _listening_socket(path: Path, mode: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        path.chmod(mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class SandboxContainer:
    """One running container with its server, the client for it and (on demand) a relay.

    Its host folder (`socket_dir`, private to this user) holds the server's socket, made here;
    only its `handoff/` subfolder is mounted, read-only, for the server to collect it.
    """

    def __init__(self, client: docker.DockerClient, options: SandboxOptions, runtime: Path):
        started = time.monotonic()
        self.socket_dir = Path(tempfile.mkdtemp(prefix="c-", dir=runtime))  # mode 0700
        handoff_dir = self.socket_dir / "handoff"
        handoff_dir.mkdir()
        handoff_dir.chmod(0o755)  # the container's user enters it (it is mounted read-only)
        self.socket_path = self.socket_dir / "server.sock"
        listener = _listening_socket(self.socket_path, 0o600, 128)
        handoff = _listening_socket(handoff_dir / HANDOFF_NAME, 0o666, 1)
        self.socket_id = socket_identity(self.socket_path)
        token = secrets.token_urlsafe(32)
        command = ["--listen-fd-from", f"{SOCKET_DIR}/{HANDOFF_NAME}"]
        command += ["--lease-s", str(options.lease_s)]
        command += ["--idle-exit-s", str(options.idle_exit_s), "--require-confinement"]
        command += limit_arguments(options)
        command += ["--spare-workers", str(options.spare_workers)]
        command += mcp_arguments(options)
        volumes = {str(handoff_dir): {"bind": SOCKET_DIR, "mode": "ro"}}
        for index, path in enumerate(options.env_paths):
            volumes[str(Path(path).resolve())] = {"bind": f"{ENV_PATHS_DIR}/{index}", "mode": "ro"}
            command += ["--env-path", f"{ENV_PATHS_DIR}/{index}"]
        for module in options.env_modules:
            command += ["--env-module", module]
        for path in options.release_dirs:
            resolved = str(Path(path).resolve())
            volumes[resolved] = {"bind": resolved, "mode": "ro"}
        try:
            self.container: Container = client.containers.run(
                options.image,
                command=command,
                name=f"valuegym-sandbox-{secrets.token_hex(4)}",
                detach=True,
                environment={**SERVER_ENVIRONMENT, CONTROL_DIGEST_ENV: token_digest(token)},
                volumes=volumes,
                labels={
                    LABEL: "1",
                    OWNER_LABEL: owner_label(),
                    RUNTIME_LABEL: str(self.socket_dir),
                },
                # No init process: docker's would be PID 1, dumpable and unconfined, and
                # environment code (same uid) could write into its memory through /proc/1/mem.
                # The server is PID 1 itself (non-dumpable, handles SIGTERM; its fork server
                # reaps the workers).
                **{**_hardening(options), "init": False},
            )
        except BaseException:
            listener.close()
            handoff.close()
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            raise
        self.name: str = self.container.name or self.container.id or "?"
        self._relay: UnixRelay | None = None
        self._relay_lock = threading.Lock()
        self.client = ServerClient(
            "http://sandbox",
            token,
            uds=str(self.socket_path),
            timeout_s=options.request_timeout_s,
            describe=self.describe,
            public_url=self.relay_url,
        )
        deadline = time.monotonic() + options.startup_timeout_s
        try:
            self._hand_over(handoff, listener, deadline)
        finally:
            listener.close()  # the server holds it now: once the container is gone, it is too
            handoff.close()
            with contextlib.suppress(OSError):
                (handoff_dir / HANDOFF_NAME).unlink()
        self._wait_ready(deadline)
        self.cold_start_s = time.monotonic() - started

    def _hand_over(self, handoff: socket.socket, listener: socket.socket, deadline: float) -> None:
        """Wait for the server to connect to the hand-over socket and send it `listener`."""
        wait = 0.05
        while True:
            handoff.settimeout(wait)
            try:
                conn, _ = handoff.accept()
                break
            except TimeoutError:
                if not self.alive() or time.monotonic() > deadline:
                    self._failed_to_start()
            wait = min(wait * 2, 0.5)  # each liveness check is a Docker API call
        with conn:
            conn.settimeout(5)
            socket.send_fds(conn, [b"listen"], [listener.fileno()])

    def _failed_to_start(self) -> NoReturn:
        reason, logs = self.describe(), self.logs()
        self.stop()
        raise SandboxUnavailable(
            f"sandbox container {self.name} did not start: {reason}"
            + (f"; its log ends: {logs}" if logs else "")
        ) from None

    def _wait_ready(self, deadline: float) -> None:
        delay = 0.005
        while True:
            try:
                self.client.health()
                return
            except SandboxUnavailable:
                if not self.alive() or time.monotonic() > deadline:
                    self._failed_to_start()
            time.sleep(delay)  # readiness poll of a server still starting
            delay = min(delay * 2, 0.1)

    def state(self) -> dict[str, Any] | None:
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return None
        return dict(self.container.attrs.get("State", {}))

    def alive(self) -> bool:
        state = self.state()
        return bool(state and state.get("Running"))

    def describe(self) -> str:
        state = self.state()
        if state and state.get("Running"):
            # a lost connection usually means the container is dying: let its state catch up
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                self.container.wait(timeout=1)
            state = self.state()
        if state is None:
            return f"sandbox container {self.name} no longer exists"
        if state.get("Paused"):
            return f"sandbox container {self.name} is paused (not answering)"
        if state.get("Running"):
            return f"sandbox container {self.name} is running but not answering"
        code = state.get("ExitCode")
        why = [f"exit code {code}"]
        if code == 137:
            why.append("killed")
        if state.get("OOMKilled"):
            why.append("out of memory")
        if state.get("Error"):
            why.append(str(state["Error"]))
        return f"sandbox container {self.name} {state.get('Status', 'stopped')} ({', '.join(why)})"

    def logs(self, lines: int = 5) -> str:
        with contextlib.suppress(docker.errors.DockerException):
            text = self.container.logs(tail=lines).decode(errors="replace").strip()
            return " | ".join(text.splitlines())
        return ""

    def relay_url(self) -> str:
        with self._relay_lock:
            if self._relay is None:
                self._relay = UnixRelay(str(self.socket_path), self.socket_id)
            return self._relay.url

    def stop(self) -> None:
        self.client.close()
        with self._relay_lock:
            if self._relay is not None:
                self._relay.close()
                self._relay = None
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class DockerSandbox:
    """A warm pool of `pool_size` sandbox containers; sessions are spread over them in turn.

    A container that dies costs the episodes it was hosting (recorded as errors by the runner)
    and is replaced on the next open.
    """

    name = "docker"

    def __init__(
        self, options: SandboxOptions | None = None, client: docker.DockerClient | None = None
    ) -> None:
        self.options = options or SandboxOptions.from_env()
        self._client = client
        self._containers: list[SandboxContainer] = []
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._runtime: Path | None = None

    @property
    def containers(self) -> list[SandboxContainer]:
        return list(self._containers)

    def docker(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def start(self) -> list[float]:
        """Bring the pool up to `pool_size` running containers; returns their cold starts (s)."""
        with self._lock:
            return self._fill()

    def _fill(self) -> list[float]:
        missing = self.options.pool_size - len(self._containers)
        if missing <= 0:
            return []
        if self._runtime is None:
            check_docker(self.options, self.docker())
            self._runtime = Path(tempfile.mkdtemp(prefix="valuegym-docker-"))
        client, runtime = self.docker(), self._runtime
        with ThreadPoolExecutor(max_workers=missing) as pool:
            futures = [
                pool.submit(SandboxContainer, client, self.options, runtime) for _ in range(missing)
            ]
            errors: list[BaseException] = []
            for future in futures:
                try:
                    self._containers.append(future.result())
                except (docker.errors.DockerException, SandboxError) as exc:
                    errors.append(exc)
        if errors:
            raise SandboxUnavailable(f"could not start sandbox containers: {errors[0]}")
        return [c.cold_start_s for c in self._containers[-missing:]]

    def _pick(self) -> SandboxContainer:
        """The next container in turn; one that stopped answering (paused, hung) is replaced."""
        while True:
            with self._lock:
                self._fill()
                container = self._containers[next(self._turn) % len(self._containers)]
            if not container.client.suspect or container.client.responsive():
                return container
            log.warning("replacing a sandbox container that hangs: %s", container.describe())
            self._retire(container)

    def _retire(self, container: SandboxContainer) -> None:
        with self._lock:
            if container in self._containers:
                self._containers.remove(container)
        container.stop()

    def open(self, task: Task, seed: int) -> RemoteSession:
        container = self._pick()
        try:
            return container.client.open(task, seed, self.options.lease_s)
        except SandboxUnavailable:
            if container.alive() and container.client.responsive():
                raise
            log.warning("replacing a sandbox container: %s", container.describe())
            self._retire(container)
        return self._pick().client.open(task, seed, self.options.lease_s)

    def close(self) -> None:
        with self._lock:
            containers, self._containers = self._containers, []
            for container in containers:
                container.stop()
            if self._runtime is not None:
                shutil.rmtree(self._runtime, ignore_errors=True)
                self._runtime = None


class PrunedContainer(BaseModel):
    name: str
    status: str
    owner: str
    reason: str


def _owner_gone(owner: str) -> bool | None:
    """Whether the orchestrator named by an owner label is gone; None when it is not ours to
    judge (another host or another user: only --all touches those)."""
    parts = owner.rsplit(":", 3)
    if len(parts) == 4:  # host:uid:pid:start-time
        host, uid, pid, started = parts
        if uid != str(os.getuid()):
            return None
    elif len(parts) == 2:  # older containers: host:pid
        (host, pid), started = parts, "?"
    else:
        return None
    if host != socket.gethostname() or not pid.isdigit():
        return None
    now = _start_time(int(pid))
    if now is None:
        return True
    return started != "?" and now != started  # the pid now belongs to another process


def prune_containers(
    client: docker.DockerClient | None = None, everything: bool = False
) -> list[PrunedContainer]:
    """Remove leaked sandbox containers, only this user's on this host: those whose
    orchestrator is gone, and those that exited. Other users' and other hosts' containers, and
    a live orchestrator's that are starting, paused or running, are left alone.

    With `everything`, remove every valuegym sandbox container, in use or not, anyone's.
    """
    client = client or docker_client()
    pruned = []
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        labels = container.labels or {}
        owner = labels.get(OWNER_LABEL, "")
        gone = _owner_gone(owner)
        if everything:
            reason = "--all"
        elif gone:
            reason = f"its orchestrator ({owner}) is gone; it was {container.status}"
        elif gone is False and container.status in ("exited", "dead"):
            reason = container.status  # ended for good; its live owner no longer uses it
        else:
            continue  # someone else's, or starting, paused or running for its live owner
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
        runtime = labels.get(RUNTIME_LABEL)
        if runtime and Path(runtime).name.startswith("c-"):
            shutil.rmtree(runtime, ignore_errors=True)
            with contextlib.suppress(OSError):  # the dead orchestrator's folder, once empty
                Path(runtime).parent.rmdir()
        pruned.append(
            PrunedContainer(
                name=container.name or container.id or "?",
                status=container.status,
                owner=owner,
                reason=reason,
            )
        )
    return pruned
