"""The options that choose where `run` and `judge` do their work: threads here or a Ray cluster."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, NoReturn

import typer

from valuegym.executors import EXECUTOR_KINDS, Executor, ExecutorError, make_executor

ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local (threads in this process) or ray (the nodes of a Ray cluster, each with its "
        "own sandbox and model endpoints; needs the `ray` extra). Results are the same.",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="With --executor ray: the cluster's address (host:port of the head); default "
        "$RAY_ADDRESS, else the cluster started on this machine.",
    ),
]
RayResourceOption = Annotated[
    str | None,
    typer.Option(
        "--ray-resource",
        help="With --executor ray: only nodes declaring this custom resource host work, "
        "weighted by its amount (default: every node with CPUs, weighted by them).",
    ),
]


@dataclass(frozen=True)
class ExecutorChoice:
    kind: str = "local"
    ray_address: str | None = None
    ray_resource: str | None = None

    def problem(self) -> str | None:
        if self.kind not in EXECUTOR_KINDS:
            return f"--executor: {self.kind!r} is not one of {', '.join(EXECUTOR_KINDS)}"
        if self.kind != "ray" and (self.ray_address or self.ray_resource):
            return "--ray-address and --ray-resource need --executor ray"
        return None

    def open(self, concurrency: int, fail: Callable[[str], NoReturn]) -> Executor:
        """The executor, or `fail` with why it cannot be had (Ray missing, no cluster)."""
        if problem := self.problem():
            fail(problem)
        try:
            return make_executor(self.kind, concurrency, self.ray_address, self.ray_resource)
        except ExecutorError as exc:
            fail(str(exc))


def spread(executor: Executor) -> str | None:
    """Where a cluster executor's items ran, for the command's summary line."""
    completed: dict[str, int] | None = getattr(executor, "completed", None)
    if not completed:
        return None
    places = ", ".join(f"{n} on {node}" for node, n in sorted(completed.items()))
    return f"{executor.name}: {places}"
