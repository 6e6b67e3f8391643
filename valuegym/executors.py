"""Where units of work (episodes, judgments) execute: threads here, or actors on a Ray cluster.

An executor maps a *worker* over items and yields results as they finish, keeping a bounded
number in flight. A worker is built by a factory where it runs (once in this process for the
local executor, once per node for Ray), so what it holds (a sandbox, model clients, a judge)
belongs to the machine that uses it. The caller alone consumes results: the run's journal and
index are only ever written by the process that drives the executor.

    for trajectory in executor.map(make_worker, episodes, lost):
        journal.append(trajectory)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
ItemT_contra = TypeVar("ItemT_contra", contravariant=True)
ResultT_co = TypeVar("ResultT_co", covariant=True)

EXECUTOR_KINDS = ("local", "ray")
_END = object()


class ExecutorError(RuntimeError):
    """The executor cannot run work: Ray missing or unreachable, no node able to host it."""


class Worker(Protocol[ItemT_contra, ResultT_co]):
    """Does one item's work; called from several threads at once; closed when the map ends."""

    def __call__(self, item: ItemT_contra) -> ResultT_co: ...

    def close(self) -> None: ...


WorkerFactory = Callable[[], Worker[ItemT, ResultT]]
Lost = Callable[[ItemT, str], ResultT]
"""What stands in for an item whose worker died twice: called with the item and the reason."""


class Executor(Protocol):
    name: str
    concurrency: int

    def map(
        self,
        make_worker: WorkerFactory[ItemT, ResultT],
        items: Iterable[ItemT],
        lost: Lost[ItemT, ResultT],
    ) -> Generator[ResultT, None, None]:
        """Results in completion order, at most `concurrency` items in flight.

        An item whose worker died (a lost node) is run once more elsewhere, then `lost` gives
        its result. An exception raised by a worker propagates and ends the map; closing the
        iterator early cancels what has not started.
        """
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """Threads in this process sharing one worker: the embedded default.

    Episodes wait on model servers and sandboxes, not on this process's CPU, so threads give
    the concurrency. A slot that frees is refilled at once, from the thread that finished,
    so the consumer's own work on a result (the journal's fsync) never leaves slots idle;
    items pulled are bounded by the concurrency twice over (running, plus finished and not
    yet consumed), so memory stays flat however long the run.
    """

    name = "local"

    def __init__(self, concurrency: int = 1) -> None:
        self.concurrency = max(1, concurrency)

    def map(
        self,
        make_worker: WorkerFactory[ItemT, ResultT],
        items: Iterable[ItemT],
        lost: Lost[ItemT, ResultT],
    ) -> Generator[ResultT, None, None]:
        pending = iter(items)
        worker = make_worker()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="valuegym")
        finished: queue.SimpleQueue[Future[ResultT]] = queue.SimpleQueue()
        lock = threading.Lock()
        running: set[Future[ResultT]] = set()
        state = {"waiting": 0, "exhausted": False, "stopped": False}
        failure: list[BaseException] = []  # the items iterator raised

        def fill() -> list[Future[ResultT]]:
            """Submit while a slot and room for its result are free (caller holds the lock)."""
            started: list[Future[ResultT]] = []
            while (
                not state["exhausted"]
                and not state["stopped"]
                and len(running) < self.concurrency
                and state["waiting"] < self.concurrency
            ):
                try:
                    item = next(pending, _END)
                except BaseException as exc:
                    failure.append(exc)
                    item = _END
                if item is _END:
                    state["exhausted"] = True
                    break
                future = pool.submit(worker, item)
                running.add(future)
                started.append(future)
            return started

        def watch(futures: list[Future[ResultT]]) -> None:
            for future in futures:  # outside the lock: a done future calls back at once
                future.add_done_callback(done)

        def done(future: Future[ResultT]) -> None:
            with lock:
                running.discard(future)
                state["waiting"] += 1
                finished.put(future)
                started = fill()
            watch(started)

        completed = False
        try:
            with lock:
                started = fill()
            watch(started)
            while True:
                with lock:
                    if not running and not state["waiting"]:
                        break
                try:  # a timeout, so a signal in this (main) thread is handled promptly
                    future = finished.get(timeout=0.2)
                except queue.Empty:
                    continue
                with lock:
                    state["waiting"] -= 1
                    started = fill()
                watch(started)
                if not future.cancelled():
                    yield future.result()
            if failure:
                raise failure[0]
            completed = True
        finally:
            with lock:
                state["stopped"] = True
                unfinished = list(running)
            for future in unfinished:  # outside the lock: cancelling calls `done` here
                future.cancel()
            if not completed:  # stopped early: the worker abandons what runs, then we wait
                worker.close()
            pool.shutdown(wait=True, cancel_futures=True)
            if completed:
                worker.close()

    def close(self) -> None:
        pass


def make_executor(
    kind: str, concurrency: int, address: str | None = None, resource: str | None = None
) -> Executor:
    """The executor named `kind`: `local`, or `ray` (connecting to the cluster at `address`,
    hosting work on the nodes that declare `resource`, or on every node with CPUs)."""
    if kind == "local":
        return LocalExecutor(concurrency)
    if kind == "ray":
        from valuegym.ray_executor import RayExecutor

        return RayExecutor(concurrency, address, resource)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTOR_KINDS)}")
