"""The episode runner: tasks x samples -> sandbox sessions -> harness -> journaled trajectories.

A run lives in one folder: `run.json` (its configuration), `tasks.jsonl` (a snapshot of the
tasks, so a resumed or rescored run sees exactly what the first one did), `journal.jsonl` and
`index.sqlite` (the episodes), and `judgments/` (scores, one file per judge).

`run.json` carries checksums of itself and of the task snapshot: a run's configuration is fixed
when it is created, and a resume of a run whose files were edited (another harness, other
tasks) refuses instead of mixing two configurations' episodes under one label.

Faults end episodes, never runs: an episode that hits an infrastructure fault (a lost sandbox,
an unreachable model server, a stop by SIGTERM or Ctrl-C) is recorded as `error` with its
reason, and `--resume --retry-errors` runs exactly those again (the journal keeps the old
records as history; readers see each episode's latest).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from envs.sandbox import Sandbox, Session, make_sandbox
from envs.sandbox_options import SandboxOptions, release_image_for
from envs.task import Task, swap_poles
from harnesses.base import EpisodeContext, Harness, HarnessConfig, HarnessResult
from harnesses.clients import ModelClients
from harnesses.models import ModelEndpoint, node_endpoint
from harnesses.skills import Skill
from trajectories.journal import CorruptJournal, Journal, JournalLocked, read_journal
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
    tasks_sha256: str | None = Field(
        default=None, description="sha256 of tasks.jsonl as written (None in older runs)."
    )
    checksum: str | None = Field(
        default=None,
        description="sha256 of this file's other fields (canonical JSON); a run whose run.json "
        "no longer matches it was edited and is refused (None in older runs).",
    )


class RunExists(RuntimeError):
    pass


class NoRun(RuntimeError):
    pass


class RunFileError(RuntimeError):
    """A run file is unreadable, truncated, invalid or was edited (file and field named)."""


RUN_FAULTS: tuple[type[Exception], ...] = (RunFileError, CorruptJournal, JournalLocked)
"""What a command reading or resuming a run reports as a message, not a traceback."""


class RunInterrupted(Exception):
    """The run was stopped by a signal; what finished and what was in flight are recorded."""

    def __init__(self, signal_name: str, recorded: int, interrupted: int) -> None:
        super().__init__(
            f"stopped by {signal_name}: {recorded} episodes recorded in this session, "
            f"{interrupted} in flight recorded as interrupted errors"
        )
        self.signal_name = signal_name
        self.recorded = recorded
        self.interrupted = interrupted


def _canonical_sha256(data: dict[str, object]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def episode_seed(run_seed: int, task_id: str, sample: int) -> int:
    """A stable per-episode seed: the same run seed, task and sample always give the same one."""
    digest = hashlib.sha256(f"{run_seed}:{task_id}:{sample}".encode()).hexdigest()
    return int(digest[:8], 16)


def create_run(run_dir: Path, config: RunConfig, tasks: list[Task]) -> None:
    if (run_dir / RUN_CONFIG).exists():
        raise RunExists(f"{run_dir} already holds a run; pass --resume to continue it")
    run_dir.mkdir(parents=True, exist_ok=True)
    snapshot = "".join(t.model_dump_json(by_alias=True) + "\n" for t in tasks).encode()
    (run_dir / TASKS_SNAPSHOT).write_bytes(snapshot)
    digest = hashlib.sha256(snapshot).hexdigest()
    _remember_snapshot(digest, list(tasks))
    config = config.model_copy(update={"tasks_sha256": digest, "checksum": None})
    data = json.loads(config.model_dump_json(exclude={"checksum"}))
    config = config.model_copy(update={"checksum": _canonical_sha256(data)})
    # run.json is written last: its presence means the snapshot is complete
    (run_dir / RUN_CONFIG).write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"].startswith("json"):
        return f"not valid JSON ({first['msg']}; truncated or edited?)"
    return f"{where or '(top level)'}: {first['msg']}"


def _read_config(path: Path) -> tuple[RunConfig, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return RunConfig.model_validate_json(raw), raw
    except ValidationError as exc:
        raise RunFileError(f"{path}: {_first_error(exc)}") from None


def read_config(run_dir: Path) -> RunConfig:
    """A run's `run.json` for readers (reports, the viewer): `NoRun`, or `RunFileError` naming
    the file and field, never a traceback. Resuming uses `load_run`, which also checks it."""
    path = run_dir / RUN_CONFIG
    if not path.exists():
        raise NoRun(f"{run_dir} holds no run (no {RUN_CONFIG})")
    return _read_config(path)[0]


def load_run(run_dir: Path, verify: bool = False) -> tuple[RunConfig, list[Task]]:
    """The run's configuration and task snapshot; `RunFileError` names what is wrong.

    With `verify` (resuming: executing more episodes), files that no longer match the checksums
    written when the run was created are refused; readers (reports, judges) take them as they
    are."""
    config_path, tasks_path = run_dir / RUN_CONFIG, run_dir / TASKS_SNAPSHOT
    if not config_path.exists():
        raise NoRun(f"{run_dir} holds no run (no {RUN_CONFIG})")
    config, raw = _read_config(config_path)
    try:
        snapshot = tasks_path.read_bytes()
    except OSError as exc:
        raise RunFileError(f"{tasks_path}: cannot read: {exc.strerror}") from None
    if verify and config.checksum is not None:
        data = json.loads(raw)
        data.pop("checksum", None)
        if _canonical_sha256(data) != config.checksum:
            raise RunFileError(
                f"{config_path}: edited since the run was created (its checksum no longer "
                f"matches; it now says harness {config.harness!r}, sandbox {config.sandbox!r}). "
                "A run's configuration is fixed so its episodes stay comparable: restore the "
                "file, or start a new run in another --out folder"
            )
    digest = hashlib.sha256(snapshot).hexdigest()
    if verify and config.tasks_sha256 is not None and digest != config.tasks_sha256:
        raise RunFileError(
            f"{tasks_path}: changed since the run was created (its sha256 no longer matches "
            f"{RUN_CONFIG}'s tasks_sha256; truncated or edited?): restore it, or start a new run"
        )
    if digest in _SNAPSHOTS:  # parsed already in this process (run, then judge)
        return config, list(_SNAPSHOTS[digest])
    tasks = []
    for number, line in enumerate(snapshot.splitlines(), 1):
        if not line.strip():
            continue
        try:
            tasks.append(Task.model_validate_json(line))
        except ValidationError as exc:
            raise RunFileError(
                f"{tasks_path}: line {number} is not a task: {_first_error(exc)}"
            ) from None
    _remember_snapshot(digest, tasks)
    return config, tasks


_SNAPSHOTS: dict[str, list[Task]] = {}
"""Parsed task snapshots by sha256: a 4,335-task run parses its snapshot once, not once per
command step (create, execute, judge)."""


def _remember_snapshot(digest: str, tasks: list[Task]) -> None:
    while len(_SNAPSHOTS) >= 4:
        _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
    _SNAPSHOTS[digest] = list(tasks)


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


FINALIZE_GRACE_S = 10.0
"""Past the episode's deadline, how long finalizing and closing its session may still take."""
OPEN_ALLOWANCE_S = 60.0
"""How long opening the session may take on top of the timeout (a sandbox starting or being
replaced first); the timeout itself starts once the session is open."""


