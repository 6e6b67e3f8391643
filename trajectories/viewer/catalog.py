"""The run folders a viewer has open, each queried through SQLite instead of re-reading files.

A run's episode rows come from its journal index (`index.sqlite`, attached read-only, so a run
being journaled shows new episodes as they land). Judgments live in JSONL files; each judge's
file is read incrementally into an in-memory table beside the index, so filtering and sorting
by leaning or pole score is one SQL query. The checkpoint judge is deterministic: episodes it
has not stored yet (a run still in progress) are scored in memory, as `valuegym report` does.
Reports and comparisons are built by the judges' own code and cached until the run changes.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from envs.task import Task
from judges.episodes import judged, leaning
from judges.report import RunReport
from judges.runs import CHECKPOINT, ScoredRun, load_scored_run, run_labels
from judges.spec import checkpoint_scorer
from judges.stats import Settings
from judges.store import JUDGMENTS_DIR, judgment_path, stored_judges
from judges.verdict import Judgment
from trajectories.journal import (
    INDEX,
    JOURNAL,
    ensure_index,
    index_current,
    index_into,
    is_being_written,
    read_record,
)
from trajectories.schema import Trajectory
from valuegym.runner import RUN_CONFIG, TASKS_SNAPSHOT, RunConfig, load_run

SCORES_TABLE = """
CREATE TABLE scores (
    judge TEXT, episode_id TEXT, outcome TEXT, score_a REAL, score_b REAL, leaning TEXT,
    note TEXT, stored INTEGER, record TEXT, PRIMARY KEY (judge, episode_id)
)
"""
UPSERT = """
INSERT INTO scores VALUES (?,?,?,?,?,?,?,?,?)
ON CONFLICT (judge, episode_id) DO UPDATE SET
    outcome = excluded.outcome, score_a = excluded.score_a, score_b = excluded.score_b,
    leaning = excluded.leaning, note = excluded.note, stored = excluded.stored,
    record = excluded.record
