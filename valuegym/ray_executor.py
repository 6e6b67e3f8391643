"""The Ray executor: items run on the nodes of a Ray cluster, results come back to this process.

Each eligible node gets one *host*: a threaded Ray actor pinned to that node, which builds the
worker there (its sandbox, its model clients, its judge), so environment code never leaves the
node and model traffic goes to the node's own endpoints. This process, the driver, pulls items
lazily, keeps at most `concurrency` of them in flight across the cluster, sends each to the
least loaded host (load relative to the node's weight), and alone consumes the results: the
run's journal and index are written here only, so a killed driver loses nothing a local run
would not, and a resumed driver runs exactly what is missing against the same cluster.

Which nodes host work: every live node with CPUs (a node started with `--num-cpus 0`, e.g. a
head kept off duty, hosts none), weighted by its CPU count; or, with `resource`, only nodes
that declare that custom resource (`ray start --resources '{"valuegym": 4}'`), weighted by it.
Nodes that join while the map runs get a host at the next refresh.

Faults: an item whose host was lost (its node died, its actor process crashed) is sent once
more to another host, then `lost` gives its result with both reasons. A worker that raises
ends the map with that exception, as locally; a worker that cannot even be built on a node
(its factory raised: no docker there, a bad endpoints file) ends it with `ExecutorError`
naming the node.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic

from valuegym.executors import (
    ExecutorError,
    ItemT,
    Lost,
    ResultT,
    WorkerFactory,
)

ATTEMPTS = 2
"""Tries per item when its host is lost: the first try and one retry elsewhere."""
REFRESH_S = 2.0
"""How often the driver looks for nodes that joined or died while it waits on results."""
NODE_WAIT_S = 30.0
"""How long the driver waits for a node to host work when none is left, before it gives up."""
STARTUP_WAIT_S = 120.0
"""How long the first hosts may take to start (a docker pool warming) before work is sent to
those that are ready."""
CLOSE_WAIT_S = 15.0
_END = object()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError(
            "--executor ray needs Ray, an optional extra: pip install 'valuegym[ray]'"
        ) from None
    return ray


def _reachable(address: str) -> None:
    """Fail at once when nothing listens at a host:port (Ray itself retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # "auto", or a scheme Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ExecutorError(
            f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc}); "
            "start one with `ray start --head` (README: Running on a Ray cluster)"
        ) from None


class NodeHost:
    """The actor on one node: builds the worker there and runs items in its threads."""

    def __init__(self, make_worker: WorkerFactory[Any, Any]) -> None:
        self.worker = make_worker()

    def where(self) -> str:
        return f"{socket.gethostname()} pid {os.getpid()}"

    def run(self, item: Any) -> Any:
        return self.worker(item)

    def close(self) -> None:
        self.worker.close()


@dataclass
class _Host:
    node_id: str
    label: str
    weight: float
    actor: Any
    load: int = 0


