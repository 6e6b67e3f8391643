"""Seeded stand-ins for the clock, uuid and random modules that release code imports.

Many release environments stamp records with `datetime.now()` or `time.time()` and make ids
with `uuid.uuid4()`, so the same calls give different results on every run. Release modules
are loaded with their own `__import__` (see `adapter.ReleaseLoader`) that hands them these
modules instead of the standard ones: time comes from the session's seeded clock, and uuids
and random draws from a generator seeded by the episode. Everything else in those modules is
the standard library's. Which episode's sources apply is a context variable, set around each
call into release code, so sessions hosted side by side in one server never share them.

"Local time" is UTC here, so results do not depend on the host's time zone.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import datetime as _datetime
import random as _random
import secrets as _secrets
import time as _time
import types
import uuid as _uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from envs.clock import SeededClock
from envs.sdk import DEFAULT_START

UTC = _datetime.UTC
READ_STEP = _datetime.timedelta(milliseconds=1)


class EpisodeSources:
    """One episode's time and randomness, as release code sees them.

    Each read of the time within one tool call is a millisecond later than the one before
    (the seeded clock itself moves on a fixed tick per call), so ids made from timestamps stay
    distinct, as they would be in real time.
    """

    def __init__(self, clock: SeededClock, seed: str) -> None:
        self.clock = clock
        self.rng = _random.Random(seed)
        self._base: _datetime.datetime | None = None
        self._reads = 0

    def now(self) -> _datetime.datetime:
        """The current time, aware, in UTC."""
        base = self.clock.now().astimezone(UTC)
        if base != self._base:
            self._base, self._reads = base, 0
        self._reads += 1
        return base + READ_STEP * (self._reads - 1)


_CURRENT: ContextVar[EpisodeSources | None] = ContextVar("release_sources", default=None)
_IMPORT_TIME = EpisodeSources(SeededClock(DEFAULT_START), "import")
"""For code that runs outside any call, such as a module's own top level at import."""


def current() -> EpisodeSources:
    return _CURRENT.get() or _IMPORT_TIME


@contextlib.contextmanager
def bound(sources: EpisodeSources) -> Iterator[None]:
    """Release code called inside this block sees `sources`."""
    token = _CURRENT.set(sources)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _copy(module: types.ModuleType) -> types.ModuleType:
    clone = types.ModuleType(module.__name__, module.__doc__)
    clone.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    return clone


# -- time -----------------------------------------------------------------------------------


def _epoch() -> float:
    return current().now().timestamp()


def _struct(seconds: float | None) -> _time.struct_time:
    return _time.gmtime(_epoch() if seconds is None else seconds)


time = _copy(_time)
time.time = _epoch  # type: ignore[attr-defined]
time.time_ns = lambda: round(_epoch() * 1e9)  # type: ignore[attr-defined]
time.gmtime = _struct  # type: ignore[attr-defined]
time.localtime = _struct  # type: ignore[attr-defined]
time.mktime = lambda t: float(calendar.timegm(t))  # type: ignore[attr-defined]
time.ctime = lambda seconds=None: _time.asctime(_struct(seconds))  # type: ignore[attr-defined]
time.asctime = lambda t=None: _time.asctime(t or _struct(None))  # type: ignore[attr-defined]
time.strftime = lambda fmt, t=None: _time.strftime(fmt, t or _struct(None))  # type: ignore[attr-defined]


# -- datetime -------------------------------------------------------------------------------


class _Instances(type):
    """`isinstance(x, datetime)` in release code holds for standard datetimes too."""

    real: type

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.real)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls.real)


