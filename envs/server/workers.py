"""Session workers: every session's environment runs in a process of its own.

A *fork server* (`envs.server.forkserver`, a fresh interpreter that has imported the
environments and holds no secret) forks one confined worker per session. The server (or the
in-process sandbox, for untrusted environments) talks to a worker over a private socket pair
with length-prefixed JSON messages, and treats it as hostile: every reply is size-limited,
time-limited and validated, and the session's record is assembled here from what the server
observed, so environment code can alter neither another session nor the record's shape:

- the tool log is built here, one entry per call this side sent (step numbers, tool names and
  arguments as sent), holding the result the agent was given;
- the final state comes from the worker; its diff from the initial state is computed here.

A worker that dies, breaks the protocol or overruns the per-call time limit is killed and its
session *fails*: every later request on it gets the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import jsonpatch
from pydantic import BaseModel, Field, ValidationError

from envs.protocol import (
    DEFAULT_MCP_NAME,
    Finalized,
    ToolLogEntry,
    ToolResult,
    ToolSpec,
    bounded_arguments,
)
from envs.sandbox_options import SERVER_ENVIRONMENT
from envs.task import Task

_HEADER = struct.Struct("!I")
MiB = 1 << 20


class WorkerLimits(BaseModel):
    """What one session may take: time per call, bytes per reply, the size of its tool log.

    They keep one session from taking down the server (and with it every other session of a
    container): the server holds each reply, the tool log and, at finalize, the final state,
    its diff and their JSON at once, so the defaults leave room for a few such sessions in a
    512 MB container.
    """

    call_timeout_s: float = Field(default=60.0, gt=0, description="Per tool call and finalize.")
    open_timeout_s: float = Field(default=60.0, gt=0, description="Environment start-up.")
    max_reply_bytes: int = Field(
        default=16 * MiB, gt=0, description="Largest worker reply: a tool result, the state."
    )
    max_log_bytes: int = Field(
        default=64 * MiB, gt=0, description="Largest tool log (arguments and results)."
    )
    max_calls: int = Field(default=10_000, gt=0, description="Most tool calls per session.")
    require_confinement: bool = Field(
        default=False, description="Refuse to run workers without the seccomp filter."
    )


class ProtocolError(RuntimeError):
    """A peer sent something that is not a well-formed message."""


class OpenFailed(RuntimeError):
    """The worker could not start the task's environment (the message says why)."""


class SessionFailed(RuntimeError):
    """The session's worker died, hung or misbehaved; the session cannot go on."""


# -- framing ------------------------------------------------------------------------------------


def send_message(sock: socket.socket, message: dict[str, Any] | bytes) -> None:
    data = message if isinstance(message, bytes) else json.dumps(message).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        chunk = sock.recv(min(size - len(chunks), MiB))
        if not chunk:
            raise EOFError
        chunks += chunk
    return bytes(chunks)


def recv_message(
    sock: socket.socket, limit: int | None = None, timeout_s: float | None = None
) -> dict[str, Any]:
    """One message; `EOFError` when the peer is gone, `TimeoutError` past `timeout_s`."""
    return recv_sized(sock, limit, timeout_s)[0]


