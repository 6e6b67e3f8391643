"""Release environments that read the wall clock, uuids and set order replay exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envs.agent_valuebench import seeded
from envs.agent_valuebench.importer import import_release
from envs.clock import SeededClock
from envs.remote import SandboxError
from envs.sandbox import make_sandbox
from envs.task import Task, load_task
from valuegym.check import check_paths
from valuegym.runner import sandbox_options

from .test_import import RELEASE


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Task:
    out = tmp_path_factory.mktemp("repro")
    import_release(RELEASE, out)
    return load_task(out / "tasks" / "avb-00005.json")  # TicketDesk: clock, uuid, a set


def replay(backend: str, task: Task, seed: int) -> str:
    box = make_sandbox(backend, sandbox_options([task]))
    try:
        session = box.open(task, seed)
        opened = session.call("open_ticket", {"subject": "Payroll export failed"})
        ticket = opened.data["data"]["ticket_id"]
        session.call("label_ticket", {"ticket_id": ticket, "label": "our-change"})
        session.call("escalate", {"ticket_id": ticket, "reason": "needs the on-call"})
        session.call("list_labels", {})
        log = session.finalize().tool_log
        session.close()
    finally:
        box.close()
    return json.dumps([entry.model_dump() for entry in log], sort_keys=True)


@pytest.mark.parametrize("backend", ["inprocess", "process"])
def test_same_seed_same_tool_log(backend, desk):
    first, second = replay(backend, desk, 11), replay(backend, desk, 11)
    assert first == second
    assert replay(backend, desk, 12) != first  # the ids come from the seed, not a constant


def test_set_order_is_the_same_in_every_server_process(desk):
    orders = []
    for _ in range(2):  # each process sandbox starts its own server (fixed hash seed)
        log = json.loads(replay("process", desk, 3))
        orders.append(log[-1]["result"]["data"]["data"])
    assert orders[0] == orders[1] and len(orders[0]) == 5


def test_release_results_carry_the_seeded_clock(desk):
    log = json.loads(replay("inprocess", desk, 5))
    opened, _, escalated, _ = log
    assert opened["result"]["data"]["data"]["opened_at"] == opened["clock"][:19]
    stamp = escalated["result"]["data"]["data"]["escalated_at"]
    assert stamp == pytest.approx(
        SeededClock(escalated["clock"]).now().timestamp()
    )  # time.time() read in the call, at the tool log's own time


def test_stand_ins_behave_like_the_modules_they_replace():
    sources = seeded.EpisodeSources(SeededClock("2026-03-02T09:00:00+00:00"), "s")
    with seeded.bound(sources):
        now = seeded.datetime.datetime.now()
        later = seeded.datetime.datetime.now()
        assert now.isoformat() == "2026-03-02T09:00:00" and later > now  # a ms per read
        assert isinstance(now, seeded.datetime.datetime)
        import datetime as real

        assert isinstance(real.datetime(2020, 1, 1), seeded.datetime.datetime)
        assert seeded.datetime.date.today().isoformat() == "2026-03-02"
        assert seeded.uuid.uuid4().version == 4
        drawn = [seeded.random.randint(0, 10**9) for _ in range(3)]
        assert seeded.time.strftime("%Y") == "2026"
    fresh = seeded.EpisodeSources(SeededClock("2026-03-02T09:00:00+00:00"), "s")
    with seeded.bound(fresh):
        seeded.uuid.uuid4()
        assert [seeded.random.randint(0, 10**9) for _ in range(3)] == drawn


@pytest.fixture
def broken_release(tmp_path) -> Path:
    """The fixture release plus one environment whose module needs a package nobody has."""
    root = tmp_path / "release"
    shutil.copytree(RELEASE, root)
    env = root / "environment"
    source = (env / "FileVault.py").read_text().replace("FileVault", "GateAccess")
    (env / "GateAccess.py").write_text("import valuegym_absent_dependency\n" + source)
    (env / "GateAccess.json").write_text(
        (env / "FileVault.json").read_text().replace("FileVault", "GateAccess")
    )
    case = json.loads((root / "case" / "case_00002.json").read_text())
    case["environment"] = "GateAccess"
    (root / "case" / "case_00008.json").write_text(json.dumps(case))
    shutil.copy(
        root / "rubric" / "case_00002_rubric.json", root / "rubric" / "case_00008_rubric.json"
    )
    return root


def test_a_missing_module_is_named_at_check_and_at_open(broken_release, tmp_path):
    out = tmp_path / "imported"
    import_release(broken_release, out)
    report = check_paths([out / "tasks"], {})
    (error,) = report.errors
    assert error.path.endswith("avb-00008.json") and error.field == "environment"
    assert "GateAccess" in error.message and "'valuegym_absent_dependency'" in error.message
    task = load_task(out / "tasks" / "avb-00008.json")
    for backend in ("inprocess", "process"):
        box = make_sandbox(backend, sandbox_options([task]))
        try:
            with pytest.raises((SandboxError, Exception)) as caught:
                box.open(task, 1)
        finally:
            box.close()
        message = str(caught.value)
        assert "GateAccess" in message and "valuegym_absent_dependency" in message, message
        assert "Internal Server Error" not in message


def test_same_seed_same_tool_log_on_docker(desk, docker_image, release_image, monkeypatch):
    monkeypatch.setenv("VALUEGYM_SANDBOX_IMAGE", docker_image)
    first = replay("docker", desk, 11)
    assert first == replay("docker", desk, 11)
    assert first == replay("process", desk, 11)  # and the same as the process backend
