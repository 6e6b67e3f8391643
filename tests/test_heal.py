"""Runs that heal after faults: errors rerun on request with their history kept, a timeout that
bounds everything an episode waits on, run files that refuse edits, clear messages (no
tracebacks) for damaged run folders, and SIGTERM/Ctrl-C that record what finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from envs.remote import SandboxUnavailable
from envs.sandbox import InProcessSandbox, Session
from envs.task import Task
from harnesses.base import EpisodeContext, HarnessResult
from harnesses.golden import replay
from judges.spec import checkpoint_scorer
from judges.store import judge_run, read_judgments
from tests.conftest import docker_or_skip
from trajectories.journal import INDEX, Journal, read_history, read_journal
from valuegym.cli import app
from valuegym.runner import RunConfig, RunFileError, create_run, execute_run, load_run


class FlakySandbox(InProcessSandbox):
    """The in-process sandbox, whose opens fail for the tasks named in `down`."""

    def __init__(self, down: set[str]) -> None:
        super().__init__()
        self.down = down

    def open(self, task: Task, seed: int) -> Session:
        if task.id in self.down:
            raise SandboxUnavailable(f"open {task.id}: lost the sandbox (injected outage)")
        return super().open(task, seed)


def golden_a(ctx: EpisodeContext) -> HarnessResult:
    return replay(ctx, "a")


def new_run(tmp_path: Path, tasks: list[Task], **config: object) -> Path:
    run_dir = tmp_path / "run"
    create_run(run_dir, RunConfig(run_id="heal", harness="golden-a", **config), tasks)
    return run_dir


def finished_run_with_bad_line_2(
    tmp_path: Path, tasks: list[Task], junk: bytes
) -> tuple[Path, list[bytes]]:
    """A golden-a run whose journal has `junk` inserted as line 2; the original lines back."""
    run_dir = new_run(tmp_path, tasks)
    execute_run(run_dir, golden_a)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + junk + b"\n" + b"".join(lines[1:]))
    return run_dir, lines


def test_retry_errors_reruns_only_errors_and_keeps_their_history(tmp_path, bundled_tasks):
    tasks = bundled_tasks[:3]
    broken = tasks[1].id
    run_dir = new_run(tmp_path, tasks, samples=2)
    first = execute_run(run_dir, golden_a, sandbox=FlakySandbox({broken}))
    assert first.counts == {"finished": 4, "error": 2} and first.errors_left == 2
    judge_run(run_dir, "checkpoint", read_journal(run_dir), checkpoint_scorer(tasks))

    # the documented default: a plain resume keeps error records as they are
    again = execute_run(run_dir, golden_a, sandbox=FlakySandbox(set()))
    assert again.counts == {} and again.errors_left == 2

    healed = execute_run(run_dir, golden_a, sandbox=FlakySandbox(set()), retry_errors=True)
    assert healed.counts == {"finished": 2} and healed.retried == 2 and healed.errors_left == 0
    history = list(read_history(run_dir))
    latest = list(read_journal(run_dir))
    assert len(history) == 8 and len(latest) == 6
    assert {(t.task_id, t.sample) for t in latest} == {(t.id, s) for t in tasks for s in (0, 1)}
    assert all(t.status == "finished" for t in latest)
    old = [t for t in history if t.task_id == broken]
    assert [t.status for t in old] == ["error", "error", "finished", "finished"]
    assert "injected outage" in (old[0].error or "")
    import sqlite3

    with sqlite3.connect(run_dir / INDEX) as db:
        rows = db.execute("SELECT status FROM episodes WHERE task_id = ?", (broken,)).fetchall()
    assert rows == [("finished",), ("finished",)]

    # the rerun episodes are judged again; the others keep their judgments
    judged = judge_run(run_dir, "checkpoint", read_journal(run_dir), checkpoint_scorer(tasks))
    stored = read_judgments(run_dir, "checkpoint")
    assert all(j.outcome == "scored" for j in stored.values()), stored
    assert {j.record for j in judged.values()} == {t.started_at for t in latest}

    # reports count each episode once, from the index or (when it is stale) the journal
    from judges.runs import load_scored_run, read_episode_heads

    assert len(load_scored_run(run_dir).heads) == 6
    (run_dir / INDEX).unlink()
    _, heads = read_episode_heads(run_dir)
    assert len(heads) == 6 and {h.status for h in heads} == {"finished"}

    # a finished episode is never recorded twice, even with retry_errors
    with Journal(run_dir) as journal:
        assert not journal.append(latest[0], replace=True)
        assert journal.done(retry_errors=True) == journal.done()


def test_the_timeout_bounds_an_episode_that_hangs(tmp_path, bundled_tasks):
    release = threading.Event()

    def stuck(ctx: EpisodeContext) -> HarnessResult:
        release.wait(30)  # a model or sandbox call that never answers
        return HarnessResult(status="finished")

    run_dir = tmp_path / "run"
    config = RunConfig(run_id="hang", harness="stuck", harness_config={"timeout_s": 0.2})
    create_run(run_dir, config, bundled_tasks[:1])
    import valuegym.runner as runner

    grace, runner.FINALIZE_GRACE_S = runner.FINALIZE_GRACE_S, 0.3
    started = time.monotonic()
    try:
        summary = execute_run(run_dir, stuck)
    finally:
        runner.FINALIZE_GRACE_S = grace
        release.set()
    assert time.monotonic() - started < 5
    assert summary.counts == {"error": 1}
    (record,) = read_journal(run_dir)
    assert "did not end within its 0.2 s timeout" in (record.error or "")
    assert "running harness stuck" in (record.error or "")


def run_cli(cli, *args: str):
    result = cli.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_a_resume_of_an_edited_run_refuses(tmp_path, cli, bundled_tasks):
    run_dir = new_run(tmp_path, bundled_tasks[:1])
    path = run_dir / "run.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "harness": "golden-b"}, indent=2))
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2
    assert "run.json: edited since the run was created" in result.output
    assert "golden-b" in result.output and "Traceback" not in result.output
    path.write_text(json.dumps(data))  # reformatted but unchanged: accepted
    assert load_run(run_dir, verify=True)[0].harness == "golden-a"
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume", "--harness", "react")
    assert result.exit_code == 2 and "was created with harness 'golden-a'" in result.output


def test_damaged_run_files_are_named_in_the_message(tmp_path, cli, bundled_tasks):
    run_dir = new_run(tmp_path, bundled_tasks[:2])
    config, tasks_file = run_dir / "run.json", run_dir / "tasks.jsonl"
    good_config, good_tasks = config.read_bytes(), tasks_file.read_bytes()

    config.write_bytes(good_config[: len(good_config) // 2])
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2 and f"{config}: not valid JSON" in result.output

    config.write_bytes(good_config)
    tasks_file.write_bytes(good_tasks[: len(good_tasks) // 2])
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2 and f"{tasks_file}: changed since the run" in result.output

    # a run from before checksums: the snapshot is still checked record by record
    data = json.loads(good_config)
    del data["checksum"], data["tasks_sha256"]
    config.write_text(json.dumps(data))
    with pytest.raises(RunFileError, match=r"tasks.jsonl: line 1 is not a task: not valid JSON"):
        load_run(run_dir)
    tasks_file.write_bytes(good_tasks)
    config.write_text(json.dumps({**data, "harness": "no-such-harness"}))
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2
    assert f"{config}: harness:" in result.output and "no-such-harness" in result.output
    config.write_text(json.dumps({**data, "samples": "two"}))
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2 and f"{config}: samples: Input should be" in result.output


def test_garbage_mid_journal_and_a_locked_run_are_messages(tmp_path, cli, bundled_tasks):
    run_dir, lines = finished_run_with_bad_line_2(tmp_path, bundled_tasks[:3], b"\x00\xffgarbage{")
    journal = run_dir / "journal.jsonl"
    result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2, result.output
    assert f"{journal}: line 2 (byte {len(lines[0])}) is not a trajectory record" in result.output
    assert "Traceback" not in result.output

    journal.write_bytes(b"".join(lines))
    with Journal(run_dir):
        result = run_cli(cli, "run", "--out", str(run_dir), "--resume")
    assert result.exit_code == 2
    assert f"is being written by process {os.getpid()}" in result.output


def test_retry_errors_needs_a_run(tmp_path, cli):
    result = run_cli(cli, "run", "--out", str(tmp_path / "none"), "--retry-errors")
    assert result.exit_code == 2 and "--retry-errors" in result.output


VALUEGYM = [sys.executable, "-m", "valuegym"]


def lines_of(journal: Path) -> list[dict]:
    return [json.loads(line) for line in journal.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_records_what_finished_and_resumes(tmp_path, sig, bundled_tasks):
    """A signal mid-run: exit with a message, every recorded episode finished or interrupted
    (none lost, none twice), the process backend's server gone, and a retry completes it."""
    out = tmp_path / "run"
    samples = 4
    command = [*VALUEGYM, "run", "--out", str(out), "--harness", "golden-a"]
    command += ["--samples", str(samples), "--concurrency", "2", "--sandbox", "process"]
    command += ["--task-ids", ",".join(t.id for t in bundled_tasks[:2])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.005)
    servers = _children(process.pid)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == (143 if sig == signal.SIGTERM else 130), stderr
    assert "stopped by" in stderr and "--retry-errors" in stderr and "Traceback" not in stderr
    records = lines_of(journal)
    keys = [(r["task_id"], r["sample"]) for r in records]
    assert len(keys) == len(set(keys)) and len(keys) < samples * 2
    for record in records:
        assert record["status"] == "finished" or record["error"].startswith("interrupted:")
    for pid in servers:  # the sandbox server (and what it started) is stopped
        assert not _running(pid), f"process {pid} outlived the run"
    resumed = subprocess.run(
        [*command, "--resume", "--retry-errors"], capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    latest = list(read_journal(out))
    assert len(latest) == samples * 2 and {t.status for t in latest} == {"finished"}


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_bad_task_files_are_reported_and_never_take_a_run_or_check_down(
    tmp_path, cli, example_data
):
    from tests.conftest import write_yaml

    folder = tmp_path / "tasks"
    write_yaml(folder / "good.yaml", example_data)
    (folder / "latin1.yaml").write_bytes(b"id: caf\xe9\n")
    (folder / "dangling.yaml").symlink_to(folder / "nowhere.yaml")
    (folder / "loop-a.yaml").symlink_to(folder / "loop-b.yaml")
    (folder / "loop-b.yaml").symlink_to(folder / "loop-a.yaml")
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)
    ]
    (folder / "bomb.yaml").write_text("\n".join(levels) + "\n")  # 10^9 values, 700 bytes

    result = run_cli(cli, "check", str(folder))
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = " ".join(result.output.split())
    assert "latin1.yaml" in out and "not UTF-8 text: byte 7 (line 1) is 0xe9" in out
    assert "dangling.yaml" in out and "dangling or looping symbolic link" in out
    assert "loop-a.yaml" in out and "loop-b.yaml" in out
    assert "bomb.yaml" in out and "aliases expand to more than 100,000 values" in out

    result = run_cli(cli, "run", "--out", str(tmp_path / "run"), "--tasks", str(folder))
    assert result.exit_code == 0, result.output
    config, tasks = load_run(tmp_path / "run")
    assert [t.id for t in tasks] == [example_data["id"]]
    skipped = {Path(s.path).name: s.reason for s in config.skipped_tasks}
    assert set(skipped) == {
        "latin1.yaml",
        "dangling.yaml",
        "loop-a.yaml",
        "loop-b.yaml",
        "bomb.yaml",
    }


