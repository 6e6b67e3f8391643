"""The sandbox server's HTTP app: control plane, agent plane (HTTP JSON and MCP), leases.

Control plane (orchestrator only, `Authorization: Bearer <control token>`):
    GET    /control/health
    POST   /control/sessions                    OpenSession -> SessionOpened
    POST   /control/sessions/{id}/reset         ResetSession -> SessionOpened
    POST   /control/sessions/{id}/finalize      -> Finalized
    DELETE /control/sessions/{id}
Agent plane (`Authorization: Bearer <that session's agent token>`):
    GET    /sessions/{id}/tools                 -> [ToolSpec]
    POST   /sessions/{id}/call                  AgentCall -> ToolResult
                                                (`?view=agent`: the result as agents see it)
    POST   /sessions/{id}/mcp                   MCP Streamable HTTP (GET: 405, no SSE stream)

The agent plane is what an untrusted agent reaches, so it is bounded: request bodies over
`max_request_bytes` get 413 before they are parsed, a session has at most `max_inflight`
requests in progress (429 beyond), and MCP offers no long-lived GET streams. Every refused
request (401, 403, 405, 413, 429) is written to the audit log (`valuegym.sandbox.audit`, one
JSON line each on the server's stderr) with what was refused and why, never a token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from importlib.metadata import version
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from envs.protocol import DEFAULT_MCP_NAME, ToolSpec
from envs.sdk import format_validation_error
from envs.server.api import AgentCall, ApiError, Health, OpenSession, ResetSession, token_digest
from envs.server.mcp_plane import SESSION_SCOPE_KEY, mcp_manager
from envs.server.sessions import HostedSession, SessionError, SessionTable, tokens_match

_TOOL_LIST = TypeAdapter(list[ToolSpec])
_M = TypeVar("_M", bound=BaseModel)
MiB = 1 << 20

audit = logging.getLogger("valuegym.sandbox.audit")


class Unauthorized(SessionError):
    status = 401
    error = "unauthorized"


class TooManyRequests(SessionError):
    status = 429
    error = "too_many_requests"


def log_rejection(scope: Scope, status: int, error: str, detail: str) -> None:
    """One audit line for a refused request: where it came from, what it asked, why not."""
    client = scope.get("client")
    audit.warning(
        json.dumps(
            {
                "event": "rejected",
                "status": status,
                "error": error,
                "detail": detail,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "client": f"{client[0]}:{client[1]}" if client else None,
                "time": round(time.time(), 3),
            }
        )
    )


def _json(body: BaseModel | bytes, status: int = 200) -> Response:
    content = body if isinstance(body, bytes) else body.model_dump_json()
    return Response(content, status_code=status, media_type="application/json")


def _error(status: int, error: str, detail: str) -> Response:
    return _json(ApiError(error=error, detail=detail), status)


def bearer(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def _parse(request: Request, model: type[_M]) -> _M:
    body = await request.body()
    return model.model_validate_json(body or b"{}")


class SandboxServer:
    """The routes and their state: one session table and the control token's digest.

    Environment code runs in the sessions' worker processes; the requests that wait on a worker
    run in threads, so a slow tool holds up only its own session.
    """

    def __init__(
        self,
        table: SessionTable,
        control_digest: str,
        *,
        idle_exit_s: float | None = None,
        on_idle: Callable[[], None] | None = None,
        reap_interval_s: float = 1.0,
        parent_pid: int | None = None,
        mcp_name: str = DEFAULT_MCP_NAME,
        mcp_instructions: str | None = None,
        max_request_bytes: int = 4 * MiB,
        max_inflight: int = 8,
    ) -> None:
        if not control_digest:
            raise ValueError("the sandbox server needs its control token's digest")
        self.table = table
        self._control_digest = control_digest
        self._idle_exit_s = idle_exit_s
        self._on_idle = on_idle
        self._reap_interval_s = reap_interval_s
        self._parent_pid = parent_pid
        self._started = time.monotonic()
        self._version = version("valuegym")
        self._mcp_name = mcp_name
        self._mcp = mcp_manager(table, mcp_name, mcp_instructions)
        self.max_request_bytes = max_request_bytes
        self.max_inflight = max_inflight
        self._inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()

    # -- auth ----------------------------------------------------------------------------------

    def _control(self, request: Request) -> None:
        token = bearer(request.headers)
        if token is None:
            raise Unauthorized("the control plane needs 'Authorization: Bearer <control token>'")
        if not tokens_match(self._control_digest, token_digest(token)):
            raise Unauthorized("not a control token (agent tokens cannot use the control plane)")
        self.table.mark_activity()

    def _agent(self, scope: Scope) -> HostedSession:
        token = bearer(Headers(scope=scope))
        if token is None:
            raise Unauthorized("the agent plane needs 'Authorization: Bearer <agent token>'")
        return self.table.for_agent(scope["path_params"]["session_id"], token)

    @contextlib.contextmanager
    def _slot(self, session: HostedSession) -> Iterator[None]:
        """One of the session's `max_inflight` request slots, or `TooManyRequests`."""
        with self._inflight_lock:
            busy = self._inflight.get(session.session_id, 0)
            if busy >= self.max_inflight:
                raise TooManyRequests(
                    f"this session already has {busy} requests in progress (the sandbox's "
                    f"limit is {self.max_inflight}); wait for their results"
                )
            self._inflight[session.session_id] = busy + 1
        try:
            yield
        finally:
            with self._inflight_lock:
                left = self._inflight.pop(session.session_id) - 1
                if left:
                    self._inflight[session.session_id] = left

    # -- control plane -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        self._control(request)
        return _json(
            Health(
                version=self._version,
                sessions=len(self.table),
                environments=self.table.environment_names,
                uptime_s=round(time.monotonic() - self._started, 3),
                idle_exit_s=self._idle_exit_s,
            )
        )

    async def open_session(self, request: Request) -> Response:
        self._control(request)
        body = await _parse(request, OpenSession)
        opened = await anyio.to_thread.run_sync(self.table.open, body)
        opened.mcp_name = self._mcp_name
        return _json(opened, 201)

    async def reset_session(self, request: Request) -> Response:
        self._control(request)
        body = await _parse(request, ResetSession)
        session_id = request.path_params["session_id"]
        opened = await anyio.to_thread.run_sync(self.table.reset, session_id, body.seed)
        opened.mcp_name = self._mcp_name
        return _json(opened)

    async def finalize_session(self, request: Request) -> Response:
        self._control(request)
        session_id = request.path_params["session_id"]
        return _json(await anyio.to_thread.run_sync(self.table.finalize, session_id))

    async def close_session(self, request: Request) -> Response:
        self._control(request)
        await anyio.to_thread.run_sync(self.table.close, request.path_params["session_id"])
        return Response(status_code=204)

    # -- agent plane ---------------------------------------------------------------------------

    async def list_tools(self, request: Request) -> Response:
        session = self._agent(request.scope)
        return _json(_TOOL_LIST.dump_json(self.table.tools(session)))

    async def call_tool(self, request: Request) -> Response:
        session = self._agent(request.scope)
        with self._slot(session):
            body = await request.body()
            agent_view = request.query_params.get("view") == "agent"  # the shell tool's

            def parse_and_call() -> BaseModel | bytes:  # off the event loop: big bodies are slow
                call = AgentCall.model_validate_json(body or b"{}")
                result = self.table.call(session, call.tool, call.arguments)
                return result.agent_text().encode() if agent_view else result

            return _json(await anyio.to_thread.run_sync(parse_and_call))

    async def mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            session = self._agent(scope)
            if scope["method"] == "GET":  # the spec's answer for "no server-sent stream"
                raise NoStream("this MCP endpoint offers no GET stream; send requests by POST")
            with self._slot(session):
                scope[SESSION_SCOPE_KEY] = session
                await self._mcp.handle_request(scope, receive, send)
        except SessionError as exc:
            log_rejection(scope, exc.status, exc.error, str(exc))
            response = _error(exc.status, exc.error, str(exc))
            if isinstance(exc, NoStream):
                response.headers["allow"] = "POST, DELETE"
            await response(scope, receive, send)

    # -- lifecycle -----------------------------------------------------------------------------

    async def _reaper(self) -> None:
        while True:
            await anyio.sleep(self._reap_interval_s)
            await anyio.to_thread.run_sync(self.table.reap)
            idle = self.table.idle_s()
            idle_exit = self._idle_exit_s and not len(self.table) and idle >= self._idle_exit_s
            orphaned = self._parent_pid is not None and os.getppid() != self._parent_pid
            if idle_exit or orphaned:
                if self._on_idle:
                    self._on_idle()
                return

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with self._mcp.run(), anyio.create_task_group() as tasks:
            tasks.start_soon(self._reaper)
            yield
            tasks.cancel_scope.cancel()

    def app(self) -> Starlette:
        async def on_session_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, SessionError)
            if exc.status in AUDITED:
                log_rejection(request.scope, exc.status, exc.error, str(exc))
            return _error(exc.status, exc.error, str(exc))

        async def on_validation_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ValidationError)
            return _error(422, "invalid_request", "; ".join(format_validation_error(exc)))

        routes = [
            Route("/control/health", self.health, methods=["GET"]),
            Route("/control/sessions", self.open_session, methods=["POST"]),
            Route("/control/sessions/{session_id}/reset", self.reset_session, methods=["POST"]),
            Route(
                "/control/sessions/{session_id}/finalize", self.finalize_session, methods=["POST"]
            ),
            Route("/control/sessions/{session_id}", self.close_session, methods=["DELETE"]),
            Route("/sessions/{session_id}/tools", self.list_tools, methods=["GET"]),
            Route("/sessions/{session_id}/call", self.call_tool, methods=["POST"]),
            Route("/sessions/{session_id}/mcp", _AsgiEndpoint(self.mcp)),
        ]
        handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
            SessionError: on_session_error,
            ValidationError: on_validation_error,
        }
        app = Starlette(routes=routes, exception_handlers=handlers, lifespan=self.lifespan)
        return BodyLimit(app, self.max_request_bytes)  # type: ignore[return-value]