@dataclass
class _Progress:
    """Where a running episode is, for the watchdog: what it waits on and until when."""

    phase: str
    end: float
    error: str | None = None


def run_episode(
    episode: Episode,
    config: RunConfig,
    harness: Harness,
    sandbox: Sandbox,
    clients: ModelClients | None = None,
    model: ModelEndpoint | None = None,
    stop: threading.Event | None = None,
) -> Trajectory:
    """Run one episode to a trajectory. Never raises: every failure becomes an `error` record.

    `--timeout` bounds all of it: the episode runs in a thread of its own and, should anything
    it waits on hang (a paused container, a stopped model server), it is recorded as an
    `error` naming what it was waiting for once the timeout and a short grace have passed.
    `stop` (set when the run is being stopped) abandons it at once the same way. `model`
    overrides the run's endpoint (a node's own server for the same model).
    """
    timeout_s = config.harness_config.timeout_s
    started = datetime.now(UTC).isoformat()
    clock = time.monotonic()
    progress = _Progress("opening its sandbox session", clock + timeout_s + OPEN_ALLOWANCE_S)
    outcome: list[Trajectory] = []

    def body() -> None:
        outcome.append(_episode_body(episode, config, harness, sandbox, clients, model, progress))

    thread = threading.Thread(target=body, name="valuegym-episode", daemon=True)
    thread.start()
    while thread.is_alive() and (now := time.monotonic()) < progress.end + FINALIZE_GRACE_S:
        if stop is not None and stop.is_set():
            break
        thread.join(min(progress.end + FINALIZE_GRACE_S - now, 0.05))
    if outcome:
        return outcome[0]
    if stop is not None and stop.is_set():
        reason = interrupted_reason("the run was stopping")
    else:
        reason = (
            f"the episode did not end within its {timeout_s:g} s timeout "
            f"(+{FINALIZE_GRACE_S:g} s grace) while {progress.phase}; it was abandoned"
        )
        if progress.error:
            reason += f" (it had failed with {progress.error})"
    return _trajectory(config, episode, "error", reason, started, time.monotonic() - clock)