def test_an_endpoint_entry_that_is_a_string_is_a_message(tmp_path, cli):
    path = tmp_path / "endpoints.yaml"
    path.write_text("endpoints:\n  local: http://127.0.0.1:8000/v1\n")
    from tests.conftest import EXAMPLE

    args = ["run", "--out", str(tmp_path / "run"), "--tasks", str(EXAMPLE)]
    result = run_cli(cli, *args, "--model", "local", "--endpoints", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "endpoints.local: expected a mapping (base_url, model, ...), got str" in " ".join(
        result.output.split()
    )


def test_no_base_image_and_no_debootstrap_says_what_to_run(monkeypatch, cli):
    """Docker without a base image or debootstrap: `sandbox build` (and so the docker tests'
    fixture) names the commands that get an image, instead of an ImageError traceback."""
    import envs.sandbox_image as sandbox_image

    client = docker_or_skip()
    monkeypatch.setattr(sandbox_image.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox_image, "_try_pull", lambda client, image, log: False)
    with pytest.raises(sandbox_image.ImageError) as caught:
        sandbox_image.resolve_base(client, None, "no-such-suite", "http://mirror", print)
    message = str(caught.value)
    assert "sudo apt-get install debootstrap && sudo valuegym sandbox build" in message
    assert "valuegym sandbox build --base IMAGE" in message
    result = run_cli(cli, "sandbox", "build", "--suite", "no-such-suite")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "sudo apt-get install debootstrap" in " ".join(result.output.split())


def test_reading_commands_report_damaged_runs_as_messages(tmp_path, cli, bundled_tasks):
    run_dir, lines = finished_run_with_bad_line_2(tmp_path, bundled_tasks[:2], b"not a record")
    journal = run_dir / "journal.jsonl"
    result = run_cli(cli, "judge", str(run_dir), "--judge", "checkpoint")
    assert result.exit_code != 0
    assert "line 2 (byte" in result.output and "Traceback" not in result.output
    journal.write_bytes(b"".join(lines))
    (run_dir / "run.json").write_text('{"run_id": "x", "harn')
    result = run_cli(cli, "report", str(run_dir))
    assert result.exit_code != 0 and "run.json: not valid JSON" in result.output
