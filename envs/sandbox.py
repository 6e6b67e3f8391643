"""Where environments execute: the sandbox interface and its in-process backend.

A sandbox opens sessions; a session is one episode of one task with fresh state, the task's
allow-list and its own tool log. Harnesses only ever see a session's `tools` and `call`; the
orchestrator alone calls `finalize` to collect the authoritative record.
"""

from __future__ import annotations

import itertools
from typing import Any, Protocol

from envs.protocol import Finalized, ToolResult, ToolSpec
from envs.registry import environment_for
from envs.task import Task


class Session(Protocol):
    session_id: str
    tools: list[ToolSpec]

    def call(self, tool: str, arguments: Any) -> ToolResult: ...

    def finalize(self) -> Finalized: ...

    def close(self) -> None: ...


class Sandbox(Protocol):
    name: str

    def open(self, task: Task, seed: int) -> Session: ...

    def close(self) -> None: ...


class InProcessSession:
    """A session whose environment lives in this process: the embedded default."""

    def __init__(self, task: Task, seed: int, session_id: str) -> None:
        self.session_id = session_id
        self._env = environment_for(task)()
        self._env.reset(seed=seed, options={"task": task})
        self.tools = self._env.tool_specs()

    def call(self, tool: str, arguments: Any) -> ToolResult:
        return self._env.call(tool, arguments)

    def finalize(self) -> Finalized:
        return self._env.finalize()

    def close(self) -> None:
        self._env.close()


class InProcessSandbox:
    name = "inprocess"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def open(self, task: Task, seed: int) -> Session:
        return InProcessSession(task, seed, f"inproc-{next(self._ids)}")

    def close(self) -> None:
        pass


SANDBOX_KINDS = ("inprocess", "process", "docker")


def make_sandbox(kind: str) -> Sandbox:
    """The sandbox backend named `kind` (`inprocess`, `process` or `docker`)."""
    if kind == "inprocess":
        return InProcessSandbox()
    raise ValueError(f"unknown sandbox {kind!r}; choose one of {', '.join(SANDBOX_KINDS)}")