def _episode_body(
    episode: Episode,
    config: RunConfig,
    harness: Harness,
    sandbox: Sandbox,
    clients: ModelClients | None,
    model: ModelEndpoint | None,
    progress: _Progress,
) -> Trajectory:
    task, seed, _ = presented(config, episode)
    started = datetime.now(UTC).isoformat()
    clock = time.monotonic()
    deadline = clock + config.harness_config.timeout_s
    session: Session | None = None
    result: HarnessResult | None = None
    error: str | None = None
    record: dict[str, object] = {}
    cut_off = False
    try:
        session = sandbox.open(task, seed)
        deadline = time.monotonic() + config.harness_config.timeout_s
        progress.end = deadline
        if hasattr(session, "deadline"):  # a server session: no request waits past the timeout
            session.deadline = deadline
        context = EpisodeContext(
            task=task,
            session=session,
            config=config.harness_config,
            seed=seed,
            deadline=deadline,
            model=model or config.model,
            skills=config.skills,
            clients=clients or ModelClients(),
        )
        progress.phase = f"running harness {config.harness} (its model or tool calls)"
        result = harness(context)
        record["tools"] = session.tools
    except Exception as exc:
        error = progress.error = f"{type(exc).__name__}: {exc}"
    if session is not None:
        progress.phase = "finalizing its sandbox session"
        if hasattr(session, "deadline"):
            session.deadline = max(deadline, time.monotonic()) + FINALIZE_GRACE_S / 4
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
        self.stopping = threading.Event()

    def __call__(self, episode: Episode) -> Trajectory:
        return run_episode(
            episode,
            self.config,
            self.harness,
            self.sandbox,
            self.clients,
            self.model,
            self.stopping,
        )

    def close(self) -> None:
        """Abandon episodes still running (a stopped run), then stop what this worker owns."""
        self.stopping.set()
        self.clients.close()
        if self._owns_sandbox:
            self.sandbox.close()


@dataclass
class RunSummary:
    total: int
    skipped_done: int
    counts: dict[str, int]
    retried: int = 0
    errors_left: int = 0
    """Episodes whose latest record is an `error` once this pass ended (`--retry-errors` reruns
    them)."""


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


