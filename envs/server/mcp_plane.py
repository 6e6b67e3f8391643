"""The agent plane as an MCP Streamable HTTP endpoint, built on the official `mcp` SDK.

One MCP server serves every session: the HTTP layer (`envs.server.app`) checks the agent token
against the session named in the URL and puts that session in the request scope, so a handler
can only ever act on the session its caller holds a token for.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from envs.server.sessions import HostedSession, SessionTable

SESSION_SCOPE_KEY = "valuegym.session"


def _session(ctx: ServerRequestContext[Any, Any]) -> HostedSession:
    request = ctx.request
    session = request.scope.get(SESSION_SCOPE_KEY) if request is not None else None
    if session is None:  # only reachable if the endpoint were mounted without its token check
        raise PermissionError("no authorised valuegym session for this request")
    return session


def result_text(data: Any) -> str:
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)


def mcp_server(table: SessionTable) -> Server[Any]:
    """An MCP server whose tools are the calling session's allowed tools."""

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        specs = table.tools(_session(ctx))
        return types.ListToolsResult(
            tools=[
                types.Tool(name=s.name, description=s.description, input_schema=s.parameters)
                for s in specs
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        session = _session(ctx)
        result = await anyio.to_thread.run_sync(
            table.call, session, params.name, params.arguments or {}
        )
        text = result_text(result.data) if result.ok else (result.error or "tool failed")
        return types.CallToolResult(
            content=[types.TextContent(text=text)],
            structured_content=result.model_dump(exclude_none=True),
            is_error=not result.ok,
        )

    return Server(
        "valuegym-sandbox",
        version=version("valuegym"),
        instructions="Tools of one valuegym episode. Every call is recorded by the environment.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def mcp_manager(table: SessionTable) -> StreamableHTTPSessionManager:
    """Stateless JSON-response transport: no MCP-level session state to leak or reap; the
    valuegym session (and its lease) is the only state."""
    return StreamableHTTPSessionManager(app=mcp_server(table), json_response=True, stateless=True)
