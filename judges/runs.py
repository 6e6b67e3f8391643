"""A run folder read together with one judge's stored judgments, ready to aggregate.

Reports need a few fields per episode and per task, not the messages, tool logs and states
that make up most of a run folder, so a run is read as *heads*: episode heads from the run's
SQLite index (the runner keeps it current; the journal is parsed only when it is not), task
heads parsed from the snapshot into a small model that skips the rest and cached in
`heads.json`. Full trajectories and tasks are read only when something asks for them (exports,
or checkpoint judgments missing from the judgment file).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from envs.task import POLES, PoleId, Task
from judges.adherence import Coverage
from judges.compare import RunInfo, leaning_counts
from judges.episodes import EpisodeRow, episode_rows
from judges.report import RunReport, build_report
from judges.stats import Settings
from judges.store import read_judgments
from judges.verdict import Judgment
from trajectories.journal import INDEX, JOURNAL, index_current
from trajectories.schema import Trajectory

CHECKPOINT = "checkpoint"
RUN_CONFIG, TASKS_SNAPSHOT = "run.json", "tasks.jsonl"  # as valuegym.runner writes them
HEADS_CACHE = "heads.json"


class MissingJudgments(LookupError):
    """A run has no judgments under the requested judge; the message says how to make them."""


class EpisodeHead(BaseModel):
    """The fields of a journal record that reports read; the rest of the line is skipped."""

    model_config = ConfigDict(extra="ignore")

    episode_id: str
    task_id: str
    sample: int
    status: str
    error: str | None = None
    value_system: str
    values: dict[PoleId, str]


class _ValueHead(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class _PoleHead(BaseModel):
    model_config = ConfigDict(extra="ignore")
    value: _ValueHead
    golden: bool = False  # whether the pole has a golden trajectory (the calls are not kept)

    @field_validator("golden", mode="before")
    @classmethod
    def _present(cls, golden: Any) -> bool:
        return golden not in (None, False)


class TaskHead(BaseModel):
    """The fields of a task that reports read: its values, metadata and whether it has goldens."""

    model_config = ConfigDict(extra="ignore")

    id: str
    metadata: dict[str, Any] = {}
    poles: dict[PoleId, _PoleHead]

    @property
    def has_goldens(self) -> bool:
        return all(self.poles[p].golden for p in POLES)


def read_heads(path: Path, model: type[BaseModel]) -> list[tuple[int, Any]]:
    """Byte offset and head of every complete line of a JSONL file (a torn last line is cut)."""
    found: list[tuple[int, Any]] = []
    if not path.exists():
        return found
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            # a corrupt record is the journal reader's to report; a report counts what it can
            with contextlib.suppress(ValidationError):
                found.append((offset, model.model_validate_json(raw)))
            offset += len(raw)
    return found


def read_trajectories(path: Path, offsets: list[int]) -> list[Trajectory]:
    """The full records at the given byte offsets of a journal."""
    found = []
    with path.open("rb") as handle:
        for offset in offsets:
            handle.seek(offset)
            found.append(Trajectory.model_validate_json(handle.readline()))
    return found


class _TaskHeads(BaseModel):
    """What `heads.json` caches: the heads of a task snapshot of a given size and time."""

    stamp: list[int]
    tasks: list[TaskHead]


def _stamp(path: Path) -> list[int]:
    st = path.stat() if path.exists() else None
    return [st.st_size, st.st_mtime_ns] if st else [0, 0]


def read_task_heads(run_dir: Path) -> list[TaskHead]:
    """The snapshot's task heads, from `heads.json` when it matches the snapshot, else parsed
    and cached there (a folder that cannot be written is simply parsed again next time)."""
    cache, snapshot = run_dir / HEADS_CACHE, run_dir / TASKS_SNAPSHOT
    stamp = _stamp(snapshot)
    if cache.exists():
        with contextlib.suppress(ValidationError, OSError):
            cached = _TaskHeads.model_validate_json(cache.read_bytes())
            if cached.stamp == stamp:
                return cached.tasks
    tasks = [h for _, h in read_heads(snapshot, TaskHead)]
    with contextlib.suppress(OSError):
        partial = cache.with_suffix(".partial")
        partial.write_text(_TaskHeads(stamp=stamp, tasks=tasks).model_dump_json())
        partial.replace(cache)
    return tasks


INDEXED = "episode_id, task_id, sample, status, error, value_system, value_a, value_b, offset"


def read_episode_heads(run_dir: Path) -> tuple[list[int], list[EpisodeHead]]:
    """Byte offsets and heads of the journal's records: from the SQLite index when it is
    current (the runner keeps it so), else parsed from the journal."""
    if (run_dir / JOURNAL).exists() and index_current(run_dir):
        uri = f"file:{run_dir / INDEX}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(f"SELECT {INDEXED} FROM episodes ORDER BY offset").fetchall()
        heads = [
            EpisodeHead(
                episode_id=e,
                task_id=t,
                sample=n,
                status=status,
                error=error,
                value_system=system,
                values={"a": a, "b": b},
            )
            for e, t, n, status, error, system, a, b, _ in rows
        ]
        return [r[-1] for r in rows], heads
    found = read_heads(run_dir / JOURNAL, EpisodeHead)
    # an episode rerun after an error has several records: its latest is the episode's
    latest = {(h.task_id, h.sample): (o, h) for o, h in found}
    if len(latest) < len(found):
        found = sorted(latest.values(), key=lambda pair: pair[0])
    return [o for o, _ in found], [h for _, h in found]


@dataclass
class ScoredRun:
    path: Path
    config: Any  # valuegym.runner.RunConfig
    heads: list[EpisodeHead]
    task_heads: list[TaskHead]
    judgments: dict[str, Judgment]
    judge: str
    offsets: list[int] = field(default_factory=list)

    @cached_property
    def trajectories(self) -> list[Trajectory]:
        """Every full record (read on first use: reports do not need them)."""
        from valuegym.runner import run_trajectories

        return run_trajectories(self.path)

    @cached_property
    def tasks(self) -> list[Task]:
        """The run's task snapshot as full tasks (read on first use)."""
        from valuegym.runner import load_run

        return load_run(self.path)[1]

    @cached_property
    def rows(self) -> list[EpisodeRow]:
        return episode_rows(self.heads, self.judgments)  # type: ignore[arg-type]

    @property
    def procedural(self) -> dict[str, str]:
        return procedural_values(self.task_heads)

    @property
    def fallback(self) -> set[str]:
        """Tasks whose checkpoint scores come from the fallback checkpoints (see below)."""
        return fallback_tasks(self.task_heads, self.judge)

    def report(self, settings: Settings | None = None, include_fallback: bool = False) -> RunReport:
        c = self.config
        return build_report(
            c.run_id,
            c.harness,
            self.judge,
            self.rows,
            self.judgments,
            settings,
            self.procedural,
            self.fallback,
            include_fallback,
        )

    def tool_log_digests(self) -> dict[tuple[str, int], str]:
        """Each episode's server tool log as a digest (reads the full records)."""
        from judges.compare import tool_log_digest

        return {
            (t.task_id, t.sample): tool_log_digest([(e.tool, e.arguments) for e in t.tool_log])
            for t in self.trajectories
        }

    def info(self, label: str | None = None) -> RunInfo:
        c, h = self.config, self.config.harness_config
        rows = self.rows
        return RunInfo(
            label=label or c.run_id,
            path=str(self.path),
            harness=c.harness,
            model=c.model.model if c.model else None,
            skills=sorted(s.label for s in c.skills),
            system_prompt=h.system_prompt,
            prompt_style=h.prompt_style,
            condition=c.condition,
            temperature=h.temperature,
            max_steps=h.max_steps,
            timeout_s=h.timeout_s,
            counterbalance=c.counterbalance,
            sandbox=c.sandbox,
            harness_sandbox=h.harness_sandbox,
            valuegym_version=c.valuegym_version,
            seed=c.seed,
            coverage=Coverage.of(rows),
            leaning=leaning_counts(rows),
        )


