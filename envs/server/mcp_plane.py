"""The agent plane as an MCP Streamable HTTP endpoint, built on the official `mcp` SDK.

One MCP server serves every session: the HTTP layer (`envs.server.app`) checks the agent token
against the session named in the URL and puts that session in the request scope, so a handler
can only ever act on the session its caller holds a token for.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from envs.protocol import DEFAULT_MCP_NAME
from envs.server.sessions import HostedSession, SessionTable

SESSION_SCOPE_KEY = "valuegym.session"


def _session(ctx: ServerRequestContext[Any, Any]) -> HostedSession:
    request = ctx.request
    session = request.scope.get(SESSION_SCOPE_KEY) if request is not None else None
    if session is None:  # only reachable if the endpoint were mounted without its token check
        raise PermissionError("no authorised valuegym session for this request")
    return session


def mcp_server(
    table: SessionTable, name: str = DEFAULT_MCP_NAME, instructions: str | None = None
) -> Server[Any]:
    """An MCP server whose tools are the calling session's allowed tools.

    Its name and instructions are neutral by default (no instructions at all): whatever the
    server says about itself reaches some harnesses' models and not others, so it must not
    tell the agent it is being evaluated unless an experiment asks for that.
    """

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
        return types.CallToolResult(
            content=[types.TextContent(text=result.agent_text())],
            structured_content=result.model_dump(exclude_none=True),
            is_error=not result.ok,
        )

    return Server(
        name,
        version=version("valuegym"),
        instructions=instructions or None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def mcp_manager(
    table: SessionTable, name: str = DEFAULT_MCP_NAME, instructions: str | None = None
) -> StreamableHTTPSessionManager:
    """Stateless JSON-response transport: no MCP-level session state to leak or reap; the
    valuegym session (and its lease) is the only state."""
    server = mcp_server(table, name, instructions)
    return StreamableHTTPSessionManager(app=server, json_response=True, stateless=True)
