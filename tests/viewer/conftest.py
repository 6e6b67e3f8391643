"""Run folders for the viewer and export tests: golden runs, and a run with every kind of end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harnesses.base import EpisodeContext, HarnessResult
from harnesses.golden import replay
from judges.spec import checkpoint_scorer
from judges.store import judge_run
from tests.judging.conftest import golden_run
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

BROKEN_TASK = "hospital-float-nurse-placement"


def mixed_harness(ctx: EpisodeContext) -> HarnessResult:
    """Plays pole A's golden path on some tasks and pole B's on others; fails on one task."""
    if ctx.task.id == BROKEN_TASK:
        raise RuntimeError("the model endpoint went away")
    return replay(ctx, "a" if len(ctx.task.id) % 2 else "b")


def mixed_run(run_dir: Path, tasks) -> Path:
    config = RunConfig(run_id="mixed", harness="mixed", task_ids=sorted(t.id for t in tasks))
    create_run(run_dir, config, tasks)
    execute_run(run_dir, mixed_harness)
    judge_run(run_dir, "checkpoint", run_trajectories(run_dir), checkpoint_scorer(tasks))
    return run_dir


@pytest.fixture(scope="session")
def view_runs(bundled_tasks, tmp_path_factory) -> dict[str, Path]:
    """golden-a, golden-b and mixed runs of the bundled suite (read-only: copy to change)."""
    root = tmp_path_factory.mktemp("view-runs")
    runs = {h: golden_run(root / h, h, bundled_tasks) for h in ("golden-a", "golden-b")}
    for run_dir in runs.values():  # as `valuegym run` does after the episodes
        judge_run(
            run_dir, "checkpoint", run_trajectories(run_dir), checkpoint_scorer(bundled_tasks)
        )
    runs["mixed"] = mixed_run(root / "mixed", bundled_tasks)
    return runs


@pytest.fixture
def run_copy(view_runs, tmp_path):
    """A private copy of a run, free to be changed."""

    def copy(name: str) -> Path:
        return shutil.copytree(view_runs[name], tmp_path / name)

    return copy
