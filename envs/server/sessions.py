"""The server's session table: workers, agent tokens and leases.

Each session's environment runs in its own worker process (`envs.server.workers`); the table
holds what environment code must not reach: the agent tokens, the leases, and each session's
record as the server observed it. Every operation on a session runs under that session's lock,
so an agent's parallel calls are applied one at a time and logged in the order they ran. Leases
are renewed by any activity and reclaimed by `reap`, so an orchestrator that dies mid-episode
does not leak its sessions. The table's methods block (they wait on workers): the HTTP app runs
them in threads.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envs.protocol import Finalized, ToolResult, ToolSpec
from envs.server.api import OpenSession, SessionOpened
from envs.server.workers import ForkServer, OpenFailed, SessionFailed, WorkerLimits, WorkerSession
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


class Broken(SessionError):
    """The session's worker died, hung or misbehaved; every later request gets the reason."""

    status = 500
    error = "session_failed"


@dataclass
class HostedSession:
    session_id: str
    agent_token: str
    task: Task
    seed: int
    worker: WorkerSession
    lease_s: float
    expires_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)

    def opened(self) -> SessionOpened:
        return SessionOpened(
            session_id=self.session_id,
            agent_token=self.agent_token,
            tools=self.worker.tools,
            lease_s=self.lease_s,
        )


class SessionTable:
    """The sessions one server hosts."""

    def __init__(
        self,
        forks: ForkServer,
        default_lease_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        limits: WorkerLimits | None = None,
    ) -> None:
        self._forks = forks
        self._limits = limits or WorkerLimits()
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
        return list(self._forks.environments)

    def _worker(self, task: Task, seed: int) -> WorkerSession:
        try:
            return WorkerSession(self._forks, task, seed, self._limits)
        except OpenFailed as exc:
            raise CannotOpen(str(exc)) from None
        except SessionFailed as exc:
            raise Broken(str(exc)) from None

    # -- control plane -------------------------------------------------------------------------

    def open(self, request: OpenSession) -> SessionOpened:
        task = request.task
        worker = self._worker(task, request.seed)
        lease = request.lease_s or self._default_lease_s
        session = HostedSession(
            session_id=f"s-{secrets.token_hex(8)}",
            agent_token=secrets.token_urlsafe(32),
            task=task,
            seed=request.seed,
            worker=worker,
            lease_s=lease,
            expires_at=self._clock() + lease,
        )
        with self._lock:
            self._sessions[session.session_id] = session
        self._touch(session)
        return session.opened()

    def reset(self, session_id: str, seed: int | None) -> SessionOpened:
        """Start over in a fresh worker: nothing the old one's environment did survives."""
        session = self._get(session_id)
        with session.lock:
            session.seed = session.seed if seed is None else seed
            old, session.worker = session.worker, self._worker(session.task, session.seed)
            old.close()
        return session.opened()

    def finalize(self, session_id: str) -> Finalized:
        session = self._get(session_id)
        with session.lock:
            try:
                return session.worker.finalize()
            except SessionFailed as exc:
                raise Broken(str(exc)) from None

    def close(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            raise NoSuchSession(f"no session {session_id!r} (closed, expired or never opened)")
        session.worker.close()
        self.mark_activity()

    def reap(self) -> list[str]:
        """Close every session whose lease ran out; returns their ids."""
        now = self._clock()
        with self._lock:
            expired = [s for s in self._sessions.values() if s.expires_at <= now]
            for session in expired:
                del self._sessions[session.session_id]
        for session in expired:
            session.worker.close()
        return [s.session_id for s in expired]

    def close_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.worker.close()

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
        return session.worker.tools

    def call(self, session: HostedSession, tool: str, arguments: Any) -> ToolResult:
        with session.lock:
            try:
                result = session.worker.call(tool, arguments)
            except SessionFailed as exc:
                raise Broken(str(exc)) from None
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
