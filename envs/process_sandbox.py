"""The process backend: one local sandbox server subprocess hosts every session.

It isolates the orchestrator from environment crashes and hangs and exercises the same wire
protocol as the docker backend, each session in its own worker process with a private working
folder; but it runs as the same user with the same network and files: it is not a security
boundary (see the README's security model).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from envs.remote import RemoteSession, SandboxUnavailable, ServerClient
from envs.sandbox_options import SERVER_ENVIRONMENT, SandboxOptions
from envs.server.api import CONTROL_DIGEST_ENV, token_digest
from envs.task import Task

LOG_LINES = 50
log = logging.getLogger(__name__)


def mcp_arguments(options: SandboxOptions) -> list[str]:
    """The server flags that name the MCP endpoint and set its instructions."""
    flags = ["--mcp-name", options.mcp_name]
    return flags + (
        ["--mcp-instructions", options.mcp_instructions] if options.mcp_instructions else []
    )


def limit_arguments(options: SandboxOptions) -> list[str]:
    """The server flags that bound what one session may take (time, request size, calls)."""
    return [
        *("--call-timeout-s", str(options.call_timeout_s)),
        *("--max-request-bytes", str(options.max_request_bytes)),
        *("--max-inflight", str(options.max_inflight)),
    ]


def server_command(options: SandboxOptions, *extra: str) -> list[str]:
    """The server's command line for `options` (its control token's digest travels by
    environment). `-P`: the working folder is not on the import path."""
    command = [sys.executable, "-P", "-m", "envs.server", "--lease-s", str(options.lease_s)]
    command += ["--idle-exit-s", str(options.idle_exit_s)]
    command += limit_arguments(options)
    command += ["--spare-workers", str(options.spare_workers)]
    command += mcp_arguments(options)
    for module in options.env_modules:
        command += ["--env-module", module]
    for path in options.env_paths:
        command += ["--env-path", str(Path(path).resolve())]
    return [*command, *extra]


class ServerProcess:
    """A started server subprocess and a client for it.

    The server runs in a private temporary working folder, in a session of its own (a Ctrl-C
    in the terminal reaches the orchestrator, which stops it), and exits by itself when the
    orchestrator is gone. Its output is read continuously, the last lines kept for error
    messages, so a chatty environment can neither fill a pipe nor the disk.
    """

    def __init__(self, options: SandboxOptions) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="valuegym-server-"))
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        token = secrets.token_urlsafe(32)
        command = server_command(options, "--host", "127.0.0.1", "--port", "0")
        command += ["--parent-pid", str(os.getpid())]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **SERVER_ENVIRONMENT, CONTROL_DIGEST_ENV: token_digest(token)},
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
            errors="replace",
        )
        self._ready = threading.Event()
        self._url: str | None = None
        self._reader = threading.Thread(target=self._drain, name="valuegym-server-log", daemon=True)
        self._reader.start()
        url = self._wait_ready(options.startup_timeout_s)
        self.client = ServerClient(
            url, token, timeout_s=options.request_timeout_s, describe=self.describe
        )

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if self._url is None:
                try:
                    self._url = str(json.loads(line)["url"])
                    self._ready.set()
                    continue
                except (ValueError, KeyError, TypeError):
                    pass
            self.tail.append(line.rstrip("\n")[:500])
        self._ready.set()

    def _wait_ready(self, timeout_s: float) -> str:
        self._ready.wait(timeout_s)
        if self._url is None:
            self.process.kill()
            self.process.wait()
            self._reader.join(timeout=5)
            reason = self.describe()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise SandboxUnavailable(f"the sandbox server did not start; {reason}")
        return self._url

    def alive(self) -> bool:
        return self.process.poll() is None

    def describe(self) -> str:
        try:  # a lost connection usually means the process is dying: let it finish
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        state = "running but not answering" if code is None else f"exited with status {code}"
        if code is None and _stopped(self.process.pid):
            state = "stopped by a signal, not answering"
        tail = list(self.tail)[-5:]
        where = f"sandbox server process {self.process.pid} ({state})"
        return f"{where}; its last log lines: {' | '.join(tail)}" if tail else where

    def stop(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        if self.alive():
            with contextlib.suppress(OSError):  # a stopped (SIGSTOP) server must see SIGTERM
                os.killpg(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP, a debugger), from /proc where there is one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "Tt"
    except (OSError, IndexError):
        return False


class ProcessSandbox:
    """Starts its server on first use and again if it died, so one crash costs one episode."""

    name = "process"

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions.from_env()
        self._server: ServerProcess | None = None
        self._lock = threading.Lock()

    def server(self) -> ServerProcess:
        """The running server; a dead one, or one that stopped answering, is replaced."""
        with self._lock:
            server = self._server
            hung = server is not None and server.alive() and server.client.suspect
            if hung and server is not None and not server.client.responsive():
                log.warning("replacing a sandbox server that hangs: %s", server.describe())
                server.stop()
            if server is None or not server.alive():
                if server is not None:
                    server.stop()
                self._server = ServerProcess(self.options)
            return self._server

    def open(self, task: Task, seed: int) -> RemoteSession:
        return self.server().client.open(task, seed, self.options.lease_s)

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None