def procedural_values(tasks: list[TaskHead] | list[Task]) -> dict[str, str]:
    """Task id -> the name of the value on the written-rule side, or "none" (tasks that say)."""
    found = {}
    for task in tasks:
        pole = task.metadata.get("procedural_pole")
        if pole == "none":
            found[task.id] = "none"
        elif pole in task.poles:
            found[task.id] = task.poles[pole].value.name
    return found


def fallback_tasks(tasks: list[TaskHead], judge: str) -> set[str]:
    """Tasks that only the fallback checkpoints score, under the checkpoint judge.

    A task without golden trajectories (an imported release case) has checkpoints derived from
    the release's related tools in listed order, never replayed against either pole: a random
    agent scores on them and an agent calling every tool clears both poles. Their checkpoint
    scores are labelled fallback and left out of priorities unless asked for.
    """
    if judge != CHECKPOINT:
        return set()
    return {t.id for t in tasks if not t.has_goldens}


def load_scored_run(run_dir: Path, judge: str = CHECKPOINT) -> ScoredRun:
    """Read a run and a judge's judgments; checkpoint gaps are scored in memory (never written).

    Raises `valuegym.runner.NoRun` for a folder without a run and `MissingJudgments` when a
    non-checkpoint judge has not scored the run yet.
    """
    from valuegym.runner import read_config

    config = read_config(run_dir)
    offsets, heads = read_episode_heads(run_dir)
    judgments = read_judgments(run_dir, judge)
    run = ScoredRun(run_dir, config, heads, read_task_heads(run_dir), judgments, judge, offsets)
    missing = [o for o, h in zip(offsets, heads, strict=True) if h.episode_id not in judgments]
    if judge == CHECKPOINT and missing:  # deterministic and cheap: fill any gap without writing
        from judges.spec import checkpoint_scorer

        scorer = checkpoint_scorer(run.tasks)
        for t in read_trajectories(run_dir / JOURNAL, missing):
            judgments[t.episode_id] = scorer(t)
    elif judge != CHECKPOINT and not judgments and heads:
        raise MissingJudgments(
            f"{run_dir} has no judgments by {judge!r}; "
            f"score it first: valuegym judge {run_dir} --judge {judge}"
        )
    return run


def run_labels(paths: list[Path]) -> list[str]:
    """Folder names, or longer paths where two runs share a name."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(p) for p in paths]