class _Stopped(BaseException):
    """Raised in the main thread by SIGTERM (Ctrl-C raises KeyboardInterrupt)."""


class _StopSignals:
    """SIGTERM and SIGINT stop the run, but never in the middle of writing a record.

    Installed only in the main thread (signal handlers cannot be set elsewhere); a signal that
    arrives while a record is being written takes effect right after it.
    """

    def __init__(self) -> None:
        self._shield = 0
        self._pending: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self._shield:
            self._pending = self._pending or name
            return
        raise _Stopped(name)

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        self._shield += 1
        try:
            yield
        finally:
            self._shield -= 1
            if not self._shield and self._pending:
                name, self._pending = self._pending, None
                raise _Stopped(name)


def interrupted_reason(why: str) -> str:
    return (
        f"interrupted: {why} before this episode ended; "
        "`valuegym run --resume --retry-errors` runs it again"
    )


def execute_run(
    run_dir: Path,
    harness: Harness | str,
    sandbox: Sandbox | None = None,
    on_episode: ProgressHook | None = None,
    on_start: Callable[[int, int], None] | None = None,
    concurrency: int | None = None,
    executor: Executor | None = None,
    retry_errors: bool = False,
) -> RunSummary:
    """Run every episode of the run that is not yet in its journal.

    With `retry_errors`, episodes whose latest record is an `error` run again (their new record
    is appended; the old one stays as history). SIGTERM or Ctrl-C stop the run: what finished
    is recorded, episodes in flight are recorded as interrupted `error`s, the sandboxes this
    run started are stopped, and `RunInterrupted` is raised.

    `executor` decides where episodes run (default: threads here, `concurrency` at a time);
    wherever they run, only this process writes the journal and index. A harness given by
    name is loaded where the episodes run; a `sandbox` given here is only usable locally.
    """
    config, tasks = load_run(run_dir, verify=True)
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
    lost = lost_episode(config)
    in_flight: dict[tuple[str, int], Episode] = {}

    def feed(episodes: list[Episode]) -> Iterator[Episode]:
        """Hands episodes to the executor, which pulls one each time a slot frees: what was
        pulled and not yet recorded is what is in flight."""
        for episode in episodes:
            in_flight[(episode.task.id, episode.sample)] = episode
            yield episode

    with Journal(run_dir) as journal, _StopSignals() as signals:
        before = journal.statuses()
        done = journal.done(retry_errors)
        todo = pending_episodes(tasks, config.samples, done)
        retried = sum(1 for e in todo if (e.task.id, e.sample) in before)
        if on_start:
            on_start(len(todo), len(done))
        try:
            results = executor.map(make_worker, feed(todo), lost)
            with contextlib.closing(results):  # a failure here stops the executor at once
                for trajectory in results:
                    with signals.shielded():
                        journal.append(trajectory, replace=retry_errors)
                        in_flight.pop(trajectory.key, None)
                        counts[trajectory.status] = counts.get(trajectory.status, 0) + 1
                    if on_episode:
                        on_episode(trajectory)
        except (_Stopped, KeyboardInterrupt) as exc:
            name = str(exc) if isinstance(exc, _Stopped) else "SIGINT (Ctrl-C)"
            with signals.shielded():
                for episode in in_flight.values():
                    reason = interrupted_reason(f"the run was stopped ({name})")
                    journal.append(lost(episode, reason), replace=True)
            raise RunInterrupted(name, sum(counts.values()), len(in_flight)) from None
        errors_left = sum(1 for status in journal.statuses().values() if status == "error")
    return RunSummary(
        total=len(tasks) * config.samples,
        skipped_done=len(done),
        counts=counts,
        retried=retried,
        errors_left=errors_left,
    )


def run_trajectories(run_dir: Path) -> list[Trajectory]:
    return list(read_journal(run_dir))
