"""Run folders written in other tools' formats: `valuegym export RUN --format NAME`.

A format is a plain function from a loaded run and an output path to the files it wrote,
registered by name with `@export_format`. The built-in formats live in this package; another
package adds one by registering its function under the `valuegym.exports` entry-point group
(`my-format = "mypkg.export:write"`, the function decorated or not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

from envs.task import Task
from judges.runs import CHECKPOINT, load_scored_run
from judges.store import read_judgments, stored_judges
from judges.verdict import Judgment
from trajectories.schema import Trajectory
from valuegym.runner import RunConfig

ENTRY_POINT_GROUP = "valuegym.exports"
BUILTIN = (
    "trajectories.exports.inspect_log",
    "trajectories.exports.atif",
    "trajectories.exports.parquet",
    "trajectories.exports.agent_valuebench",
)


@dataclass
class ExportedRun:
    """Everything a format may write: the run's configuration, tasks, episodes and judgments.

    `judgments` maps each judge key to its judgments by episode id; checkpoint judgments the
    run has not stored yet are scored in memory, as `valuegym report` does.
    """

    path: Path
    config: RunConfig
    tasks: dict[str, Task]
    trajectories: list[Trajectory]
    judgments: dict[str, dict[str, Judgment]] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> ExportedRun:
        scored = load_scored_run(run_dir)
        judgments = {CHECKPOINT: scored.judgments}
        for key in stored_judges(run_dir):
            if key != CHECKPOINT:
                judgments[key] = read_judgments(run_dir, key)
        return cls(
            path=run_dir,
            config=scored.config,
            tasks={t.id: t for t in scored.tasks},
            trajectories=scored.trajectories,
            judgments=judgments,
        )


Writer = Callable[[ExportedRun, Path], list[Path]]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    write: Writer
    summary: str
    default_name: str  # the output's name beside the run, `{run}` replaced by the run id

    def default_out(self, run: ExportedRun) -> Path:
        return Path(self.default_name.format(run=run.config.run_id))


class UnknownFormat(LookupError):
    pass


class MissingExtra(RuntimeError):
    """A format's library is not installed; the message says which extra brings it."""


_FORMATS: dict[str, ExportFormat] = {}  # filled once, as the format modules are imported


def export_format(name: str, summary: str, default_name: str) -> Callable[[Writer], Writer]:
    """Register the decorated function as the writer of format `name`."""

    def register(write: Writer) -> Writer:
        _FORMATS[name] = ExportFormat(name, write, summary, default_name)
        return write

    return register


def formats() -> dict[str, ExportFormat]:
    """Every known format: the built-in ones and those other packages register."""
    for module in BUILTIN:
        import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in _FORMATS:
            loaded = entry.load()
            if entry.name not in _FORMATS:  # a plain function, not decorated
                _FORMATS[entry.name] = ExportFormat(entry.name, loaded, "", entry.name)
    return dict(sorted(_FORMATS.items()))


def get_format(name: str) -> ExportFormat:
    known = formats()
    if name not in known:
        raise UnknownFormat(f"unknown export format {name!r}; known: {', '.join(known)}")
    return known[name]


def export_run(run_dir: Path, name: str, out: Path | None = None) -> list[Path]:
    """Write a run in format `name` (to `out`, or beside the working directory by default)."""
    fmt = get_format(name)
    run = ExportedRun.load(run_dir)
    return fmt.write(run, out or fmt.default_out(run))
