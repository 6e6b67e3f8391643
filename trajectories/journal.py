"""The run journal: append-only JSONL, one trajectory per line, fsynced per record.

An episode (task, sample) normally has one record. Rerunning it (`run --resume --retry-errors`
after an infrastructure error) appends a newer record and keeps the old one as history: the
*latest* record of a (task, sample) is the episode's record, and every reader here
(`read_journal`, the index) gives only that one; `read_history` gives them all.

The journal is the source of truth; the SQLite index beside it is derived and rebuilt whenever
it disagrees with the journal (or was written by an older valuegym with fewer columns). A record
half-written when the process was killed is cut off on the next open, so a resumed run neither
loses nor duplicates episodes. Readers such as the viewer query the index instead of parsing
the journal, and read single records by their byte offset.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from trajectories.schema import Trajectory

JOURNAL = "journal.jsonl"
INDEX = "index.sqlite"
LOCK = "run.lock"
INDEX_VERSION = 2  # PRAGMA user_version of the index; older indexes are rebuilt

INDEX_COLUMNS = (
    ("episode_id", "TEXT PRIMARY KEY"),
    ("task_id", "TEXT"),
    ("sample", "INTEGER"),
    ("harness", "TEXT"),
    ("status", "TEXT"),
    ("error", "TEXT"),
    ("steps", "INTEGER"),
    ("offset", "INTEGER"),
    ("length", "INTEGER"),
    ("value_system", "TEXT"),
    ("value_a", "TEXT"),
    ("value_b", "TEXT"),
    ("swapped", "INTEGER"),
    ("model", "TEXT"),
    ("started_at", "TEXT"),
    ("duration_s", "REAL"),
)
_INSERT = f"INSERT OR REPLACE INTO episodes VALUES ({','.join('?' * len(INDEX_COLUMNS))})"


class JournalLocked(RuntimeError):
    pass


class CorruptJournal(RuntimeError):
    """A record before the journal's end is not a trajectory (the message names byte and line)."""


Record = tuple[int, int, Trajectory]  # byte offset, byte length (newline included), record


def _scan(path: Path) -> tuple[list[Record], int]:
    """Valid records with their byte offsets, and the offset where the valid prefix ends."""
    records: list[Record] = []
    if not path.exists():
        return records, 0
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # torn final write
            try:
                records.append((offset, len(raw), Trajectory.model_validate_json(raw)))
            except ValidationError as exc:
                rest = handle.read()
                if rest.strip():
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"]) or "(record)"
                    raise CorruptJournal(
                        f"{path}: line {len(records) + 1} (byte {offset}) is not a trajectory "
                        f"record ({where}: {first['msg']}); {len(records)} valid records before "
                        "it. The journal is only ever appended to by valuegym: restore it from "
                        "a copy, or cut it at that byte to drop what follows"
                    ) from None
                break  # the last line was torn mid-record
            offset += len(raw)
    return records, offset


def latest(records: list[Record]) -> list[Record]:
    """Each episode's latest record (a later record of a (task, sample) replaces earlier ones),
    in the order written."""
    by_key = {record[2].key: record for record in records}
    if len(by_key) == len(records):
        return records
    return sorted(by_key.values(), key=lambda r: r[0])


class Journal:
    """A run's journal and index. Use as a context manager: it holds the run's lock."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / JOURNAL
        self._lock_handle: IO[str] | None = None
        self._handle: IO[bytes] | None = None
        self._db: sqlite3.Connection | None = None
        self._latest: dict[tuple[str, int], str] = {}  # key -> status of its latest record

    def __enter__(self) -> Journal:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock_handle = _lock(self.run_dir)
        try:
            records, valid_end = _scan(self.path)
        except BaseException:
            _unlock(self._lock_handle)
            self._lock_handle = None
            raise
        if self.path.exists() and self.path.stat().st_size > valid_end:
            with self.path.open("r+b") as handle:
                handle.truncate(valid_end)
        self._handle = self.path.open("ab")
        self._db = _open_index(self.run_dir / INDEX, records)
        self._latest = {t.key: t.status for _, _, t in records}
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle:
            self._handle.close()
        if self._db:
            self._db.close()
        if self._lock_handle:
            _unlock(self._lock_handle)

    def done(self, retry_errors: bool = False) -> set[tuple[str, int]]:
        """(task_id, sample) pairs already recorded; with `retry_errors`, those whose latest
        record is an `error` count as not done (they are to be run again)."""
        return {k for k, s in self._latest.items() if not (retry_errors and s == "error")}

    def statuses(self) -> dict[tuple[str, int], str]:
        """The status of each recorded episode's latest record."""
        return dict(self._latest)

    def append(self, trajectory: Trajectory, replace: bool = False) -> bool:
        """Durably record an episode; returns False (and writes nothing) if it is already in.

        With `replace`, an episode whose latest record is an `error` gets a newer record (the
        old one stays in the file as history); a finished episode is never recorded twice.
        """
        assert self._handle is not None and self._db is not None
        previous = self._latest.get(trajectory.key)
        if previous is not None and not (replace and previous == "error"):
            return False
        offset = self._handle.tell()
        line = trajectory.model_dump_json().encode() + b"\n"
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._latest[trajectory.key] = trajectory.status
        self._db.execute(_INSERT, _row(trajectory, offset, len(line)))
        self._db.commit()
        return True


