"""A valuegym run in the release's formats: trajectories out, the release judge's scores back."""

from __future__ import annotations

import json

import pytest

from envs.agent_valuebench.importer import import_release
from envs.task import load_task
from harnesses.models import ModelEndpoint, save_endpoint
from harnesses.scripted.server import ScriptedServer
from judges.runs import load_scored_run
from judges.store import read_judgments
from trajectories.exports.agent_valuebench import write_trajectories
from valuegym.cli import app

from .avb_reader import find_trajectories, render
from .test_import import RELEASE

AGENT_TASKS = "avb-00001,avb-00002,avb-00005,avb-00006"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("results")
    import_release(RELEASE, root / "imported")
    tasks = [load_task(p) for p in sorted((root / "imported" / "tasks").glob("*.json"))]
    endpoints = root / "endpoints.yaml"
    with ScriptedServer(tasks) as server:
        save_endpoint(ModelEndpoint(name="r", base_url=server.base_url, model="random"), endpoints)
        result = CliRunner().invoke(
            app,
            [
                "run",
                "--out",
                str(root / "run"),
                "--tasks",
                str(root / "imported" / "tasks"),
                "--harness",
                "react",
                "--model",
                "r",
                "--endpoints",
                str(endpoints),
                "--task-ids",
                AGENT_TASKS,
                "--counterbalance",
                "--samples",
                "2",
            ],
        )
    assert result.exit_code == 0, result.output
    return root / "run"


def test_exported_trajectories_load_with_the_release_reader(run, tmp_path, cli):
    scored = load_scored_run(run)
    tasks = {t.id: t for t in scored.tasks}
    exported = cli.invoke(
        app, ["export", str(run), "--format", "agent-valuebench", "--out", str(tmp_path / "out")]
    )
    assert exported.exit_code == 0, exported.output
    assert len(list((tmp_path / "out").rglob("*_traj.json"))) == len(scored.trajectories) == 8
    for sample in (0, 1):
        files = find_trajectories(tmp_path / "out" / f"sample_{sample}")
        assert sorted(files) == ["case_00001", "case_00002", "case_00005", "case_00006"]
        for t in (t for t in scored.trajectories if t.sample == sample):
            stem = tasks[t.task_id].metadata["case_file"].removesuffix(".json")
            text = render(files[stem])
            data = json.loads(files[stem].read_text())
            assert data["tool_mode"] == "openai_function_call"
            assert (
                data["status"] == t.status and data["task_description"] == tasks[t.task_id].prompt
            )
            calls = [c for s in data["steps"] for c in s["tool_calls"]]
            responses = [r["content"] for s in data["steps"] for r in s["tool_responses"]]
            # every call the server ran, with the environment's own response
            assert [c["name"] for c in calls] == [e.tool for e in t.tool_log]
            for entry, response in zip(t.tool_log, responses, strict=True):
                if entry.result.data is not None and isinstance(entry.result.data, dict):
                    assert response == entry.result.data
                else:
                    assert response["success"] is entry.result.ok
                assert json.dumps(entry.tool) in text or entry.tool in text
            assert text.count("STEP_ID:") == len(data["steps"])


def release_judge(trajectories: dict[str, object], out, favour: str = "A") -> None:
    """Stand-in for the release's ValueEval: item scores in the rubric's order, per its format."""
    for stem in trajectories:
        rubric = json.loads((RELEASE / "rubric" / f"{stem}_rubric.json").read_text())
        items = rubric["VALUE_A_ITEMS"] + rubric["VALUE_B_ITEMS"]
        reply = {
            "CASE_NAME": rubric["CASE_NAME"],
            "RUBRIC_STATUS": "OK",
            "ITEM_SCORES": [
                {
                    "ITEM_ID": item["ITEM_ID"],
                    "SOURCE_CHECKPOINT": item["SOURCE_CHECKPOINT"],
                    "SCORE": "2" if item["ITEM_ID"].startswith(favour) else 0,
                    "EVIDENCE_STEPS": [],
                    "RATIONALE": "as seen",
                }
                for item in items
            ],
            "VALUE_A_TRACK_SUMMARY": "-",
            "VALUE_B_TRACK_SUMMARY": "-",
            "QUALITATIVE_OVERALL_LEANING": f"VALUE_{favour}_LEANING",
            "OVERALL_CONFIDENCE": "HIGH",
        }
        body = {
            "module": "ValueEval_judge",
            "case_name": rubric["CASE_NAME"],
            "judge_outputs": [{"model": "judge-x", "judgment": reply}],
        }
        (out / f"{stem}_result.json").write_text(json.dumps(body))


def test_the_release_judges_scores_come_back_in_the_presented_poles(run, tmp_path, cli):
    scored = load_scored_run(run)
    tasks = {t.id: t for t in scored.tasks}
    write_trajectories(scored.trajectories, tasks, tmp_path / "traj")
    results = tmp_path / "result"
    results.mkdir()
    release_judge(find_trajectories(tmp_path / "traj" / "sample_0"), results, favour="A")
    imported = cli.invoke(app, ["judge", "import", str(run), str(results), "--sample", "0"])
    assert imported.exit_code == 0, imported.output
    key = "imported:agent-valuebench/judge-x"
    assert f"{key}: 4 episodes (0 unscorable); agreement with checkpoint on 4" in imported.stdout
    judgments = read_judgments(run, key)
    assert len(judgments) == 4
    for t in (t for t in scored.trajectories if t.sample == 0):
        j = judgments[t.episode_id]
        release_a = "b" if t.swapped else "a"  # the release's value A, as this episode showed it
        assert j.scores[release_a] == 10.0 and sum(j.scores.values()) == 10.0
        assert t.values[release_a] == tasks[t.task_id].poles["a"].value.name
    assert {t.swapped for t in scored.trajectories if t.sample == 0} == {True, False}
    report = cli.invoke(app, ["report", str(run), "--judge", key, "--json"])
    assert report.exit_code == 0, report.output
    again = cli.invoke(app, ["judge", "import", str(run), str(results)])
    assert again.exit_code == 0 and len(read_judgments(run, key)) == 4  # no duplicates
