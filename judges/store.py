"""Judgments stored beside a run, one JSONL file per judge configuration.

Judging never touches the journal: a new judge adds a file, so rescoring keeps the old scores.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from judges.verdict import Judgment
from trajectories.schema import Trajectory
from valuegym.executors import Executor, WorkerFactory

JUDGMENTS_DIR = "judgments"


def judgment_path(run_dir: Path, judge_key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.,:+-]", "_", judge_key).replace(":", "__")
    return run_dir / JUDGMENTS_DIR / f"{safe}.jsonl"


def read_judgments(run_dir: Path, judge_key: str) -> dict[str, Judgment]:
    """Judgments by episode id (the latest of each); a torn last line is ignored."""
    path = judgment_path(run_dir, judge_key)
    found: dict[str, Judgment] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            judgment = Judgment.model_validate_json(line)
        except ValueError:
            continue
        found[judgment.episode_id] = judgment  # a rerun episode's newer judgment wins
    return found


def judge_run(
    run_dir: Path,
    judge_key: str,
    trajectories: Iterable[Trajectory],
    score: Callable[[Trajectory], Judgment] | None,
    concurrency: int = 1,
    on_judgment: Callable[[Judgment], None] | None = None,
    executor: Executor | None = None,
    make_worker: WorkerFactory[Trajectory, Judgment] | None = None,
) -> dict[str, Judgment]:
    """Score every episode not yet judged under `judge_key`, appending as it goes (resumable).

    With `concurrency` > 1 episodes are judged in threads and written as they finish; if one
    raises (an unreachable endpoint), the rest are cancelled and what finished stays written.
    With `executor` (a Ray cluster) they are judged where it runs them, by the judges
    `make_worker` builds there (`judges.spec.judge_worker`); only this process writes. An
    episode whose worker was lost twice is left unjudged, for the next `judge` to pick up.
    """
    path = judgment_path(run_dir, judge_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    _cut_torn_tail(path)
    done = read_judgments(run_dir, judge_key)
    todo = [t for t in trajectories if not _current(done.get(t.episode_id), t)]

    def stamped(trajectory: Trajectory) -> Judgment:
        return score(trajectory).model_copy(update={"record": trajectory.started_at})

    with path.open("a", encoding="utf-8") as handle:

        def write(judgment: Judgment) -> None:
            handle.write(judgment.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            done[judgment.episode_id] = judgment
            if on_judgment:
                on_judgment(judgment)

        if executor is not None:
            if make_worker is None:
                raise ValueError("judging under an executor needs make_worker")
            started = {t.episode_id: t.started_at for t in todo}
            results = executor.map(make_worker, todo, lambda trajectory, why: None)
            with contextlib.closing(results):
                for judgment in results:
                    if judgment is not None:
                        write(judgment.model_copy(update={"record": started[judgment.episode_id]}))
            return done
        if concurrency <= 1:
            for trajectory in todo:
                write(stamped(trajectory))
            return done
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(stamped, t) for t in todo]
            try:
                for future in as_completed(futures):
                    write(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return done


def _current(judgment: Judgment | None, trajectory: Trajectory) -> bool:
    """Whether `judgment` is of this record (not of one an error rerun superseded)."""
    return judgment is not None and judgment.record in (None, trajectory.started_at)


def _cut_torn_tail(path: Path) -> None:
    """Drop a half-written last line so the next append starts on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def stored_judges(run_dir: Path) -> list[str]:
    """The judge keys with a judgments file in the run (file names mapped back to keys)."""
    keys = []
    for path in sorted((run_dir / JUDGMENTS_DIR).glob("*.jsonl")):
        key = path.stem.replace("__", ":")
        if judgment_path(run_dir, key) == path:
            keys.append(key)
    return keys
