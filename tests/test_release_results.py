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

from .avb_reader import convert_choices, find_trajectories, read_choice_results, render
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


@pytest.fixture(scope="module")
def choice_runs(tmp_path_factory):
    """The release's LLMChoice cases asked as they ship (two counterbalanced samples each), by
    a model that answers the release's option B and one that answers neither."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("choice")
    import_release(RELEASE, root / "imported")
    tasks = [load_task(p) for p in sorted((root / "imported" / "tasks").glob("*.json"))]
    endpoints = root / "endpoints.yaml"
    runs = {}
    with ScriptedServer(tasks) as server:
        for policy in ("golden-b", "refuser"):
            save_endpoint(
                ModelEndpoint(name=policy, base_url=server.base_url, model=policy), endpoints
            )
            runs[policy] = root / policy
            result = CliRunner().invoke(
                app,
                [
                    "run",
                    "--out",
                    str(runs[policy]),
                    "--tasks",
                    str(root / "imported" / "tasks"),
                    "--condition",
                    "choice",
                    "--model",
                    policy,
                    "--endpoints",
                    str(endpoints),
                    "--case-list",
                    str(RELEASE / "LLMChoice" / "cases"),
                    "--samples",
                    "2",
                    "--prompt-style",
                    "agent-valuebench",
                ],
            )
            assert result.exit_code == 0, result.output
    return runs


def test_choice_runs_export_as_the_release_llmchoice_results(choice_runs, tmp_path, cli):
    run = choice_runs["golden-b"]
    scored = load_scored_run(run)
    out = tmp_path / "out"
    exported = cli.invoke(
        app, ["export", str(run), "--format", "agent-valuebench", "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert not list(out.rglob("*_traj.json"))  # choice episodes are not trajectories
    by_case = {(t.sample, t.task_id): t for t in scored.trajectories}
    for sample in (0, 1):
        folder = out / f"sample_{sample}"
        results = read_choice_results(folder)
        assert sorted(results) == ["case_00001", "case_00005"]
        converted = convert_choices(folder, RELEASE)  # the converter's checks all pass
        assert [c["rubric_status"] for c in converted] == ["OK", "OK"]
        for case in converted:  # golden-b answers the release's option B, wherever shown
            dims = case["value_dimensions"]
            assert (dims["value_a"]["final_score"], dims["value_b"]["final_score"]) == (0.0, 10.0)
        ours = json.loads((folder / "case_value_adherence_details.json").read_text())
        assert ours["metric"] == "value_adherence_case_level" and ours["scorable_case_count"] == 2
        for mine, theirs in zip(ours["cases"], converted, strict=True):
            assert mine["case_id"] == theirs["case_id"]
            for key in ("value_a", "value_b"):
                assert (
                    mine["value_dimensions"][key]["final_score"]
                    == (theirs["value_dimensions"][key]["final_score"])
                )
        manifest = json.loads((folder / "run_manifest.json").read_text())
        assert manifest["choice_counts"] == {"A": 0, "B": 2, "unparsed": 0}
        assert manifest["status_counts"] == {"finished": 2}
        for stem, result in results.items():
            # the imported case comes back as it ships
            shipped = json.loads((RELEASE / "LLMChoice" / "cases" / f"{stem}.json").read_text())
            for field in ("case_name", "source_case_file", "environment", "value_system"):
                assert result[field] == shipped[field], field
            assert result["value_items"] == shipped["value_items"]
            assert result["option_a_value"] == shipped["option_a_value"]
            assert result["option_b_value"] == shipped["option_b_value"]
            assert result["case_file"] == str(
                (RELEASE / "LLMChoice" / "cases" / f"{stem}.json").resolve()
            )
            assert result["parsed_choice_value"] == shipped["option_b_value"]
            t = by_case[(sample, "avb-" + stem.removeprefix("case_"))]
            assert result["final_answer"] == t.final_answer
            shown = "A" if t.swapped else "B"  # the letter the model saw B's option under
            assert result["final_answer"].startswith(shown)
            assert result["valuegym"]["swapped"] is t.swapped
            if not t.swapped:  # the question is the release's own text
                question = result["messages"][1]["content"]
                assert question.startswith(f"Forced-choice task:\n{shipped['task_description']}")
    assert {t.swapped for t in scored.trajectories} == {True, False}


def test_unread_and_failed_choices_are_unscorable_in_the_release_files(choice_runs, tmp_path):
    from trajectories.exports.agent_valuebench_choice import (
        choice_result,
        write_choice_results,
    )

    scored = load_scored_run(choice_runs["refuser"])
    tasks = {t.id: t for t in scored.tasks}
    write_choice_results(scored.trajectories, tasks, scored.config, tmp_path / "refused")
    folder = tmp_path / "refused" / "sample_0"
    results = read_choice_results(folder)
    assert {r["parsed_choice"] for r in results.values()} == {""}
    assert {c["rubric_status"] for c in convert_choices(folder, RELEASE)} == {"UNSCORABLE"}
    details = json.loads((folder / "case_value_adherence_details.json").read_text())
    assert details["unscorable_case_count"] == 2
    for case in details["cases"]:
        assert case["unscorable_reason"] == "choice_result_status='finished', parsed_choice=''"
        assert case["value_dimensions"]["value_a"]["final_score"] is None
    manifest = json.loads((folder / "run_manifest.json").read_text())
    assert manifest["choice_counts"] == {"A": 0, "B": 0, "unparsed": 2}
    # an episode that never got an answer is a failed case with the release's error kind
    t = scored.trajectories[0].model_copy(
        update={"status": "error", "error": "APIConnectionError: Connection refused"}
    )
    failed = choice_result(t, tasks[t.task_id], scored.config)
    assert failed["status"] == "failed" and failed["error_kind"] == "network"
    late = t.model_copy(update={"status": "timeout", "error": "deadline"})
    assert choice_result(late, tasks[t.task_id], scored.config)["error_kind"] == "timeout"
    write_choice_results([t], tasks, scored.config, tmp_path / "failed")
    (result,) = read_choice_results(tmp_path / "failed").values()
    assert result["status"] == "failed"
    summary = json.loads((tmp_path / "failed" / "run_summary.json").read_text())
    assert [s["status"] for s in summary] == ["failed"]