WHERE scores.stored = 0 OR excluded.stored = 1
"""


T = TypeVar("T")


class UnknownRun(LookupError):
    pass


class UnknownEpisode(LookupError):
    pass


def judge_keys(run_dir: Path) -> list[str]:
    """The judges a run can be viewed by: checkpoint (always), then those with stored files."""
    return [CHECKPOINT, *(k for k in stored_judges(run_dir) if k != CHECKPOINT)]


def score_row(judge: str, judgment: Judgment, stored: bool) -> tuple[object, ...]:
    """A judgment as a scores row, read the way every report reads it."""
    outcome, scores, note = judged(judgment)
    return (
        judge,
        judgment.episode_id,
        outcome,
        scores.get("a"),
        scores.get("b"),
        leaning(scores),
        note,
        int(stored),
        judgment.model_dump_json(),
    )


@dataclass
class _JudgeFile:
    """How far a judgments file has been read."""

    offset: int = 0
    size: int = -1


@dataclass
class _Cached:
    version: tuple
    value: object


class OpenRun:
    """One run folder, as the viewer reads it. Thread-safe: requests share one instance."""

    def __init__(self, path: Path, slug: str, label: str) -> None:
        self.path = path
        self.slug = slug
        self.label = label
        self.config = RunConfig.model_validate_json((path / RUN_CONFIG).read_text("utf-8"))
        self._tasks: dict[str, Task] | None = None  # parsed on first use: thousands take seconds
        self._task_lines: dict[str, str] | None = None
        self._lock = threading.RLock()
        self._report_lock = threading.RLock()
        self._files: dict[str, _JudgeFile] = {}
        self._scored_upto: dict[str, int] = {}  # journal size when gaps were last filled
        self._journal_size = -1
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._cache: dict[tuple, _Cached] = {}
        self._memo: dict[tuple, _Cached] = {}
        # autocommit: a read of the attached index must not hold its lock past the statement,
        # or the process journaling the run could not write the next episode
        self.db = sqlite3.connect(
            "file::memory:", uri=True, check_same_thread=False, isolation_level=None
        )
        self.db.row_factory = sqlite3.Row
        self.db.execute(SCORES_TABLE)
        self._attach_index()

    # -- the index ---------------------------------------------------------------------------

    def _attach_index(self) -> None:
        """Attach the run's index read-only, or a private copy where it cannot be brought up to
        date (a folder we may not write, holding an index of an older valuegym)."""
        with contextlib.suppress(sqlite3.OperationalError):
            self.db.execute("DETACH DATABASE idx")
        index = ensure_index(self.path)
        if not index_current(self.path):
            self._scratch = self._scratch or tempfile.TemporaryDirectory(prefix="valuegym-view-")
            index = Path(self._scratch.name) / INDEX
            index.unlink(missing_ok=True)
            with contextlib.closing(sqlite3.connect(index)) as copy:
                index_into(copy, self.path)
        self.db.execute("ATTACH DATABASE ? AS idx", (f"file:{index}?mode=ro",))
        self._journal_size = self._size(self.path / JOURNAL)

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    @property
    def tasks(self) -> dict[str, Task]:
        """The run's whole task snapshot by id (seconds for thousands of tasks: see `task`)."""
        with self._lock:
            if self._tasks is None:
                self._tasks = {t.id: t for t in load_run(self.path)[1]}
            return self._tasks

    def task(self, task_id: str) -> Task | None:
        """One task of the snapshot, validated on its own (what an episode page needs)."""
        with self._lock:
            if self._tasks is not None:
                return self._tasks.get(task_id)
            if self._task_lines is None:
                lines = (self.path / TASKS_SNAPSHOT).read_text("utf-8").splitlines()
                self._task_lines = {json.loads(line)["id"]: line for line in lines if line}
            line = self._task_lines.get(task_id)
        return Task.model_validate_json(line) if line else None

    def version(self) -> tuple:
        """Changes whenever an episode or a judgment is written: the live view polls it."""
        judgments = tuple(
            (p.name, p.stat().st_size) for p in sorted((self.path / JUDGMENTS_DIR).glob("*.jsonl"))
        )
        return (self._size(self.path / JOURNAL), judgments)

    def live(self) -> bool:
        return is_being_written(self.path)

    def judges(self) -> list[str]:
        return judge_keys(self.path)

    def refresh(self, judge: str) -> None:
        """Bring the scores of `judge` up to date with the files on disk (cheap when unchanged)."""
        with self._lock:
            size = self._size(self.path / JOURNAL)
            if size != self._journal_size and self._scratch is not None:
                self._attach_index()  # a private copy does not follow the journal by itself
            self._journal_size = size
            self._read_judgments(judge)
            if judge == CHECKPOINT and self._scored_upto.get(judge) != size:
                self._score_missing()
                self._scored_upto[judge] = size

    def _read_judgments(self, judge: str) -> None:
        path = judgment_path(self.path, judge)
        state = self._files.setdefault(judge, _JudgeFile())
        size = self._size(path)
        if size == state.size:
            return
        if size < state.offset:  # rewritten: start over
            self.db.execute("DELETE FROM scores WHERE judge = ?", (judge,))
            state.offset = 0
        rows = []
        if size:
            with path.open("rb") as handle:
                handle.seek(state.offset)
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        break  # a judge is writing this line now
                    state.offset += len(raw)
                    try:
                        judgment = Judgment.model_validate_json(raw)
                    except ValueError:
                        continue  # as `read_judgments` does
                    rows.append(score_row(judge, judgment, stored=True))
        # a stored judgment replaces one scored in memory; of two stored, the later wins (a
        # rerun episode's newer judgment, as in `judges.store.read_judgments`)
        self.db.executemany(UPSERT, rows)
        state.size = size

    def _score_missing(self) -> None:
        missing = self.db.execute(
            "SELECT e.offset, e.length FROM idx.episodes e LEFT JOIN scores s "
            "ON s.judge = ? AND s.episode_id = e.episode_id WHERE s.episode_id IS NULL",
            (CHECKPOINT,),
        ).fetchall()
        if not missing:
            return
        score = checkpoint_scorer(list(self.tasks.values()))
        rows = []
        for offset, length in missing:
            trajectory = read_record(self.path, offset, length)
            if trajectory.task_id in self.tasks:
                rows.append(score_row(CHECKPOINT, score(trajectory), stored=False))
        self.db.executemany(UPSERT, rows)

    # -- single records ----------------------------------------------------------------------

    def trajectory(self, task_id: str, sample: int) -> Trajectory:
        with self._lock:
            row = self.db.execute(
                "SELECT offset, length FROM idx.episodes WHERE task_id = ? AND sample = ?",
                (task_id, sample),
            ).fetchone()
        if row is None:
            raise UnknownEpisode(f"{self.label} has no episode {task_id}#{sample}")
        return read_record(self.path, row["offset"], row["length"])

    def judgment(self, episode_id: str, judge: str) -> Judgment | None:
        self.refresh(judge)
        with self._lock:
            row = self.db.execute(
                "SELECT record FROM scores WHERE judge = ? AND episode_id = ?", (judge, episode_id)
            ).fetchone()
        return Judgment.model_validate_json(row["record"]) if row else None

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # -- whole-run figures (the judges' own code, cached per version) ------------------------

    def scored(self, judge: str) -> ScoredRun:
        return self._cached(("scored", judge), lambda: load_scored_run(self.path, judge))

    def report(self, judge: str, settings: Settings | None = None) -> RunReport:
        settings = settings or Settings()
        key = ("report", judge, settings.model_dump_json())
        return self._cached(key, lambda: self.scored(judge).report(settings))

    def memo(self, key: tuple, build: Callable[[], T]) -> T:
        """A cheap figure (counts, menus) kept until the run changes; no lock, so a slow report
        never holds up a table page (two requests may both build it, harmlessly)."""
        version = self.version()
        hit = self._memo.get(key)
        if hit is None or hit.version != version:
            hit = self._memo[key] = _Cached(version, build())
        return hit.value  # type: ignore[return-value]

    def _cached(self, key: tuple, build):
        version = self.version()
        with self._report_lock:
            hit = self._cache.get(key)
            if hit is None or hit.version != version:
                hit = self._cache[key] = _Cached(version, build())
            return hit.value  # type: ignore[return-value]

    def close(self) -> None:
        self.db.close()
        if self._scratch is not None:
            self._scratch.cleanup()


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "run"


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders among `paths`: a folder holding `run.json`, or the run folders inside one."""
    found: list[Path] = []
    for path in paths:
        if (path / RUN_CONFIG).exists():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob(f"*/{RUN_CONFIG}")))
    return list(dict.fromkeys(p.resolve() for p in found))


@dataclass
class Catalog:
    """The runs a viewer serves, by URL slug."""

    runs: dict[str, OpenRun] = field(default_factory=dict)

    @classmethod
    def open(cls, paths: list[Path]) -> Catalog:
        runs = find_runs(paths)
        catalog = cls()
        for path, label in zip(runs, run_labels(runs), strict=True):
            slug, n = _slug(label), 2
            while slug in catalog.runs:
                slug, n = f"{_slug(label)}-{n}", n + 1
            catalog.runs[slug] = OpenRun(path, slug, label)
        return catalog

    def get(self, slug: str) -> OpenRun:
        try:
            return self.runs[slug]
        except KeyError:
            raise UnknownRun(f"no run {slug!r} is open") from None

    def close(self) -> None:
        for run in self.runs.values():
            run.close()
