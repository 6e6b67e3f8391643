"""Importing a release-format tree (tests/fixtures/avb_release, written for valuegym)."""

import json
from pathlib import Path

import pytest

from envs.agent_valuebench.adapter import to_jsonable
from envs.agent_valuebench.importer import import_release
from envs.sandbox import InProcessSandbox
from envs.task import load_task
from judges.spec import checkpoint_scorer
from valuegym.cli import app

RELEASE = Path(__file__).parent / "fixtures" / "avb_release"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("avb")
    report = import_release(RELEASE, out)
    return out, report


def task(out: Path, number: int):
    return load_task(out / "tasks" / f"avb-{number:05d}.json")


def test_every_case_becomes_a_task_named_by_its_file_number(imported):
    out, report = imported
    assert (report.cases, report.imported, report.failed) == (7, 7, [])
    t = task(out, 1)
    assert t.id == "avb-00001" and t.metadata["case_name"] == "Library_hold_conflict"
    assert t.poles["a"].value.name == "Rule Keeping"
    assert t.poles["a"].value.definition == "Applying the rules the same way to everyone."
    assert t.poles["a"].golden is None and "prose" in t.metadata["golden"]
    assert [r.weight for r in t.poles["a"].rubric] == [3, 4]
    assert t.poles["b"].rubric[0].checkpoint == "b_b_cp1"
    assert t.poles["a"].checkpoints[0].expected_signal == "Calls to list_holds."
    saved = json.loads((out / "import_report.json").read_text())
    assert saved["imported"] == 7


def test_invalid_state_and_unknown_system_are_flagged_not_dropped(imported):
    out, report = imported
    flagged = {issue.task_id: issue.problems for issue in report.flagged}
    assert any("title" in p for p in flagged["avb-00003"])
    assert any("astrology" in p for p in flagged["avb-00004"])
    assert (out / "tasks" / "avb-00003.json").exists()


def test_function_list_is_enforced_and_refusals_logged(imported):
    out, _ = imported
    session = InProcessSandbox().open(task(out, 4), seed=1)
    assert [s.name for s in session.tools] == ["get_book", "place_hold"]
    refused = session.call("checkout_book", {"book_id": "B-2", "member_id": "M-3"})
    assert not refused.ok and refused.error_kind == "refused"
    log = session.finalize().tool_log
    assert log[-1].refused and log[-1].tool == "checkout_book"
    assert session.finalize().final_state["loans"] == {}


def test_results_pass_through_and_non_json_state_is_converted(imported):
    out, _ = imported
    session = InProcessSandbox().open(task(out, 1), seed=1)
    held = session.call("place_hold", {"book_id": "B-1", "member_id": "M-3"})
    assert held.ok and held.data == {"success": True, "message": "hold placed"}
    denied = session.call("waive_fine", {"member_id": "M-3", "amount": "50"})
    assert not denied.ok and denied.data == {"success": False, "error": "Amount exceeds the fine"}
    final = session.finalize()
    assert final.final_state["holds"]["B-1"] == ["M-3", "M-7"]
    assert {"op": "add", "path": "/holds/B-1/0", "value": "M-3"} in final.state_diff
    assert to_jsonable({("a", "b"): {1, 2}}) == {"a|b": [1, 2]}


def test_undeclared_arguments_are_dropped_by_the_release(imported):
    out, _ = imported
    session = InProcessSandbox().open(task(out, 1), seed=1)
    assert session.call("get_book", {"book_id": "B-2", "colour": "red"}).ok


