"""Acceptance: the bundled suite gives the same tool logs and scores on every sandbox backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valuegym.cli import app


def outcome(cli, run_dir: Path) -> tuple[list, list]:
    records = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    logs = sorted(
        (r["episode_id"], r["status"], r["tool_log"], r["state_diff"], r["final_state"])
        for r in records
    )
    report = json.loads(cli.invoke(app, ["report", str(run_dir), "--json"]).output)
    scores = sorted((e["task_id"], e["status"], e["scores"]) for e in report["episodes"])
    return logs, scores


@pytest.mark.parametrize("backend", ["process", "docker"])
def test_bundled_suite_matches_inprocess(backend, cli, tmp_path, bundled_tasks, request) -> None:
    if backend == "docker":
        request.getfixturevalue("docker_image")
    results = {}
    for sandbox in ("inprocess", backend):
        for harness in ("golden-a", "golden-b"):
            out = tmp_path / f"{sandbox}-{harness}"
            args = ["run", "--out", str(out), "--harness", harness, "--sandbox", sandbox]
            done = cli.invoke(app, [*args, "--concurrency", "2"])
            assert done.exit_code == 0, done.output
            results[sandbox, harness] = outcome(cli, out)
    for harness in ("golden-a", "golden-b"):
        logs, scores = results[backend, harness]
        assert len(logs) == len(bundled_tasks)
        assert {status for _, status, *_ in logs} == {"finished"}
        assert logs == results["inprocess", harness][0]
        assert scores == results["inprocess", harness][1]
