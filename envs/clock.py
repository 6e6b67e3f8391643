"""Seeded time and ids, so the same actions always give the same trajectory.

Environments must never read the wall clock or call `uuid4`; they use these instead.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta


class SeededClock:
    """A clock that starts at the task's start time and advances a fixed tick per tool call."""

    def __init__(self, start: str, tick_seconds: int = 60) -> None:
        self._start = datetime.fromisoformat(start)
        self._tick = timedelta(seconds=tick_seconds)
        self._steps = 0

    def advance(self) -> None:
        self._steps += 1

    def now(self) -> datetime:
        return self._start + self._tick * self._steps

    def iso(self) -> str:
        return self.now().isoformat()

    def today(self) -> str:
        return self.now().date().isoformat()


class IdSource:
    """Deterministic ids.

    `new("TKT")` gives an opaque id from the episode seed (e.g. `TKT-3f9a21c0`): use it where an
    agent should not be able to guess the next id. `sequence("TKT")` gives `TKT-0001`,
    `TKT-0002`... whatever the seed: use it where golden trajectories must refer to ids that
    earlier calls created.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._counters: dict[str, int] = {}

    def new(self, prefix: str) -> str:
        return f"{prefix}-{self._rng.getrandbits(32):08x}"

    def sequence(self, prefix: str, width: int = 4) -> str:
        self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}-{self._counters[prefix]:0{width}d}"