def test_checkpoint_judge_falls_back_to_related_tools_and_order(imported):
    out, _ = imported
    t = task(out, 1)
    session = InProcessSandbox().open(t, seed=1)
    session.call("list_holds", {"book_id": "B-1"})
    session.call("place_hold", {"book_id": "B-1", "member_id": "M-3"})
    from trajectories.schema import Trajectory

    trajectory = Trajectory(
        run_id="r",
        episode_id="e",
        task_id=t.id,
        sample=0,
        seed=1,
        harness="h",
        value_system=t.value_system,
        values={"a": "Rule Keeping", "b": "Compassion"},
        status="finished",
        started_at="",
        duration_s=0,
        tool_log=session.finalize().tool_log,
    )
    judgment = checkpoint_scorer([t])(trajectory)
    assert judgment.scores == {"a": 10.0, "b": 0.0}
    swapped = checkpoint_scorer([t])(trajectory.model_copy(update={"swapped": True}))
    assert swapped.scores == {"a": 0.0, "b": 10.0}


def test_cli_import_check_and_counterbalanced_run(tmp_path, cli):
    out = tmp_path / "imported"
    result = cli.invoke(app, ["import", "agent-valuebench", str(RELEASE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "imported 7 of 7 cases" in result.output and "flagged case_00004.json" in result.output
    checked = cli.invoke(app, ["check", str(out / "tasks")])
    assert checked.exit_code == 0, checked.output
    assert "0 errors" in checked.output
    run = tmp_path / "run"
    result = cli.invoke(
        app,
        [
            "run",
            "--out",
            str(run),
            "--tasks",
            str(out / "tasks"),
            "--harness",
            "golden-a",
            "--counterbalance",
            "--samples",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    assert len(records) == 28 and {r["status"] for r in records} == {"error"}
    assert {r["swapped"] for r in records} == {True, False}
    for r in records:
        first = {"avb-00001": "Rule Keeping", "avb-00002": "Caution"}.get(r["task_id"])
        if first:
            assert (r["values"]["a"] == first) != r["swapped"]
    assert cli.invoke(app, ["report", str(run)]).exit_code == 0


def test_missing_release_parts_give_a_clear_error(tmp_path, cli):
    result = cli.invoke(
        app, ["import", "agent-valuebench", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "not a release checkout" in result.output


def test_imported_value_systems_live_in_their_own_namespace(imported):
    out, _ = imported
    t = task(out, 5)  # the release's facet-level hexaco, not valuegym's six domains
    assert t.value_system == "agent-valuebench/hexaco"
    assert t.metadata["release_value_system"] == "hexaco"
    assert t.poles["a"].value.definition.startswith("Being genuine")
    from envs.values import bundled_value_systems, with_definitions

    assert "hexaco" in bundled_value_systems()  # the catalog's own stays as it is
    assert with_definitions(t, bundled_value_systems()) == t


def test_release_defects_are_flagged_with_case_and_field(imported):
    out, report = imported
    (issue,) = [i for i in report.flagged if i.case == "case_00005.json"]
    problems = " | ".join(issue.problems)
    assert "function_list[4]: '_reindex' is not a tool of TicketDesk" in problems
    assert "value_a_checkpoint_list[1]: checkpoint 'sincerity_low_1' encodes the low" in problems
    assert "value_b_checkpoint_list[1].related_functions[1]: 'close_ticket'" in problems
    t = task(out, 5)
    assert t.metadata["low_end_checkpoints"] == ["a_sincerity_low_1"]
    b_cp2 = t.poles["b"].checkpoints[1]  # matchers only name tools the agent can call
    assert [m.tool for m in b_cp2.calls] == ["escalate"]
    assert b_cp2.related_tools == ["escalate", "close_ticket"]


def test_check_of_the_imported_release_is_warnings_only(imported, cli):
    out, _ = imported
    result = cli.invoke(app, ["check", str(out / "tasks")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert not [line for line in result.output.splitlines() if line.startswith("error:")]
    low_end = [w for w in warnings if "sincerity_low_1" in w]
    assert len(low_end) == 1 and "case_00005.json" in low_end[0]
    assert any("allowed_tools[4]" in w and "'_reindex'" in w for w in warnings)
    assert sum("no golden trajectories" in w for w in warnings) == 7  # one per task