def recv_sized(
    sock: socket.socket, limit: int | None = None, timeout_s: float | None = None
) -> tuple[dict[str, Any], int]:
    """One message and its size in bytes (see `recv_message`)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size, deadline))
    if limit is not None and size > limit:
        raise ProtocolError(
            f"its reply is {size} bytes, over the sandbox's limit of {limit} bytes "
            "(a tool result or the state is too large)"
        )
    try:
        message = json.loads(_recv_exact(sock, size, deadline))
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    return message, size


# -- the fork server, seen from its parent -------------------------------------------------------


class ForkServer:
    """A started fork server: `spawn()` gives a socket to a new, confined session worker."""

    def __init__(
        self,
        env_modules: Sequence[str] = (),
        env_paths: Sequence[Path] = (),
        *,
        require_confinement: bool = False,
        spares: int = 2,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self._lock = threading.Lock()
        self._sock, theirs = socket.socketpair()
        command = [sys.executable, "-P", *(["-s"] if sys.flags.no_user_site else [])]
        command += ["-m", "envs.server.forkserver"]
        command += ["--fd", str(theirs.fileno())]
        for module in env_modules:
            command += ["--env-module", module]
        for path in env_paths:
            command += ["--env-path", str(path)]
        if require_confinement:
            command.append("--require-confinement")
        command += ["--spares", str(spares)]
        self.process = subprocess.Popen(
            command,
            pass_fds=[theirs.fileno()],
            env=_clean_environment(),
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else subprocess.DEVNULL,
            cwd="/",
        )
        theirs.close()
        try:
            ready = recv_message(self._sock, MiB, startup_timeout_s)
        except (EOFError, TimeoutError, ProtocolError, OSError) as exc:
            self.close()
            raise RuntimeError(
                f"the session fork server did not start ({type(exc).__name__})"
            ) from None
        if "error" in ready:
            self.close()
            raise RuntimeError(str(ready["error"]))
        self.environments: list[str] = list(ready.get("environments", []))
        self.confined: bool = bool(ready.get("confined"))

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, timeout_s: float = 30.0) -> tuple[socket.socket, int]:
        """A new worker: the socket to talk to it and its pid."""
        try:
            with self._lock:
                self._sock.sendall(b"spawn")
                self._sock.settimeout(timeout_s)
                message, fds, _, _ = socket.recv_fds(self._sock, 1024, 1)
            if not message or not fds:
                raise EOFError
            channel = socket.socket(fileno=fds[0])
            pid = int(json.loads(message)["pid"])
        except (EOFError, TimeoutError, ValueError, KeyError, OSError) as exc:
            raise SessionFailed(
                f"the session fork server is gone ({type(exc).__name__}); "
                "the sandbox server must be restarted"
            ) from None
        return channel, pid

    def close(self) -> None:
        """Stop the fork server; it kills every worker it forked."""
        with contextlib.suppress(OSError):
            self._sock.close()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


_KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR", "SYSTEMROOT")


def _clean_environment() -> dict[str, str]:
    """Workers see only harmless variables (never a token, a key or a proxy setting), and those
    that make environments reproducible (`SERVER_ENVIRONMENT`)."""
    kept = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
    return {**kept, **SERVER_ENVIRONMENT}


# -- one session, seen from the server ----------------------------------------------------------


class _Pid:
    """A worker's pid, signalled through a pidfd where there is one (no pid-reuse accidents)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self._fd = os.pidfd_open(pid)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            if self._fd is not None:
                signal.pidfd_send_signal(self._fd, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        fd, self._fd = self._fd, None  # taken first: a second close must not close a reused fd
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


class WorkerSession:
    """One episode hosted by a worker process; implements `envs.sandbox.Session`.

    Calls are not thread-safe: the caller serialises them (the server holds a per-session lock).
    """

    agent_url: str | None = None
    mcp_url: str | None = None
    agent_token: str | None = None
    mcp_name: str = DEFAULT_MCP_NAME

    def __init__(
        self,
        forks: ForkServer,
        task: Task,
        seed: int,
        limits: WorkerLimits | None = None,
        session_id: str | None = None,
    ) -> None:
        self.session_id = session_id or f"w-{secrets.token_hex(8)}"
        self.limits = limits or WorkerLimits()
        self.failure: str | None = None
        self.log: list[ToolLogEntry] = []
        self._log_bytes = 0
        # held so the fork server outlives a sandbox object dropped while this session is open
        # (its socket closing would make it kill every worker, this one included)
        self._forks = forks
        self._sock, pid = forks.spawn()
        self._pid = _Pid(pid)
        body = {"op": "open", "task": task.model_dump(mode="json", by_alias=True), "seed": seed}
        reply = self._request(body, self.limits.open_timeout_s, f"open {task.id}")
        if "error" in reply:
            self.close()
            raise OpenFailed(str(reply["error"]))
        try:
            self.tools = [ToolSpec.model_validate(spec) for spec in reply["tools"]]
            self._initial = _state(reply)
        except (KeyError, TypeError, ValidationError, ProtocolError) as exc:
            self._fail(f"open {task.id}: the environment sent a malformed reply ({exc})")

    def call(self, tool: str, arguments: Any) -> ToolResult:
        if len(self.log) >= self.limits.max_calls or self._log_bytes > self.limits.max_log_bytes:
            self._fail(
                f"tool {tool}: this session's tool log is full ({len(self.log)} calls, "
                f"{self._log_bytes} bytes; the sandbox keeps at most {self.limits.max_calls} "
                f"calls and {self.limits.max_log_bytes} bytes per session)"
            )
        arguments = bounded_arguments(arguments)  # the environment never sees larger ones
        reply, size = self._request_sized(
            {"op": "call", "tool": tool, "arguments": arguments}, None, tool
        )
        self._log_bytes += size  # the entry: the arguments (twice: as sent, as normalised), result
        try:
            entry = ToolLogEntry.model_validate(reply["entry"])
        except (KeyError, ValidationError) as exc:
            self._fail(f"tool {tool}: the environment sent a malformed reply ({exc})")
        entry = entry.model_copy(
            update={
                "step": len(self.log),
                "tool": tool,
                "arguments": arguments if isinstance(arguments, dict) else {},
            }
        )
        self.log.append(entry)
        return entry.result

    def final_state(self) -> dict[str, Any]:
        reply = self._request({"op": "state"}, None, "finalize")
        try:
            return _state(reply)
        except ProtocolError as exc:
            self._fail(f"finalize: {exc}")

    def finalize(self) -> Finalized:
        final = self.final_state()
        diff = jsonpatch.make_patch(self._initial, final).patch
        return Finalized(final_state=final, state_diff=diff, tool_log=list(self.log))

    def close(self) -> None:
        """Kill the worker (it has nothing to flush); the fork server removes its folder."""
        self._pid.kill()
        self._pid.close()
        with contextlib.suppress(OSError):
            self._sock.close()

    # -- helpers -------------------------------------------------------------------------------

    def _request(self, body: dict[str, Any], timeout_s: float | None, what: str) -> dict[str, Any]:
        return self._request_sized(body, timeout_s, what)[0]

    def _request_sized(
        self, body: dict[str, Any], timeout_s: float | None, what: str
    ) -> tuple[dict[str, Any], int]:
        if self.failure is not None:
            raise SessionFailed(self.failure)
        timeout_s = timeout_s or self.limits.call_timeout_s
        try:
            send_message(self._sock, body)
            return recv_sized(self._sock, self.limits.max_reply_bytes, timeout_s)
        except TimeoutError:
            self._fail(
                f"{what} did not finish within {timeout_s:g} s (the sandbox's per-call limit); "
                "its environment was stopped"
            )
        except ProtocolError as exc:
            self._fail(f"{what}: the environment broke the sandbox protocol: {exc}")
        except (EOFError, OSError):
            self._fail(
                f"{what}: the environment's process ended (it crashed or was killed, "
                "e.g. for using too much memory)"
            )

    def _fail(self, reason: str) -> NoReturn:
        self.failure = reason
        self.close()
        raise SessionFailed(reason)


def _state(reply: dict[str, Any]) -> dict[str, Any]:
    state = reply.get("state")
    if not isinstance(state, dict):
        raise ProtocolError("the environment's state is not a JSON object")
    return state