class NoStream(SessionError):
    status = 405
    error = "method_not_allowed"


AUDITED = {401, 403, 405, 413, 429}
"""The statuses of refused requests, which the audit log records."""

DRAIN_LIMIT = 256 * MiB
"""A refused body is read and dropped up to this size (so the client sees the 413 instead of a
broken pipe); past it the connection is closed."""


class BodyLimit:
    """Refuses agent-plane requests whose body is over `limit` bytes with 413, without
    holding more than `limit` bytes: what an agent sends cannot exhaust the server's memory."""

    def __init__(self, app: Starlette, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/sessions/"):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        size = int(declared) if declared.isdigit() else 0
        chunks: list[bytes] = []
        more = size <= self.limit
        received = 0
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                size = max(size, received)
                break
            chunks.append(chunk)
            more = message.get("more_body", False)
        if size > self.limit or received > self.limit:
            await self._refuse(scope, receive, send, max(size, received))
            return
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        detail = (
            f"the request body is {size} bytes, over this sandbox's limit of {self.limit} "
            "bytes: nothing was run; send smaller arguments"
        )
        log_rejection(scope, 413, "request_too_large", detail)
        drained = 0
        while drained < DRAIN_LIMIT:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        response = _error(413, "request_too_large", detail)
        response.headers["connection"] = "close"
        await response(scope, receive, send)


class _AsgiEndpoint:
    """Wraps a bound method so Starlette mounts it as a raw ASGI app (it inspects functions)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)
