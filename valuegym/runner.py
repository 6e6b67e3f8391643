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
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from envs.sandbox import Sandbox, Session, make_sandbox
from envs.sandbox_options import SandboxOptions, release_image_for
from envs.task import Task, swap_poles
from harnesses.base import EpisodeContext, Harness, HarnessConfig, HarnessResult
from harnesses.clients import ModelClients
from harnesses.models import ModelEndpoint
from harnesses.skills import Skill
from trajectories.journal import Journal, read_journal
from trajectories.schema import Trajectory, Usage, episode_id
from valuegym.executors import Executor, LocalExecutor
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
    condition: Literal["agent", "choice"] = Field(
        default="agent",
        description="agent: tasks with their tools; choice: each task asked as a text-only "
        "two-option question (the `choice` harness, no sandbox).",
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


@dataclass(frozen=True)
class Episode:
    """One unit of a run: a task (as snapshotted) and a sample number."""

    task: Task
    sample: int


def presented(config: RunConfig, episode: Episode) -> tuple[Task, int, bool]:
    """The task as this episode presents it, the episode's seed and whether poles are swapped."""
    task, sample = episode.task, episode.sample
    seed = episode_seed(config.seed, task.id, sample)
    swapped = config.counterbalance and episode_seed(config.seed + 1, task.id, sample) % 2 == 1
    task = swap_poles(task) if swapped else task
    if config.harness_config.max_steps:  # the session enforces the budget, so it must know it
        task = task.model_copy(update={"max_steps": config.harness_config.max_steps})
    return task, seed, swapped


def _trajectory(
    config: RunConfig,
    episode: Episode,
    status: str,
    error: str | None,
    started: str,
    duration_s: float,
    result: HarnessResult | None = None,
    record: dict[str, object] | None = None,
) -> Trajectory:
    task, seed, swapped = presented(config, episode)
    return Trajectory(
        run_id=config.run_id,
        episode_id=episode_id(task.id, episode.sample),
        task_id=task.id,
        sample=episode.sample,
        seed=seed,
        harness=config.harness,
        model=config.model.model if config.model else None,
        skills=[skill.label for skill in config.skills],
        value_system=task.value_system,
        values={pole: task.poles[pole].value.name for pole in ("a", "b")},
        swapped=swapped,
        condition=config.condition,
        status=status,  # type: ignore[arg-type]
        error=error,
        started_at=started,
        duration_s=round(duration_s, 6),
        messages=result.messages if result else [],
        final_answer=result.final_answer if result else None,
        usage=result.usage if result else Usage(),
        harness_version=result.harness_version if result else None,
        **(record or {}),  # type: ignore[arg-type]
    )


def run_episode(
    episode: Episode,
    config: RunConfig,
    harness: Harness,
    sandbox: Sandbox,
    clients: ModelClients | None = None,
    model: ModelEndpoint | None = None,
) -> Trajectory:
    """Run one episode to a trajectory. Never raises: every failure becomes an `error` record.

    `model` overrides the run's endpoint (a node's own server for the same model).
    """
    task, seed, _ = presented(config, episode)
    started = datetime.now(UTC).isoformat()
    clock = time.monotonic()
    session: Session | None = None
    result: HarnessResult | None = None
    error: str | None = None
    record: dict[str, object] = {}
    cut_off = False
    try:
        session = sandbox.open(task, seed)
        context = EpisodeContext(
            task=task,
            session=session,
            config=config.harness_config,
            seed=seed,
            deadline=clock + config.harness_config.timeout_s,
            model=model or config.model,
            skills=config.skills,
            clients=clients or ModelClients(),
        )
        result = harness(context)
        record["tools"] = session.tools
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    if session is not None:
        try:
            finalized = session.finalize()
            record.update(finalized.model_dump())
            cut_off = any(entry.result.over_budget for entry in finalized.tool_log)
        except Exception as exc:
            error = error or f"finalize failed: {type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):  # best effort: the record is already complete
            session.close()
    status = "error" if error or result is None else result.status
    if status == "finished" and cut_off:
        status = "max_steps"  # the environment cut the agent off, whatever the harness said
    error = error or (result.error if result else None)
    duration = time.monotonic() - clock
    return _trajectory(config, episode, status, error, started, duration, result, record)


def lost_episode(config: RunConfig) -> Callable[[Episode, str], Trajectory]:
    """The `error` record of an episode whose worker was lost on each of its attempts."""

    def lost(episode: Episode, reason: str) -> Trajectory:
        return _trajectory(config, episode, "error", reason, datetime.now(UTC).isoformat(), 0.0)

    return lost


class EpisodeWorker:
    """Runs one run's episodes where it is built: its sandbox, harness and model clients.

    The local executor builds one in this process; the Ray executor builds one per node, so
    environment code runs on the node that hosts it and model traffic goes to the node's own
    endpoint when it has one (`node_endpoints`: the run's endpoint name looked up in the
    node's endpoints file; it must serve the same model).
    """

    def __init__(
        self,
        config: RunConfig,
        harness: Harness | str,
        release_dirs: list[Path] | None = None,
        sandbox: Sandbox | None = None,
        node_endpoints: bool = False,
    ) -> None:
        from harnesses.base import get_harness

        self.config = config
        self.harness = get_harness(harness) if isinstance(harness, str) else harness
        self.model = node_endpoint(config.model) if node_endpoints else config.model
        self._owns_sandbox = sandbox is None
        if sandbox is None:
            sandbox = make_sandbox(config.sandbox, with_releases(release_dirs or []))
        self.sandbox = sandbox
        self.clients = ModelClients()

    def __call__(self, episode: Episode) -> Trajectory:
        return run_episode(
            episode, self.config, self.harness, self.sandbox, self.clients, self.model
        )

    def close(self) -> None:
        self.clients.close()
        if self._owns_sandbox:
            self.sandbox.close()


def node_endpoint(endpoint: ModelEndpoint | None) -> ModelEndpoint | None:
    """The run's endpoint as this machine's endpoints file defines it, if it does.

    A cluster node with its own model server (a vLLM per GPU node) names it like the driver
    does; its file must serve the same model, so the run's results stay comparable.
    """
    from harnesses.models import EndpointError, load_endpoints

    if endpoint is None:
        return None
    try:
        local = load_endpoints().get(endpoint.name)
    except EndpointError:
        return endpoint
    if local is None:
        return endpoint
    if local.model != endpoint.model:
        raise EndpointError(
            f"this node's endpoint {endpoint.name!r} serves model {local.model!r}, "
            f"but the run uses {endpoint.model!r}"
        )
    return local


@dataclass
class RunSummary:
    total: int
    skipped_done: int
    counts: dict[str, int]


ProgressHook = Callable[[Trajectory], None]


def release_dirs(tasks: Iterable[Task]) -> list[Path]:
    """The release folders imported tasks read their environment code from."""
    return sorted(
        {Path(t.metadata["environment_dir"]) for t in tasks if "environment_dir" in t.metadata}
    )


def with_releases(dirs: list[Path]) -> SandboxOptions:
    """Sandbox settings from this machine's environment, plus the given release folders.

    Imported release tasks run in the release image (docker), which adds the release's own
    requirements to the sandbox image.
    """
    options = SandboxOptions.from_env()
    update: dict[str, object] = {"release_dirs": [*options.release_dirs, *dirs]}
    if dirs:
        update["image"] = release_image_for(options)
    return options.model_copy(update=update)


def sandbox_options(tasks: Iterable[Task]) -> SandboxOptions:
    """Sandbox settings from the environment, plus the release folders imported tasks need."""
    return with_releases(release_dirs(tasks))


def pending_episodes(
    tasks: Iterable[Task], samples: int, done: set[tuple[str, int]]
) -> list[Episode]:
    return [Episode(t, s) for t in tasks for s in range(samples) if (t.id, s) not in done]


def execute_run(
    run_dir: Path,
    harness: Harness | str,
    sandbox: Sandbox | None = None,
    on_episode: ProgressHook | None = None,
    on_start: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Run every episode of the run that is not yet in its journal.

    `executor` decides where episodes run (default: threads here, `concurrency` at a time);
    wherever they run, only this process writes the journal and index. A harness given by
    name is loaded where the episodes run; a `sandbox` given here is only usable locally.
    """
    config, tasks = load_run(run_dir)
    executor = executor or LocalExecutor(concurrency or config.concurrency)
    if sandbox is not None and not isinstance(executor, LocalExecutor):
        raise ValueError("a sandbox object can only be shared with the local executor")
    make_worker = partial(
        EpisodeWorker,
        config,
        harness,
        release_dirs(tasks),
        sandbox,
        node_endpoints=not isinstance(executor, LocalExecutor),
    )
    counts: dict[str, int] = {}
    with Journal(run_dir) as journal:
        done = journal.done()
        todo = pending_episodes(tasks, config.samples, done)
        if on_start:
            on_start(len(todo), len(done))
        results = executor.map(make_worker, todo, lost_episode(config))
        with contextlib.closing(results):  # a failure here stops the executor at once
            for trajectory in results:
                journal.append(trajectory)
                counts[trajectory.status] = counts.get(trajectory.status, 0) + 1
                if on_episode:
                    on_episode(trajectory)
    return RunSummary(total=len(tasks) * config.samples, skipped_done=len(done), counts=counts)


def run_trajectories(run_dir: Path) -> list[Trajectory]:
    return list(read_journal(run_dir))
