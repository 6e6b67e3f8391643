"""The client side of the sandbox server: a `Session` that lives in another process.

Shared by the process and docker backends. The orchestrator holds the control token; the agent
part of a session (`tools`, `call`, `agent_url`, `mcp_url`, `agent_token`) only ever uses the
session's own agent token, exactly as an external harness would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from envs.protocol import Finalized, ToolResult, ToolSpec
from envs.server.api import AgentCall, ApiError, Health, OpenSession, ResetSession, SessionOpened
from envs.task import Task


class SandboxError(RuntimeError):
    """The sandbox server refused a request (the message carries its reason)."""


class SandboxUnavailable(SandboxError):
    """The sandbox server could not be reached: it died, was killed, or hangs."""


class ServerClient:
    """Talks to one sandbox server over loopback TCP or a Unix socket."""

    def __init__(
        self,
        base_url: str,
        control_token: str,
        *,
        uds: str | None = None,
        timeout_s: float = 120.0,
        describe: Callable[[], str] | None = None,
        public_url: Callable[[], str] | None = None,
    ) -> None:
        self.base_url = base_url
        self._control_token = control_token
        self._describe = describe or (lambda: f"sandbox server at {base_url}")
        self._public_url = public_url or (lambda: base_url)
        transport = httpx2.HTTPTransport(uds=uds) if uds else None
        self._http = httpx2.Client(
            base_url=base_url, transport=transport, timeout=timeout_s, trust_env=False
        )

    def describe(self) -> str:
        return self._describe()

    def public_url(self) -> str:
        """A loopback URL an external agent can reach this server's agent plane at."""
        return self._public_url()

    def request(
        self, method: str, path: str, token: str, body: Any = None, what: str = ""
    ) -> httpx2.Response:
        """One request; failures become `SandboxError`/`SandboxUnavailable` naming the server."""
        content = body.model_dump_json(by_alias=True) if body is not None else None
        headers = {"authorization": f"Bearer {token}"}
        if content is not None:
            headers["content-type"] = "application/json"
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx2.TransportError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise SandboxUnavailable(
                f"{what or path}: lost the sandbox ({detail}); {self.describe()}"
            ) from exc
        if response.status_code >= 400:
            try:
                error = ApiError.model_validate_json(response.content)
                reason = f"{error.error}: {error.detail}"
            except ValueError:
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
            raise SandboxError(f"{what or path}: {reason}")
        return response

    def control(self, method: str, path: str, body: Any = None, what: str = "") -> httpx2.Response:
        return self.request(method, f"/control{path}", self._control_token, body, what)

    def health(self) -> Health:
        return Health.model_validate_json(self.control("GET", "/health", what="health").content)

    def open(self, task: Task, seed: int, lease_s: float | None = None) -> RemoteSession:
        body = OpenSession(task=task, seed=seed, lease_s=lease_s)
        response = self.control("POST", "/sessions", body, what=f"open {task.id}")
        return RemoteSession(self, SessionOpened.model_validate_json(response.content))

    def close(self) -> None:
        self._http.close()


class RemoteSession:
    """A session hosted by a sandbox server; implements `envs.sandbox.Session`."""

    def __init__(self, client: ServerClient, opened: SessionOpened) -> None:
        self._client = client
        self.session_id = opened.session_id
        self.agent_token = opened.agent_token
        self.tools: list[ToolSpec] = opened.tools
        self.lease_s = opened.lease_s
        self.mcp_name = opened.mcp_name
        self._closed = False

    @property
    def agent_url(self) -> str:
        """The agent plane over HTTP JSON: `GET {agent_url}/tools`, `POST {agent_url}/call`."""
        return f"{self._client.public_url()}/sessions/{self.session_id}"

    @property
    def mcp_url(self) -> str:
        """The agent plane as an MCP Streamable HTTP endpoint (send the agent token as Bearer)."""
        return f"{self.agent_url}/mcp"

    def call(self, tool: str, arguments: Any) -> ToolResult:
        response = self._client.request(
            "POST",
            f"/sessions/{self.session_id}/call",
            self.agent_token,
            AgentCall(tool=tool, arguments=arguments),
            what=f"call {tool}",
        )
        return ToolResult.model_validate_json(response.content)

    def list_tools(self) -> list[ToolSpec]:
        response = self._client.request(
            "GET", f"/sessions/{self.session_id}/tools", self.agent_token, what="list tools"
        )
        return [ToolSpec.model_validate(t) for t in response.json()]

    def reset(self, seed: int | None = None) -> None:
        response = self._client.control(
            "POST", f"/sessions/{self.session_id}/reset", ResetSession(seed=seed), what="reset"
        )
        self.tools = SessionOpened.model_validate_json(response.content).tools

    def finalize(self) -> Finalized:
        response = self._client.control(
            "POST", f"/sessions/{self.session_id}/finalize", what="finalize"
        )
        return Finalized.model_validate_json(response.content)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.control("DELETE", f"/sessions/{self.session_id}", what="close")
