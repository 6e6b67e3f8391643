"""The client side of the sandbox server: a `Session` that lives in another process.

Shared by the process and docker backends. The orchestrator holds the control token; the agent
part of a session (`tools`, `call`, `agent_url`, `mcp_url`, `agent_token`) only ever uses the
session's own agent token, exactly as an external harness would.
"""

from __future__ import annotations

import time
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


HEALTH_PROBE_S = 5.0
"""How long a server suspected of hanging gets to answer a health check before it is replaced."""


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
        self._timeout_s = timeout_s
        self._http = httpx2.Client(
            base_url=base_url, transport=transport, timeout=timeout_s, trust_env=False
        )
        self.suspect = False
        """Set when a request could not reach the server or timed out: before the server is
        used again, `responsive()` checks it still answers (a paused container, a stopped or
        deadlocked server do not, and are replaced)."""

    def describe(self) -> str:
        return self._describe()

    def public_url(self) -> str:
        """A loopback URL an external agent can reach this server's agent plane at."""
        return self._public_url()

    def request(
        self,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        what: str = "",
        timeout_s: float | None = None,
    ) -> httpx2.Response:
        """One request; failures become `SandboxError`/`SandboxUnavailable` naming the server.

        `timeout_s` shortens the client's own limit (an episode's time left)."""
        content = body.model_dump_json(by_alias=True) if body is not None else None
        headers = {"authorization": f"Bearer {token}"}
        if content is not None:
            headers["content-type"] = "application/json"
        limit = self._timeout_s if timeout_s is None else min(timeout_s, self._timeout_s)
        try:
            response = self._http.request(
                method, path, content=content, headers=headers, timeout=limit
            )
        except httpx2.TransportError as exc:
            self.suspect = True
            if isinstance(exc, httpx2.TimeoutException):
                raise SandboxUnavailable(
                    f"{what or path}: the sandbox did not answer within {limit:g} s; "
                    f"{self.describe()}"
                ) from exc
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

    def control(
        self,
        method: str,
        path: str,
        body: Any = None,
        what: str = "",
        timeout_s: float | None = None,
    ) -> httpx2.Response:
        return self.request(method, f"/control{path}", self._control_token, body, what, timeout_s)

    def health(self, timeout_s: float | None = None) -> Health:
        response = self.control("GET", "/health", what="health", timeout_s=timeout_s)
        return Health.model_validate_json(response.content)

    def responsive(self) -> bool:
        """Whether a server under suspicion still answers a health check (clears the suspicion)."""
        try:
            self.health(HEALTH_PROBE_S)
        except SandboxError:
            return False
        self.suspect = False
        return True

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
        self.deadline: float | None = None
        """When set (monotonic seconds, the episode's deadline), no request waits past it."""

    def _time_left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(self.deadline - time.monotonic(), 0.1)

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
            timeout_s=self._time_left(),
        )
        return ToolResult.model_validate_json(response.content)

    def list_tools(self) -> list[ToolSpec]:
        response = self._client.request(
            "GET",
            f"/sessions/{self.session_id}/tools",
            self.agent_token,
            what="list tools",
            timeout_s=self._time_left(),
        )
        return [ToolSpec.model_validate(t) for t in response.json()]

    def reset(self, seed: int | None = None) -> None:
        response = self._client.control(
            "POST", f"/sessions/{self.session_id}/reset", ResetSession(seed=seed), what="reset"
        )
        self.tools = SessionOpened.model_validate_json(response.content).tools

    def finalize(self) -> Finalized:
        response = self._client.control(
            "POST",
            f"/sessions/{self.session_id}/finalize",
            what="finalize",
            timeout_s=self._time_left(),
        )
        return Finalized.model_validate_json(response.content)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._client.control(
                "DELETE", f"/sessions/{self.session_id}", what="close", timeout_s=self._time_left()
            )