def _open_index(path: Path, records: list[Record]) -> sqlite3.Connection:
    """The writer's connection to the index, made to hold the journal's latest records.

    The index is derived, so its commits are not fsynced (`synchronous=OFF`; the journal's
    fsync is what makes a record durable): each commit still lands atomically for readers and
    survives a crash of this process, and one cut short by the machine going down leaves an
    index behind the journal, which the staleness check rebuilds. Syncing each commit cost
    more than the record's own fsync (about 12 ms here against 2) and held up the run's loop.
    An index the machine's crash left unreadable is rebuilt from scratch.
    """
    try:
        return _connect_index(path, records)
    except sqlite3.DatabaseError:
        path.unlink(missing_ok=True)
        return _connect_index(path, records)


def _connect_index(path: Path, records: list[Record]) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False)
    try:
        db.execute("PRAGMA synchronous=OFF")
        _sync_index(db, records)
    except BaseException:
        db.close()
        raise
    return db


def _lock(run_dir: Path) -> IO[str]:
    """The run's exclusive lock; the lock file names its holder for the refusal message."""
    handle = (run_dir / LOCK).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        who = f"process {holder}" if holder.isdigit() else "another valuegym process"
        raise JournalLocked(
            f"{run_dir} is being written by {who} (it holds {run_dir / LOCK}); wait for it "
            "to end or stop it, then resume"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _unlock(handle: IO[str]) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def _row(t: Trajectory, offset: int, length: int) -> tuple[object, ...]:
    return (
        t.episode_id,
        t.task_id,
        t.sample,
        t.harness,
        t.status,
        t.error,
        len(t.tool_log),
        offset,
        length,
        t.value_system,
        t.values["a"],
        t.values["b"],
        int(t.swapped),
        t.model,
        t.started_at,
        t.duration_s,
    )


def _sync_index(db: sqlite3.Connection, records: list[Record]) -> None:
    """Make the index hold exactly the journal's latest records, rebuilding it if it does not."""
    records = latest(records)
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version != INDEX_VERSION:
        db.execute("DROP TABLE IF EXISTS episodes")
        columns = ", ".join(f"{name} {kind}" for name, kind in INDEX_COLUMNS)
        db.execute(f"CREATE TABLE episodes ({columns})")
        db.execute(f"PRAGMA user_version = {INDEX_VERSION}")
    (count,) = db.execute("SELECT count(*) FROM episodes").fetchone()
    (end,) = db.execute("SELECT coalesce(max(offset + length), 0) FROM episodes").fetchone()
    stale = count != len(records) or end != (records[-1][0] + records[-1][1] if records else 0)
    if version != INDEX_VERSION or stale:
        db.execute("DELETE FROM episodes")
        db.executemany(_INSERT, [_row(t, off, n) for off, n, t in records])
    db.commit()


def index_current(run_dir: Path) -> bool:
    """Whether the index has the current columns and ends where the journal ends."""
    path, journal = run_dir / INDEX, run_dir / JOURNAL
    if not path.exists():
        return not journal.exists()
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version != INDEX_VERSION:
            return False
        (end,) = db.execute("SELECT coalesce(max(offset + length), 0) FROM episodes").fetchone()
    return end == (journal.stat().st_size if journal.exists() else 0)


def ensure_index(run_dir: Path) -> Path:
    """The run's index, rebuilt from the journal first if it is missing, old or behind.

    Reading a run never changes its journal: a torn last record is left for the next resume
    to cut off. While another process writes the run, that writer keeps the index current; a
    folder we may not write is left as it is (callers check `index_current`).
    """
    if not index_current(run_dir):
        try:
            handle = _lock(run_dir)
        except (JournalLocked, OSError):
            return run_dir / INDEX
        try:
            records, _ = _scan(run_dir / JOURNAL)
            with contextlib.closing(sqlite3.connect(run_dir / INDEX)) as db:
                _sync_index(db, records)
        finally:
            _unlock(handle)
    return run_dir / INDEX


def index_into(db: sqlite3.Connection, run_dir: Path) -> None:
    """Write a run's index into another database (a reader's in-memory copy of a stale index)."""
    records, _ = _scan(run_dir / JOURNAL)
    _sync_index(db, records)


def is_being_written(run_dir: Path) -> bool:
    """Whether a valuegym process holds the run's lock right now (a run in progress)."""
    path = run_dir / LOCK
    if not path.exists():
        return False
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def read_record(run_dir: Path, offset: int, length: int) -> Trajectory:
    """One journal record by its byte range (from the index), without scanning the journal."""
    with (run_dir / JOURNAL).open("rb") as handle:
        handle.seek(offset)
        return Trajectory.model_validate_json(handle.read(length))


def read_journal(run_dir: Path) -> Iterator[Trajectory]:
    """Each episode's latest complete record, in the order written (read-only; no lock)."""
    records, _ = _scan(run_dir / JOURNAL)
    for _, _, trajectory in latest(records):
        yield trajectory


def read_history(run_dir: Path) -> Iterator[Trajectory]:
    """Every complete record of a run, superseded ones included, in the order written."""
    records, _ = _scan(run_dir / JOURNAL)
    for _, _, trajectory in records:
        yield trajectory
