"""Acceptance: the bundled suite gives the same tool logs and scores on every sandbox backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuegym.cli import app

HARNESSES = ("golden-a", "golden-b")


def run_suite(out: Path, sandbox: str) -> dict[str, tuple[list, list]]:
    """Per golden harness: sorted (episode, status, tool log, diff, final state) and scores."""
    cli = CliRunner()
    results = {}
    for harness in HARNESSES:
        run_dir = out / f"{sandbox}-{harness}"
        args = ["run", "--out", str(run_dir), "--harness", harness, "--sandbox", sandbox]
        done = cli.invoke(app, [*args, "--concurrency", "2"])
        assert done.exit_code == 0, done.output
        lines = (run_dir / "journal.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        logs = sorted(
            (r["episode_id"], r["status"], r["tool_log"], r["state_diff"], r["final_state"])
            for r in records
        )
        report = json.loads(cli.invoke(app, ["report", str(run_dir), "--json"]).output)
        scores = sorted((e["task_id"], e["status"], e["scores"]) for e in report["episodes"])
        results[harness] = (logs, scores)
    return results


@pytest.fixture(scope="module")
def inprocess_results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_suite(tmp_path_factory.mktemp("inprocess"), "inprocess")


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_bundled_suite_matches_inprocess(
    backend, inprocess_results, tmp_path, bundled_tasks, request
) -> None:
    if backend == "docker":
        request.getfixturevalue("docker_image")
    results = run_suite(tmp_path, backend)
    for harness in HARNESSES:
        logs, scores = results[harness]
        assert len(logs) == len(bundled_tasks)
        assert {status for _, status, *_ in logs} == {"finished"}
        assert logs == inprocess_results[harness][0]
        assert scores == inprocess_results[harness][1]
