"""Fixtures for judging: golden runs of the bundled suite, and scripted judges on loopback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harnesses.models import ModelEndpoint, save_endpoint
from harnesses.scripted.server import ScriptedServer
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

JUDGE_POLICIES = ["judge", "judge-first-bias", "judge-flaky", "refuser"]


def golden_run(run_dir: Path, harness: str, tasks) -> Path:
    """A run of `tasks` under a golden harness, as `valuegym run` makes it."""
    from harnesses.base import get_harness

    config = RunConfig(run_id=harness, harness=harness, task_ids=sorted(t.id for t in tasks))
    create_run(run_dir, config, tasks)
    execute_run(run_dir, get_harness(harness))
    return run_dir


@pytest.fixture(scope="session")
def golden_dirs(bundled_tasks, tmp_path_factory) -> dict[str, Path]:
    """golden-a and golden-b runs of the whole bundled suite, shared read-only by tests."""
    root = tmp_path_factory.mktemp("golden")
    return {h: golden_run(root / h, h, bundled_tasks) for h in ("golden-a", "golden-b")}


@pytest.fixture(scope="session")
def golden_trajectories(golden_dirs):
    return {h: run_trajectories(d) for h, d in golden_dirs.items()}


@pytest.fixture(scope="session")
def judge_server(bundled_tasks):
    """Scripted judges find the task a judge prompt quotes among the tasks they are given."""
    with ScriptedServer(bundled_tasks) as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def judge_endpoints(judge_server, tmp_path_factory) -> Path:
    """`scripted-<policy>` for the judge policies, and `nobody`, where nothing listens."""
    path = tmp_path_factory.mktemp("judge-endpoints") / "endpoints.yaml"
    for policy in JUDGE_POLICIES:
        save_endpoint(
            ModelEndpoint(name=f"scripted-{policy}", base_url=judge_server.base_url, model=policy),
            path,
        )
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    save_endpoint(ModelEndpoint(name="nobody", base_url=dead, model="judge"), path)
    return path
