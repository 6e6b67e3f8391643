"""The run journal: append-only JSONL, one trajectory per line, fsynced per record.

The journal is the source of truth; the SQLite index beside it is derived and rebuilt whenever
it disagrees with the journal. A record half-written when the process was killed is cut off
on the next open, so a resumed run neither loses nor duplicates episodes.
"""

from __future__ import annotations

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


class JournalLocked(RuntimeError):
    pass


class CorruptJournal(RuntimeError):
    pass


def _scan(path: Path) -> tuple[list[tuple[int, Trajectory]], int]:
    """Valid records with their byte offsets, and the offset where the valid prefix ends."""
    records: list[tuple[int, Trajectory]] = []
    if not path.exists():
        return records, 0
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # torn final write
            try:
                records.append((offset, Trajectory.model_validate_json(raw)))
            except ValidationError as exc:
                rest = handle.read()
                if rest.strip():
                    raise CorruptJournal(
                        f"{path}: record at byte {offset} is invalid: {exc}"
                    ) from exc
                break  # the last line was torn mid-record
            offset += len(raw)
    return records, offset


class Journal:
    """A run's journal and index. Use as a context manager: it holds the run's lock."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / JOURNAL
        self._lock_handle: IO[str] | None = None
        self._handle: IO[bytes] | None = None
        self._db: sqlite3.Connection | None = None
        self._keys: set[tuple[str, int]] = set()

    def __enter__(self) -> Journal:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock_handle = (self.run_dir / LOCK).open("w")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise JournalLocked(
                f"{self.run_dir} is being written by another valuegym process"
            ) from exc
        records, valid_end = _scan(self.path)
        if self.path.exists() and self.path.stat().st_size > valid_end:
            with self.path.open("r+b") as handle:
                handle.truncate(valid_end)
        self._handle = self.path.open("ab")
        self._db = sqlite3.connect(self.run_dir / INDEX, check_same_thread=False)
        self._rebuild_index(records)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle:
            self._handle.close()
        if self._db:
            self._db.close()
        if self._lock_handle:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()

    def _rebuild_index(self, records: list[tuple[int, Trajectory]]) -> None:
        assert self._db is not None
        db = self._db
        db.execute(
            "CREATE TABLE IF NOT EXISTS episodes (episode_id TEXT PRIMARY KEY, task_id TEXT, "
            "sample INTEGER, harness TEXT, status TEXT, error TEXT, steps INTEGER, offset INTEGER)"
        )
        (count,) = db.execute("SELECT count(*) FROM episodes").fetchone()
        if count != len(records):
            db.execute("DELETE FROM episodes")
            db.executemany(
                "INSERT OR REPLACE INTO episodes VALUES (?,?,?,?,?,?,?,?)",
                [self._row(t, off) for off, t in records],
            )
            db.commit()
        self._keys = {t.key for _, t in records}

    @staticmethod
    def _row(t: Trajectory, offset: int) -> tuple[object, ...]:
        return (
            t.episode_id,
            t.task_id,
            t.sample,
            t.harness,
            t.status,
            t.error,
            len(t.tool_log),
            offset,
        )

    def done(self) -> set[tuple[str, int]]:
        """(task_id, sample) pairs already recorded."""
        return set(self._keys)

    def append(self, trajectory: Trajectory) -> bool:
        """Durably record an episode; returns False (and writes nothing) if it is already in."""
        assert self._handle is not None and self._db is not None
        if trajectory.key in self._keys:
            return False
        offset = self._handle.tell()
        self._handle.write(trajectory.model_dump_json().encode() + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._keys.add(trajectory.key)
        self._db.execute(
            "INSERT OR REPLACE INTO episodes VALUES (?,?,?,?,?,?,?,?)",
            self._row(trajectory, offset),
        )
        self._db.commit()
        return True


def read_journal(run_dir: Path) -> Iterator[Trajectory]:
    """Every complete record of a run, in the order written (read-only; no lock needed)."""
    records, _ = _scan(run_dir / JOURNAL)
    for _, trajectory in records:
        yield trajectory