class SeededDatetime(_datetime.datetime, metaclass=_Instances):
    real = _datetime.datetime

    @classmethod
    def _of(cls, value: _datetime.datetime) -> SeededDatetime:
        return cls.combine(value.date(), value.timetz())

    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> SeededDatetime:  # type: ignore[override]
        now = current().now()
        return cls._of(now.replace(tzinfo=None) if tz is None else now.astimezone(tz))

    @classmethod
    def utcnow(cls) -> SeededDatetime:  # type: ignore[override]
        return cls._of(current().now().replace(tzinfo=None))

    @classmethod
    def today(cls) -> SeededDatetime:  # type: ignore[override]
        return cls.now()

    @classmethod
    def fromtimestamp(cls, t: float, tz: _datetime.tzinfo | None = None) -> SeededDatetime:  # type: ignore[override]
        value = _datetime.datetime.fromtimestamp(t, tz or UTC)
        return cls._of(value if tz else value.replace(tzinfo=None))

    def timestamp(self) -> float:
        aware = self if self.tzinfo else self.replace(tzinfo=UTC)
        return _datetime.datetime.timestamp(aware)

    def astimezone(self, tz: _datetime.tzinfo | None = None) -> SeededDatetime:
        aware = self if self.tzinfo else self.replace(tzinfo=UTC)
        return self._of(_datetime.datetime.astimezone(aware, tz or UTC))


class SeededDate(_datetime.date, metaclass=_Instances):
    real = _datetime.date

    @classmethod
    def today(cls) -> SeededDate:  # type: ignore[override]
        day = current().now().date()
        return cls(day.year, day.month, day.day)

    @classmethod
    def fromtimestamp(cls, t: float) -> SeededDate:  # type: ignore[override]
        day = _datetime.datetime.fromtimestamp(t, UTC).date()
        return cls(day.year, day.month, day.day)


datetime = _copy(_datetime)
datetime.datetime = SeededDatetime  # type: ignore[attr-defined]
datetime.date = SeededDate  # type: ignore[attr-defined]


# -- uuid -----------------------------------------------------------------------------------


def _uuid4() -> _uuid.UUID:
    return _uuid.UUID(int=current().rng.getrandbits(128), version=4)


def _uuid1(node: int | None = None, clock_seq: int | None = None) -> _uuid.UUID:
    return _uuid.UUID(int=current().rng.getrandbits(128), version=1)


uuid = _copy(_uuid)
uuid.uuid4 = _uuid4  # type: ignore[attr-defined]
uuid.uuid1 = _uuid1  # type: ignore[attr-defined]


# -- random and secrets ---------------------------------------------------------------------

_RANDOM_FUNCTIONS = [
    "betavariate",
    "choice",
    "choices",
    "expovariate",
    "gammavariate",
    "gauss",
    "getrandbits",
    "lognormvariate",
    "normalvariate",
    "paretovariate",
    "randbytes",
    "randint",
    "random",
    "randrange",
    "sample",
    "seed",
    "shuffle",
    "triangular",
    "uniform",
    "vonmisesvariate",
    "weibullvariate",
]


def _delegate(name: str):
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(current().rng, name)(*args, **kwargs)

    call.__name__ = name
    return call


class SeededRandom(_random.Random):
    """`random.Random()` without a seed (and `SystemRandom`) draws its seed from the episode."""

    def __init__(self, x: Any = None) -> None:
        super().__init__(current().rng.getrandbits(64) if x is None else x)


random = _copy(_random)
for _name in _RANDOM_FUNCTIONS:
    setattr(random, _name, _delegate(_name))
random.Random = SeededRandom  # type: ignore[attr-defined]
random.SystemRandom = SeededRandom  # type: ignore[attr-defined]

secrets = _copy(_secrets)
secrets.token_bytes = lambda n=32: current().rng.randbytes(n)  # type: ignore[attr-defined]
secrets.token_hex = lambda n=32: current().rng.randbytes(n).hex()  # type: ignore[attr-defined]
secrets.token_urlsafe = lambda n=32: (  # type: ignore[attr-defined]
    base64.urlsafe_b64encode(current().rng.randbytes(n)).rstrip(b"=").decode()
)
secrets.randbelow = lambda n: current().rng.randrange(n)  # type: ignore[attr-defined]
secrets.choice = lambda seq: current().rng.choice(seq)  # type: ignore[attr-defined]
secrets.randbits = lambda k: current().rng.getrandbits(k)  # type: ignore[attr-defined]
secrets.SystemRandom = SeededRandom  # type: ignore[attr-defined]

STAND_INS: dict[str, types.ModuleType] = {
    "time": time,
    "datetime": datetime,
    "uuid": uuid,
    "random": random,
    "secrets": secrets,
}
"""Module name -> the module release code gets when it imports that name."""
