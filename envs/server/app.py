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
    *      /sessions/{id}/mcp                   MCP Streamable HTTP
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from envs.protocol import DEFAULT_MCP_NAME, ToolSpec
from envs.sdk import format_validation_error
from envs.server.api import AgentCall, ApiError, Health, OpenSession, ResetSession, token_digest
from envs.server.mcp_plane import SESSION_SCOPE_KEY, mcp_manager
from envs.server.sessions import HostedSession, SessionError, SessionTable, tokens_match

_TOOL_LIST = TypeAdapter(list[ToolSpec])
_M = TypeVar("_M", bound=BaseModel)


class Unauthorized(SessionError):
    status = 401
    error = "unauthorized"


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
        body = await _parse(request, AgentCall)
        result = await anyio.to_thread.run_sync(self.table.call, session, body.tool, body.arguments)
        return _json(result)

    async def mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            scope[SESSION_SCOPE_KEY] = self._agent(scope)
        except SessionError as exc:
            await _error(exc.status, exc.error, str(exc))(scope, receive, send)
            return
        await self._mcp.handle_request(scope, receive, send)

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
        return Starlette(routes=routes, exception_handlers=handlers, lifespan=self.lifespan)


class _AsgiEndpoint:
    """Wraps a bound method so Starlette mounts it as a raw ASGI app (it inspects functions)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)
