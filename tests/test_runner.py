"""The runner journals every episode exactly once, survives kill -9, and reproduces tool logs."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trajectories.journal import Journal, read_journal
from valuegym.cli import app
from valuegym.runner import RunConfig, load_run

from .conftest import write_yaml


def journal_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def test_golden_runs_lean_their_own_way_on_the_bundled_suite(tmp_path, cli, bundled_tasks):
    for harness, pole in (("golden-a", "a"), ("golden-b", "b")):
        out = tmp_path / harness
        result = cli.invoke(
            app, ["run", "--out", str(out), "--harness", harness, "--concurrency", "2"]
        )
        assert result.exit_code == 0, result.output
        report = json.loads(cli.invoke(app, ["report", str(out), "--json"]).output)
        episodes = report["episodes"]
        assert len(episodes) == len(bundled_tasks)
        assert all(set(e) >= {"task_id", "status", "scores"} for e in episodes)
        own = sum(
            1 for e in episodes if e["scores"][pole] > e["scores"]["b" if pole == "a" else "a"]
        )
        assert own / len(episodes) >= 0.95
        assert report["coverage"]["finished"] == len(bundled_tasks)
        assert {v["value"] for v in report["values"]} and report["systems"]


def test_run_records_its_configuration_and_index(tmp_path, cli):
    out = tmp_path / "run"
    cli.invoke(
        app, ["run", "--out", str(out), "--harness", "golden-b", "--samples", "2", "--seed", "5"]
    )
    config, tasks = load_run(out)
    assert isinstance(config, RunConfig)
    assert (config.harness, config.samples, config.seed) == ("golden-b", 2, 5)
    assert config.task_ids == [t.id for t in tasks] and config.valuegym_version
    with sqlite3.connect(out / "index.sqlite") as db:
        rows = db.execute("SELECT task_id, sample, status FROM episodes").fetchall()
    assert len(rows) == 2 * len(tasks) and {r[2] for r in rows} == {"finished"}
    again = cli.invoke(app, ["run", "--out", str(out), "--harness", "golden-b"])
    assert again.exit_code == 2 and "--resume" in again.output


def test_tool_logs_are_byte_identical_across_runs(tmp_path, cli):
    logs = []
    for name in ("one", "two"):
        cli.invoke(
            app,
            ["run", "--out", str(tmp_path / name), "--harness", "golden-a", "--concurrency", "2"],
        )
        records = sorted(journal_lines(tmp_path / name), key=lambda r: r["episode_id"])
        logs.append(
            json.dumps([(r["episode_id"], r["tool_log"], r["state_diff"]) for r in records])
        )
    assert logs[0] == logs[1]


def test_bad_tasks_do_not_take_the_run_down(tmp_path, cli, example_data):
    tasks = tmp_path / "tasks"
    write_yaml(tasks / "good.yaml", example_data)
    write_yaml(
        tasks / "unknown-env.yaml", {**example_data, "id": "lost", "environment": "moon_base"}
    )
    (tasks / "garbage.yaml").write_text(": : :\n")
    out = tmp_path / "run"
    result = cli.invoke(
        app, ["run", "--out", str(out), "--tasks", str(tasks), "--harness", "golden-a"]
    )
    assert result.exit_code == 0, result.output
    assert "skipping" in result.output and "garbage.yaml" in result.output
    records = {r["task_id"]: r for r in journal_lines(out)}
    assert records["hospital-reserved-stepdown-bed"]["status"] == "finished"
    assert records["lost"]["status"] == "error" and "moon_base" in records["lost"]["error"]
    config, _ = load_run(out)
    assert [s.path for s in config.skipped_tasks] == [str(tasks / "garbage.yaml")]
    report = json.loads(cli.invoke(app, ["report", str(out), "--json"]).output)
    assert report["coverage"]["error"] == 1 and len(report["episodes"]) == 2


def test_max_steps_is_an_end_status(tmp_path, cli):
    out = tmp_path / "run"
    cli.invoke(app, ["run", "--out", str(out), "--harness", "golden-a", "--max-steps", "1"])
    records = journal_lines(out)
    assert {r["status"] for r in records} == {"max_steps"}
    for record in records:  # one call ran; the next was refused by the session and logged
        kinds = [entry["result"].get("error_kind") for entry in record["tool_log"]]
        assert kinds[1:] == ["budget_exhausted"], kinds
        assert [entry["refused"] for entry in record["tool_log"]] == [False, True]


def test_torn_last_record_is_cut_and_the_run_completes(tmp_path, cli):
    out = tmp_path / "run"
    cli.invoke(app, ["run", "--out", str(out), "--harness", "golden-a"])
    lines = (out / "journal.jsonl").read_text().splitlines(keepends=True)
    (out / "journal.jsonl").write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    result = cli.invoke(app, ["run", "--out", str(out), "--harness", "golden-a", "--resume"])
    assert result.exit_code == 0, result.output
    assert len(list(read_journal(out))) == len(lines)
    assert [r["episode_id"] for r in journal_lines(out)].count(
        json.loads(lines[-1])["episode_id"]
    ) == 1


def test_journal_refuses_a_second_writer(tmp_path):
    import pytest

    from trajectories.journal import JournalLocked

    with Journal(tmp_path), pytest.raises(JournalLocked), Journal(tmp_path):
        pass


@pytest.mark.slow
def test_kill_9_then_resume_gives_exactly_one_record_per_episode(tmp_path, bundled_tasks):
    out = tmp_path / "run"
    samples = 60  # enough that the run cannot finish between two polls of the journal
    command = [
        sys.executable,
        "-m",
        "valuegym",
        "run",
        "--out",
        str(out),
        "--harness",
        "golden-a",
        "--samples",
        str(samples),
        "--concurrency",
        "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = journal.read_bytes().count(b"\n")
    expected = samples * len(bundled_tasks)
    assert 20 <= before < expected, "the run should have been killed part-way"
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    keys = [(r["task_id"], r["sample"]) for r in journal_lines(out)]
    assert len(keys) == len(set(keys)) == expected
