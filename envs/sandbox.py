"""Where environments execute: the sandbox interface and its in-process backend.

A sandbox opens sessions; a session is one episode of one task with fresh state, the task's
allow-list and its own tool log. Harnesses only ever see a session's `tools` and `call`; the
orchestrator alone calls `finalize` to collect the authoritative record.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from envs.protocol import DEFAULT_MCP_NAME, Finalized, ToolResult, ToolSpec
from envs.registry import environment_for, is_third_party, load_environment_module
from envs.sandbox_options import SandboxOptions
from envs.sdk import ToolEnv
from envs.task import Task

if TYPE_CHECKING:
    from envs.server.workers import ForkServer


class Session(Protocol):
    """One episode. `agent_url`/`mcp_url` (with `agent_token` as Bearer) let a harness in another
    process reach the agent plane; they are None for the in-process backend."""

    session_id: str
    tools: list[ToolSpec]
    agent_url: str | None
    mcp_url: str | None
    agent_token: str | None
    mcp_name: str

    def call(self, tool: str, arguments: Any) -> ToolResult: ...

    def finalize(self) -> Finalized: ...

    def close(self) -> None: ...


class Sandbox(Protocol):
    name: str

    def open(self, task: Task, seed: int) -> Session: ...

    def close(self) -> None: ...


class InProcessSession:
    """A session whose environment lives in this process: the embedded default."""

    agent_url: str | None = None
    mcp_url: str | None = None
    agent_token: str | None = None
    mcp_name: str = DEFAULT_MCP_NAME

    def __init__(
        self,
        task: Task,
        seed: int,
        session_id: str,
        extra: Mapping[str, type[ToolEnv]] | None = None,
    ) -> None:
        self.session_id = session_id
        self._env = environment_for(task, extra)()
        self._env.reset(seed=seed, options={"task": task})
        self.tools = self._env.tool_specs()

    def call(self, tool: str, arguments: Any) -> ToolResult:
        return self._env.call(tool, arguments)

    def finalize(self) -> Finalized:
        return self._env.finalize()

    def close(self) -> None:
        self._env.close()


class InProcessSandbox:
    """Environments run in this process, except third-party code (imported release tasks):
    that runs in a confined worker process of its own (`envs.server.workers`), forked by a
    local fork server, with a private temporary working folder, so a release tool that writes
    where the agent says writes there, never into your folder or your run's files; it also
    gets the servers' fixed hash seed. Opening such a session costs a few milliseconds."""

    name = "inprocess"

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self._ids = itertools.count(1)
        self.options = options or SandboxOptions.from_env()
        self._extra: dict[str, type[ToolEnv]] = {}
        for module in self.options.env_modules:
            self._extra.update(load_environment_module(module, self.options.env_paths))
        self._forks: ForkServer | None = None
        self._lock = threading.Lock()

    def open(self, task: Task, seed: int) -> Session:
        session_id = f"inproc-{next(self._ids)}"
        if task.environment not in self._extra and is_third_party(task):
            return self._in_worker(task, seed, session_id)
        return InProcessSession(task, seed, session_id, self._extra)

    def _in_worker(self, task: Task, seed: int, session_id: str) -> Session:
        from envs.server.workers import ForkServer, OpenFailed, WorkerLimits, WorkerSession

        with self._lock:
            if self._forks is None or not self._forks.alive():
                self._forks = ForkServer(self.options.env_modules, self.options.env_paths, spares=1)
            forks = self._forks
        limits = WorkerLimits(call_timeout_s=self.options.call_timeout_s)
        try:
            return WorkerSession(forks, task, seed, limits, session_id)
        except OpenFailed as exc:
            raise ValueError(str(exc)) from None

    def close(self) -> None:
        with self._lock:
            if self._forks is not None:
                self._forks.close()
                self._forks = None


class TextOnlySession:
    """A session with no tools, for conditions that ask the model in text (forced choice):
    nothing executes, so the record is an empty tool log and the task's initial state."""

    agent_url: str | None = None
    mcp_url: str | None = None
    agent_token: str | None = None

    def __init__(self, task: Task, session_id: str) -> None:
        self.session_id = session_id
        self.tools: list[ToolSpec] = []
        self._state = task.initial_state

    def call(self, tool: str, arguments: Any) -> ToolResult:
        return ToolResult.failure("unknown_tool", "this episode offers no tools")

    def finalize(self) -> Finalized:
        return Finalized(final_state=self._state, state_diff=[], tool_log=[])

    def close(self) -> None:
        pass


class TextOnlySandbox:
    name = "none"

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self._ids = itertools.count(1)

    def open(self, task: Task, seed: int) -> Session:
        return TextOnlySession(task, f"text-{next(self._ids)}")

    def close(self) -> None:
        pass


SANDBOX_KINDS = ("inprocess", "process", "docker")


def make_sandbox(kind: str, options: SandboxOptions | None = None) -> Sandbox:
    """The sandbox backend named `kind` (`inprocess`, `process` or `docker`).

    `options` (default: from `VALUEGYM_SANDBOX_*` variables) configure the server backends.
    `none` runs no environment at all: the text-only conditions (forced choice) use it.
    """
    if kind == "inprocess":
        return InProcessSandbox(options)
    if kind == "none":
        return TextOnlySandbox(options)
    if kind == "process":
        from envs.process_sandbox import ProcessSandbox

        return ProcessSandbox(options)
    if kind == "docker":
        from envs.docker_sandbox import DockerSandbox

        return DockerSandbox(options)
    raise ValueError(f"unknown sandbox {kind!r}; choose one of {', '.join(SANDBOX_KINDS)}")
