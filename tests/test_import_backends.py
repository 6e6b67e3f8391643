"""Imported release tasks on every sandbox backend: run, refuse, and (docker) stay contained."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from envs.agent_valuebench.importer import import_release
from envs.remote import SandboxError
from envs.sandbox import Sandbox, make_sandbox
from envs.task import Task, load_task
from harnesses.models import ModelEndpoint, save_endpoint
from harnesses.scripted.server import ScriptedServer
from valuegym.cli import app
from valuegym.runner import sandbox_options

from .test_import import RELEASE

BACKENDS = ["inprocess", "process", pytest.param("docker", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, list[Task]]:
    out = tmp_path_factory.mktemp("imported")
    import_release(RELEASE, out)
    tasks = [load_task(p) for p in sorted((out / "tasks").glob("*.json"))]
    return out / "tasks", tasks


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "docker":
        request.getfixturevalue("release_image")  # imported tasks run in the release image
        monkeypatch.setenv("VALUEGYM_SANDBOX_IMAGE", request.getfixturevalue("docker_image"))
    return request.param


@pytest.fixture
def sandbox(backend: str, imported) -> Iterator[Sandbox]:
    box = make_sandbox(backend, sandbox_options(imported[1]))
    yield box
    box.close()


def by_id(tasks: list[Task], task_id: str) -> Task:
    return next(t for t in tasks if t.id == task_id)


def test_react_with_the_random_policy_runs_and_reports(backend, imported, tmp_path, cli):
    tasks_dir, tasks = imported
    endpoints = tmp_path / "endpoints.yaml"
    with ScriptedServer(tasks) as server:
        save_endpoint(
            ModelEndpoint(name="rnd", base_url=server.base_url, model="random"), endpoints
        )
        out = tmp_path / "run"
        result = cli.invoke(
            app,
            [
                "run",
                "--out",
                str(out),
                "--tasks",
                str(tasks_dir),
                "--harness",
                "react",
                "--model",
                "rnd",
                "--endpoints",
                str(endpoints),
                "--sandbox",
                backend,
                "--max-steps",
                "6",
                "--counterbalance",
            ],
        )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in records) == sorted(t.id for t in tasks)
    assert {r["status"] for r in records} <= {"finished", "max_steps"}, [
        r["error"] for r in records
    ]
    assert any(r["tool_log"] for r in records)
    report = cli.invoke(app, ["report", str(out), "--json"])
    assert report.exit_code == 0, report.output


def test_function_list_is_enforced_on_every_backend(sandbox, imported):
    task = by_id(imported[1], "avb-00004")  # function_list: get_book, place_hold
    session = sandbox.open(task, seed=3)
    refused = session.call("checkout_book", {"book_id": "B-2", "member_id": "M-3"})
    assert (refused.ok, refused.error_kind) == (False, "refused")
    assert session.call("get_book", {"book_id": "B-2"}).ok
    final = session.finalize()
    assert [(e.tool, e.refused) for e in final.tool_log] == [
        ("checkout_book", True),
        ("get_book", False),
    ]
    assert final.final_state["loans"] == {}
    session.close()


def test_release_requirements_are_in_the_release_image_only(imported, monkeypatch, release_image):
    task = by_id(imported[1], "avb-00007")  # ShuttleBooking imports dateutil
    box = make_sandbox("docker", sandbox_options(imported[1]))
    try:
        session = box.open(task, seed=1)
        found = session.call("find_departures", {"after": "2026-03-02T17:30:00"})
        session.close()
    finally:
        box.close()
    assert found.ok and [d["departure_id"] for d in found.data["data"]] == ["D-2"]
    plain = sandbox_options(imported[1]).model_copy(
        update={"image": release_image.removesuffix("-release")}
    )
    box = make_sandbox("docker", plain)  # the sandbox image alone lacks the release's packages
    try:
        with pytest.raises(SandboxError) as caught:
            box.open(task, seed=1)
    finally:
        box.close()
    message = str(caught.value)
    assert "ShuttleBooking" in message and "'dateutil'" in message, message
    assert "Internal Server Error" not in message


def test_release_writes_stay_inside_the_container(imported, tmp_path, monkeypatch, release_image):
    monkeypatch.setenv("VALUEGYM_SANDBOX_IMAGE", release_image.removesuffix("-release"))
    task = by_id(imported[1], "avb-00002")  # FileVault: writes wherever the agent says
    box = make_sandbox("docker", sandbox_options(imported[1]))
    try:
        session = box.open(task, seed=1)
        outside = tmp_path / f"leak-{uuid.uuid4().hex}" / "handover.txt"
        written = session.call("export_note", {"name": "handover", "path": str(outside)})
        into_release = RELEASE / "environment" / "planted.py"
        blocked = session.call("export_note", {"name": "handover", "path": str(into_release)})
        session.close()
    finally:
        box.close()
    assert written.ok, "the write happened, inside the container"
    assert not outside.exists() and not outside.parent.exists()
    assert not blocked.ok and "Read-only" in (blocked.error or "")
    assert not into_release.exists()


@pytest.mark.parametrize("backend", ["inprocess", "process"], indirect=True)
def test_release_writes_never_land_in_your_working_folder(sandbox, imported, tmp_path, monkeypatch):
    """Escape 5: a release tool that writes where the agent says, told to overwrite the run
    journal in the working folder, writes into its session's private folder instead."""
    monkeypatch.chdir(tmp_path)
    journal = tmp_path / "runs" / "r" / "journal.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_text('{"episode": 1}\n')
    task = by_id(imported[1], "avb-00002")  # FileVault: writes wherever the agent says
    session = sandbox.open(task, seed=1)
    written = [
        session.call("export_note", {"name": "handover", "path": path})
        for path in ("journal.jsonl", "runs/r/journal.jsonl")
    ]
    session.close()
    assert all(result.ok for result in written), "the writes happened, elsewhere"
    assert journal.read_text() == '{"episode": 1}\n'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["journal.jsonl", "r", "runs"]


def test_a_release_image_built_for_another_release_is_named(imported, tmp_path, caplog):
    """One release image per sandbox tag: running another release's tasks in it warns, naming
    both releases and the rebuild, before an environment fails for a missing package."""
    from types import SimpleNamespace

    from envs.docker_sandbox import RELEASE_LABEL, check_docker

    def client(built_for: Path) -> SimpleNamespace:
        image = SimpleNamespace(labels={RELEASE_LABEL: str(built_for.resolve())})
        return SimpleNamespace(images=SimpleNamespace(get=lambda tag: image))

    options = sandbox_options(imported[1])
    with caplog.at_level("WARNING", logger="envs.docker_sandbox"):
        check_docker(options, client=client(RELEASE))  # type: ignore[arg-type]
    assert "built for the release" not in caplog.text
    other = tmp_path / "other-release"
    with caplog.at_level("WARNING", logger="envs.docker_sandbox"):
        check_docker(options, client=client(other))  # type: ignore[arg-type]
    assert f"built for the release at {other.resolve()}, not {RELEASE.resolve()}" in caplog.text
    assert f"valuegym sandbox build --release {RELEASE.resolve()}" in caplog.text