@dataclass
class _Call(Generic[ItemT]):
    item: ItemT
    node_id: str
    losses: list[str] = field(default_factory=list)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _init_failure(exc: BaseException) -> str:
    """What a factory that raised on a node said: the last lines of its traceback."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " | ".join(line.strip() for line in lines[-3:]) or type(exc).__name__


class RayExecutor:
    """Runs items on a Ray cluster's nodes, one host per node, at most `concurrency` at once."""

    name = "ray"

    def __init__(
        self, concurrency: int = 1, address: str | None = None, resource: str | None = None
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.resource = resource
        self.completed: dict[str, int] = {}
        """Items finished per node label (`ip (node id)`), for the driver's summary."""
        self._ray = _ray()
        self._owns_connection = not self._ray.is_initialized()
        if self._owns_connection:
            target = address or os.environ.get("RAY_ADDRESS") or "auto"
            _reachable(target)
            try:
                self._ray.init(
                    address=target,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(
                    f"--ray-address {target}: cannot connect to a Ray cluster ({exc}); start "
                    "one with `ray start --head` (README: Running on a Ray cluster)"
                ) from None
        self._host_class = self._ray.remote(NodeHost)

    def eligible_nodes(self) -> dict[str, tuple[str, float]]:
        """Live nodes that host work: node id -> (label, weight)."""
        found = {}
        for node in self._ray.nodes():
            if not node.get("Alive"):
                continue
            resources = node.get("Resources", {})
            weight = resources.get(self.resource or "CPU", 0.0)
            if weight > 0:
                label = f"{node.get('NodeManagerAddress', '?')} ({node['NodeID'][:8]})"
                found[node["NodeID"]] = (label, float(weight))
        return found

    def map(
        self,
        make_worker: WorkerFactory[ItemT, ResultT],
        items: Iterable[ItemT],
        lost: Lost[ItemT, ResultT],
    ) -> Generator[ResultT, None, None]:
        pending = iter(items)
        first = next(pending, _END)
        if first is _END:  # nothing to do: no host is started for it
            return
        state = _MapState(self, make_worker)
        try:
            yield from state.results(itertools.chain([first], pending), lost)  # type: ignore[list-item]
        finally:
            state.stop()

    def close(self) -> None:
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()


class _MapState(Generic[ItemT, ResultT]):
    """One map's hosts and calls; the driver loop lives here."""

    def __init__(self, executor: RayExecutor, make_worker: WorkerFactory[ItemT, ResultT]) -> None:
        self.executor = executor
        self.ray = executor._ray
        self.factory = self.ray.put(make_worker)  # shipped once, resolved by each new host
        self.hosts: dict[str, _Host] = {}  # ready hosts by node id
        self.starting: dict[Any, _Host] = {}  # `where` call -> host being built
        self.running: dict[Any, _Call[ItemT]] = {}  # `run` call -> what it runs
        self.retries: deque[_Call[ItemT]] = deque()
        self.refreshed = 0.0

    def refresh(self) -> None:
        """Start a host on every eligible node without one; forget hosts whose node died."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.refreshed = time.monotonic()
        nodes = self.executor.eligible_nodes()
        for node_id in [n for n in self.hosts if n not in nodes]:
            self.drop(node_id)
        busy = set(self.hosts) | {h.node_id for h in self.starting.values()}
        for node_id, (label, weight) in nodes.items():
            if node_id in busy:
                continue
            actor = self.executor._host_class.options(
                num_cpus=0,
                max_concurrency=self.executor.concurrency + 2,  # close() always finds a thread
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
            ).remote(self.factory)
            self.starting[actor.where.remote()] = _Host(node_id, label, weight, actor)

    def drop(self, node_id: str) -> None:
        host = self.hosts.pop(node_id, None)
        if host is not None:
            with contextlib.suppress(Exception):
                self.ray.kill(host.actor, no_restart=True)

    def pick(self) -> _Host | None:
        if not self.hosts:
            return None
        return min(self.hosts.values(), key=lambda h: ((h.load + 1) / h.weight, h.label))

    def submit(self, pending: Iterator[ItemT]) -> bool:
        """Fill free slots; False when there is nothing more to send."""
        while len(self.running) < self.executor.concurrency:
            host = self.pick()
            if host is None:
                return True
            if self.retries:
                call = self.retries.popleft()
            else:
                item = next(pending, _END)
                if item is _END:
                    return False
                call = _Call(item, host.node_id)  # type: ignore[arg-type]
            call.node_id = host.node_id
            self.running[host.actor.run.remote(call.item)] = call
            host.load += 1
        return True

    def results(
        self, pending: Iterator[ItemT], lost: Lost[ItemT, ResultT]
    ) -> Generator[ResultT, None, None]:
        ray = self.ray
        self.refresh()
        # the first hosts start together, so the work spreads over all of them from the start
        deadline = time.monotonic() + STARTUP_WAIT_S
        while self.starting and time.monotonic() < deadline:
            ready, _ = ray.wait(list(self.starting), num_returns=1, timeout=REFRESH_S)
            for ref in ready:
                self._started(ref)
        more = True
        idle_since: float | None = None
        while True:
            more = self.submit(pending) and more
            if not self.running and not self.retries and not more:
                return
            waiting = [*self.running, *self.starting]
            if not waiting:
                # no host anywhere: wait a while for a node to join, then give up
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > NODE_WAIT_S:
                    raise ExecutorError(
                        f"no live Ray node can host work (none with "
                        f"{self.executor.resource or 'CPUs'}) for {NODE_WAIT_S:g} s; what "
                        "finished is kept, resume once the cluster has nodes again"
                    )
                time.sleep(REFRESH_S / 4)
                self.refresh()
                continue
            idle_since = None
            ready, _ = ray.wait(waiting, num_returns=1, timeout=REFRESH_S)
            for ref in ready:
                if ref in self.starting:
                    self._started(ref)
                    continue
                call = self.running.pop(ref)
                host = self.hosts.get(call.node_id)
                if host is not None:
                    host.load -= 1
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError:
                    raise  # the worker itself raised: as locally, that ends the map
                except ray.exceptions.RayError as exc:
                    label = host.label if host else call.node_id[:8]
                    self.drop(call.node_id)
                    self.refreshed = 0.0  # look for a replacement at once
                    call.losses.append(f"on node {label}: {_first_line(exc)}")
                    if len(call.losses) >= ATTEMPTS:
                        yield lost(
                            call.item,
                            f"its worker was lost on each of {ATTEMPTS} attempts ("
                            + "; then ".join(call.losses)
                            + ")",
                        )
                    else:
                        self.retries.append(call)
                    continue
                label = host.label if host else call.node_id[:8]
                self.executor.completed[label] = self.executor.completed.get(label, 0) + 1
                yield result
            if time.monotonic() - self.refreshed > REFRESH_S:
                self.refresh()

    def _started(self, ref: Any) -> None:
        host = self.starting.pop(ref)
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            if exc.actor_init_failed:
                raise ExecutorError(
                    f"Ray node {host.label} could not build its worker: {_init_failure(exc)}"
                ) from None
            return  # its node went away while it started: the next refresh decides
        self.hosts[host.node_id] = host

    def stop(self) -> None:
        """Cancel what is queued, let each host close its worker, then end the hosts."""
        for ref in self.running:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref)
        hosts = [*self.hosts.values(), *self.starting.values()]
        closing = []
        for host in hosts:
            with contextlib.suppress(Exception):
                closing.append(host.actor.close.remote())
        if closing:
            with contextlib.suppress(Exception):
                self.ray.wait(closing, num_returns=len(closing), timeout=CLOSE_WAIT_S)
        for host in hosts:
            with contextlib.suppress(Exception):
                self.ray.kill(host.actor, no_restart=True)
        self.hosts.clear()
        self.starting.clear()
        self.running.clear()
