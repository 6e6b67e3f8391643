"""The server's session table: environments, agent tokens and leases.

Every operation on a session runs under that session's lock, so an agent's parallel calls are
applied one at a time and logged in the order they ran. Leases are renewed by any activity and
reclaimed by `reap`, so an orchestrator that dies mid-episode does not leak its sessions.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from envs.protocol import Finalized, ToolResult, ToolSpec
from envs.registry import UnknownEnvironment, environment_for, environments
from envs.sdk import EnvironmentLoadError, ToolEnv, format_validation_error
from envs.server.api import OpenSession, SessionOpened
from envs.task import Task


class SessionError(Exception):
    """A request the table refuses; `status` is the HTTP status the server answers with."""

    status = 400
    error = "bad_request"


class NoSuchSession(SessionError):
    status = 404
    error = "no_such_session"


class Forbidden(SessionError):
    status = 403
    error = "forbidden"


class CannotOpen(SessionError):
    status = 422
    error = "cannot_open"


@dataclass
class HostedSession:
    session_id: str
    agent_token: str
    task: Task
    seed: int
    env: ToolEnv
    lease_s: float
    expires_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)

    def opened(self) -> SessionOpened:
        return SessionOpened(
            session_id=self.session_id,
            agent_token=self.agent_token,
            tools=self.env.tool_specs(),
            lease_s=self.lease_s,
        )


class SessionTable:
    """The sessions one server hosts."""

    def __init__(
        self,
        extra_environments: Mapping[str, type[ToolEnv]] | None = None,
        default_lease_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._extra = dict(extra_environments or {})
        self._default_lease_s = default_lease_s
        self._clock = clock
        self._sessions: dict[str, HostedSession] = {}
        self._lock = threading.Lock()
        self.last_activity = clock()

    def __len__(self) -> int:
        return len(self._sessions)

    def mark_activity(self) -> None:
        self.last_activity = self._clock()

    def idle_s(self) -> float:
        """Seconds since the last request of any kind."""
        return self._clock() - self.last_activity

    @property
    def environment_names(self) -> list[str]:
        return sorted({*environments(), *self._extra})

    def _environment(self, task: Task) -> type[ToolEnv]:
        try:
            return environment_for(task, self._extra)
        except UnknownEnvironment as exc:
            raise CannotOpen(str(exc)) from exc
        except (OSError, ValueError, KeyError) as exc:  # an imported task's release files
            raise CannotOpen(f"task {task.id}: {type(exc).__name__}: {exc}") from exc

    # -- control plane -------------------------------------------------------------------------

    def open(self, request: OpenSession) -> SessionOpened:
        task = request.task
        env = self._environment(task)()
        _reset(env, task, request.seed)
        lease = request.lease_s or self._default_lease_s
        session = HostedSession(
            session_id=f"s-{secrets.token_hex(8)}",
            agent_token=secrets.token_urlsafe(32),
            task=task,
            seed=request.seed,
            env=env,
            lease_s=lease,
            expires_at=self._clock() + lease,
        )
        with self._lock:
            self._sessions[session.session_id] = session
        self._touch(session)
        return session.opened()

    def reset(self, session_id: str, seed: int | None) -> SessionOpened:
        session = self._get(session_id)
        with session.lock:
            session.seed = session.seed if seed is None else seed
            _reset(session.env, session.task, session.seed)
        return session.opened()

    def finalize(self, session_id: str) -> Finalized:
        session = self._get(session_id)
        with session.lock:
            return session.env.finalize()

    def close(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            raise NoSuchSession(f"no session {session_id!r} (closed, expired or never opened)")
        with session.lock:
            session.env.close()
        self.mark_activity()

    def reap(self) -> list[str]:
        """Close every session whose lease ran out; returns their ids."""
        now = self._clock()
        with self._lock:
            expired = [s for s in self._sessions.values() if s.expires_at <= now]
            for session in expired:
                del self._sessions[session.session_id]
        for session in expired:
            with session.lock:
                session.env.close()
        return [s.session_id for s in expired]

    # -- agent plane ---------------------------------------------------------------------------

    def for_agent(self, session_id: str, token: str | None) -> HostedSession:
        """The session `token` was issued for; any other token gets `Forbidden`."""
        session = self._sessions.get(session_id)
        if session is None or not tokens_match(session.agent_token, token):
            raise Forbidden("this agent token is not valid for this session")
        self._touch(session)
        return session

    @staticmethod
    def tools(session: HostedSession) -> list[ToolSpec]:
        with session.lock:
            return session.env.tool_specs()

    def call(self, session: HostedSession, tool: str, arguments: Any) -> ToolResult:
        with session.lock:
            result = session.env.call(tool, arguments)
        self._touch(session)
        return result

    # -- helpers -------------------------------------------------------------------------------

    def _get(self, session_id: str) -> HostedSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise NoSuchSession(f"no session {session_id!r} (closed, expired or never opened)")
        self._touch(session)
        return session

    def _touch(self, session: HostedSession) -> None:
        now = self._clock()
        session.expires_at = now + session.lease_s
        self.last_activity = now


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time token comparison (a timing leak would let an agent guess tokens)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _reset(env: ToolEnv, task: Task, seed: int) -> None:
    try:
        env.reset(seed=seed, options={"task": task})
    except ValidationError as exc:
        problems = "; ".join(format_validation_error(exc, "initial_state"))
        raise CannotOpen(f"task {task.id}: {problems}") from exc
    except EnvironmentLoadError as exc:
        raise CannotOpen(f"task {task.id}: {exc}") from exc
