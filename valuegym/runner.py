"""The episode runner: tasks x samples -> sandbox sessions -> harness -> journaled trajectories.

A run lives in one folder: `run.json` (its configuration), `tasks.jsonl` (a snapshot of the
tasks, so a resumed or rescored run sees exactly what the first one did), `journal.jsonl` and
`index.sqlite` (the episodes), and `judgments/` (scores, one file per judge).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from pydantic import BaseModel, Field

from envs.sandbox import Sandbox, Session, make_sandbox
from envs.sandbox_options import SandboxOptions
from envs.task import Task, swap_poles
from harnesses.base import EpisodeContext, Harness, HarnessConfig, HarnessResult
from harnesses.models import ModelEndpoint
from harnesses.skills import Skill
from trajectories.journal import Journal, read_journal
from trajectories.schema import Trajectory, Usage, episode_id
from valuegym.selection import Selection

RUN_CONFIG = "run.json"
TASKS_SNAPSHOT = "tasks.jsonl"


class SkippedTask(BaseModel):
    path: str
    reason: str


class RunConfig(BaseModel):
    """Everything needed to reproduce a run; written once to `run.json`."""

    run_id: str
    harness: str
    sandbox: str = "inprocess"
    samples: int = Field(default=1, ge=1)
    concurrency: int = Field(default=1, ge=1)
    seed: int = 0
    counterbalance: bool = Field(
        default=False, description="Randomise per episode which value is presented as A."
    )
    harness_config: HarnessConfig = Field(default_factory=HarnessConfig)
    model: ModelEndpoint | None = Field(default=None, description="Recorded without its key.")
    skills: list[Skill] = Field(default_factory=list, description="Snapshots of the skills used.")
    task_sources: list[str] = Field(default_factory=list)
    task_ids: list[str] = Field(default_factory=list)
    skipped_tasks: list[SkippedTask] = Field(default_factory=list)
    selection: Selection = Field(
        default_factory=Selection, description="The --task-ids/--value-system/... filters used."
    )
    valuegym_version: str = Field(default_factory=lambda: version("valuegym"))
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


class RunExists(RuntimeError):
    pass


class NoRun(RuntimeError):
    pass


def episode_seed(run_seed: int, task_id: str, sample: int) -> int:
    """A stable per-episode seed: the same run seed, task and sample always give the same one."""
    digest = hashlib.sha256(f"{run_seed}:{task_id}:{sample}".encode()).hexdigest()
    return int(digest[:8], 16)


def create_run(run_dir: Path, config: RunConfig, tasks: list[Task]) -> None:
    if (run_dir / RUN_CONFIG).exists():
        raise RunExists(f"{run_dir} already holds a run; pass --resume to continue it")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / TASKS_SNAPSHOT).write_text(
        "".join(t.model_dump_json(by_alias=True) + "\n" for t in tasks), encoding="utf-8"
    )
    # run.json is written last: its presence means the snapshot is complete
    (run_dir / RUN_CONFIG).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_run(run_dir: Path) -> tuple[RunConfig, list[Task]]:
    config_path = run_dir / RUN_CONFIG
    if not config_path.exists():
        raise NoRun(f"{run_dir} holds no run (no {RUN_CONFIG})")
    config = RunConfig.model_validate_json(config_path.read_text(encoding="utf-8"))
    lines = (run_dir / TASKS_SNAPSHOT).read_text(encoding="utf-8").splitlines()
    return config, [Task.model_validate_json(line) for line in lines if line.strip()]


def run_episode(
    task: Task, sample: int, config: RunConfig, harness: Harness, sandbox: Sandbox
) -> Trajectory:
    """Run one episode to a trajectory. Never raises: every failure becomes an `error` record."""
    seed = episode_seed(config.seed, task.id, sample)
    swapped = config.counterbalance and episode_seed(config.seed + 1, task.id, sample) % 2 == 1
    task = swap_poles(task) if swapped else task
    started = datetime.now(UTC).isoformat()
    clock = time.monotonic()
    session: Session | None = None
    result: HarnessResult | None = None
    error: str | None = None
    record: dict[str, object] = {}
    try:
        session = sandbox.open(task, seed)
        context = EpisodeContext(
            task=task,
            session=session,
            config=config.harness_config,
            seed=seed,
            deadline=clock + config.harness_config.timeout_s,
            model=config.model,
            skills=config.skills,
        )
        result = harness(context)
        record["tools"] = session.tools
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    if session is not None:
        try:
            finalized = session.finalize()
            record.update(finalized.model_dump())
        except Exception as exc:
            error = error or f"finalize failed: {type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):  # best effort: the record is already complete
            session.close()
    status = "error" if error or result is None else result.status
    return Trajectory(
        run_id=config.run_id,
        episode_id=episode_id(task.id, sample),
        task_id=task.id,
        sample=sample,
        seed=seed,
        harness=config.harness,
        model=config.model.model if config.model else None,
        skills=[skill.label for skill in config.skills],
        value_system=task.value_system,
        values={pole: task.poles[pole].value.name for pole in ("a", "b")},
        swapped=swapped,
        status=status,
        error=error or (result.error if result else None),
        started_at=started,
        duration_s=round(time.monotonic() - clock, 6),
        messages=result.messages if result else [],
        final_answer=result.final_answer if result else None,
        usage=result.usage if result else Usage(),
        **record,  # type: ignore[arg-type]
    )


@dataclass
class RunSummary:
    total: int
    skipped_done: int
    counts: dict[str, int]


ProgressHook = Callable[[Trajectory], None]


def sandbox_options(tasks: Iterable[Task]) -> SandboxOptions:
    """Sandbox settings from the environment, plus the release folders imported tasks need."""
    releases = sorted(
        {Path(t.metadata["environment_dir"]) for t in tasks if "environment_dir" in t.metadata}
    )
    options = SandboxOptions.from_env()
    return options.model_copy(update={"release_dirs": [*options.release_dirs, *releases]})


def pending_episodes(
    tasks: Iterable[Task], samples: int, done: set[tuple[str, int]]
) -> list[tuple[Task, int]]:
    return [(t, s) for t in tasks for s in range(samples) if (t.id, s) not in done]


def execute_run(
    run_dir: Path,
    harness: Harness,
    sandbox: Sandbox | None = None,
    on_episode: ProgressHook | None = None,
    on_start: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
) -> RunSummary:
    """Run every episode of the run that is not yet in its journal."""
    config, tasks = load_run(run_dir)
    owned = sandbox is None
    sandbox = sandbox or make_sandbox(config.sandbox, sandbox_options(tasks))
    workers = concurrency or config.concurrency
    counts: dict[str, int] = {}
    with Journal(run_dir) as journal, contextlib.ExitStack() as stack:
        if owned:
            stack.callback(sandbox.close)
        done = journal.done()
        todo = pending_episodes(tasks, config.samples, done)
        if on_start:
            on_start(len(todo), len(done))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_episode, t, s, config, harness, sandbox) for t, s in todo]
            try:
                for future in as_completed(futures):
                    trajectory = future.result()
                    journal.append(trajectory)
                    counts[trajectory.status] = counts.get(trajectory.status, 0) + 1
                    if on_episode:
                        on_episode(trajectory)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return RunSummary(total=len(tasks) * config.samples, skipped_done=len(done), counts=counts)


def run_trajectories(run_dir: Path) -> list[Trajectory]:
    return list(read_journal(run_dir))
