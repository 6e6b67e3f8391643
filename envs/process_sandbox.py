"""The process backend: one local sandbox server subprocess hosts every session.

It isolates the orchestrator from environment crashes and exercises the same wire protocol as
the docker backend, but runs as the same user with the same network and files: it is not a
security boundary (see the README's security model).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from envs.remote import RemoteSession, SandboxUnavailable, ServerClient
from envs.sandbox_options import SERVER_ENVIRONMENT, SandboxOptions
from envs.server.api import CONTROL_TOKEN_ENV
from envs.task import Task


def server_command(options: SandboxOptions, *extra: str) -> list[str]:
    """The server's command line for `options` (its control token travels by environment)."""
    command = [sys.executable, "-m", "envs.server", "--lease-s", str(options.lease_s)]
    command += ["--idle-exit-s", str(options.idle_exit_s)]
    for module in options.env_modules:
        command += ["--env-module", module]
    for path in options.env_paths:
        command += ["--env-path", str(path)]
    return [*command, *extra]


class ServerProcess:
    """A started server subprocess and a client for it."""

    def __init__(self, options: SandboxOptions) -> None:
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix="valuegym-server-", suffix=".log", delete=False
        )
        token = secrets.token_urlsafe(32)
        self.process = subprocess.Popen(
            server_command(options, "--host", "127.0.0.1", "--port", "0"),
            env={**os.environ, **SERVER_ENVIRONMENT, CONTROL_TOKEN_ENV: token},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        url = self._wait_ready(options.startup_timeout_s)
        self.client = ServerClient(
            url, token, timeout_s=options.request_timeout_s, describe=self.describe
        )

    def _wait_ready(self, timeout_s: float) -> str:
        assert self.process.stdout is not None
        timer = threading.Timer(timeout_s, self.process.kill)
        timer.start()
        try:
            line = self.process.stdout.readline()
        finally:
            timer.cancel()
        try:
            return str(json.loads(line)["url"])
        except (ValueError, KeyError):
            self.process.kill()
            self.process.wait()
            raise SandboxUnavailable(
                f"the sandbox server did not start; {self.describe()}"
            ) from None

    def alive(self) -> bool:
        return self.process.poll() is None

    def describe(self) -> str:
        try:  # a lost connection usually means the process is dying: let it finish
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        state = "running but not answering" if code is None else f"exited with status {code}"
        tail = Path(self._log.name).read_text(errors="replace").strip().splitlines()[-5:]
        where = f"sandbox server process {self.process.pid} ({state})"
        return f"{where}; its last log lines: {' | '.join(tail)}" if tail else where

    def stop(self) -> None:
        self.client.close()
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


class ProcessSandbox:
    """Starts its server on first use and again if it died, so one crash costs one episode."""

    name = "process"

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions.from_env()
        self._server: ServerProcess | None = None
        self._lock = threading.Lock()

    def server(self) -> ServerProcess:
        with self._lock:
            if self._server is None or not self._server.alive():
                if self._server is not None:
                    self._server.stop()
                self._server = ServerProcess(self.options)
            return self._server

    def open(self, task: Task, seed: int) -> RemoteSession:
        return self.server().client.open(task, seed, self.options.lease_s)

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop()
                self._server = None
