"""Executors keep a bounded number of items in flight and build one worker where they run."""

from __future__ import annotations

import threading
import time

import pytest

from valuegym.executors import LocalExecutor, make_executor


class Recorder:
    """A worker that notes how many calls overlap and which thread ran each one."""

    instances = 0

    def __init__(self) -> None:
        Recorder.instances += 1
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.closed = False

    def __call__(self, item: int) -> int:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.01)
        with self.lock:
            self.active -= 1
        if item < 0:
            raise ValueError(f"bad item {item}")
        return item * 2

    def close(self) -> None:
        self.closed = True


def test_local_executor_bounds_what_is_in_flight_and_pulls_items_lazily() -> None:
    pulled = []

    def items():
        for i in range(20):
            pulled.append(i)
            yield i

    workers: list[Recorder] = []

    def make() -> Recorder:
        workers.append(Recorder())
        return workers[-1]

    results = []
    for result in LocalExecutor(3).map(make, items(), lambda item, why: -1):
        results.append(result)
        # never more pulled than yielded, plus in flight and finished but not yet yielded
        # (each at most the concurrency)
        assert len(pulled) <= len(results) + 2 * 3
    assert sorted(results) == [2 * i for i in range(20)]
    assert len(workers) == 1 and workers[0].closed
    assert 1 < workers[0].peak <= 3


def test_a_freed_slot_is_refilled_while_the_consumer_is_still_busy() -> None:
    """The run's loop fsyncs each record; the next episodes must not wait for it to start."""
    third_started = threading.Event()

    class Signals(Recorder):
        def __call__(self, item: int) -> int:
            if item == 2:
                third_started.set()
            return super().__call__(item)

    results = []
    for result in LocalExecutor(2).map(Signals, range(6), lambda i, w: 0):
        if not results:  # still busy with the first result: item 2 starts meanwhile
            assert third_started.wait(5)
        results.append(result)
    assert sorted(results) == [0, 2, 4, 6, 8, 10]


def test_an_items_iterator_that_fails_ends_the_map_with_its_error() -> None:
    def items():
        yield from range(5)
        raise RuntimeError("no more tasks")

    worker = Recorder()
    with pytest.raises(RuntimeError, match="no more tasks"):
        list(LocalExecutor(2).map(lambda: worker, items(), lambda i, w: 0))
    assert worker.closed


def test_a_worker_exception_ends_the_map_and_closes_the_worker() -> None:
    worker = Recorder()
    with pytest.raises(ValueError, match="bad item -1"):
        list(LocalExecutor(2).map(lambda: worker, [1, 2, -1, 3, 4, 5, 6], lambda i, w: 0))
    assert worker.closed


def test_closing_the_results_early_stops_starting_new_items() -> None:
    started = []

    class Slow(Recorder):
        def __call__(self, item: int) -> int:
            started.append(item)
            return super().__call__(item)

    results = LocalExecutor(2).map(Slow, range(100), lambda i, w: 0)
    next(results)
    results.close()
    assert len(started) <= 4


def test_unknown_executor_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="choose one of local, ray"):
        make_executor("spark", 1)
