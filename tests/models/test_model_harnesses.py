"""react and langgraph against the scripted server: golden replays, every kind of end, skills."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from envs.task import bundled_tasks_dir
from valuegym.cli import app
from valuegym.runner import load_run, run_trajectories

HARNESSES = ("react", "langgraph")
ONE_TASK = bundled_tasks_dir() / "hospital_ops" / "reserved-stepdown-bed.yaml"
REPO = Path(__file__).resolve().parents[2]


def run(cli, out: Path, harness: str, model: str | None, endpoints: Path, *extra: str):
    args = ["run", "--out", str(out), "--harness", harness, "--endpoints", str(endpoints)]
    args += ["--model", model] if model else []
    result = cli.invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return {t.task_id: t for t in run_trajectories(out)}


def calls(trajectory) -> list[tuple[str, dict]]:
    return [(entry.tool, entry.arguments) for entry in trajectory.tool_log]


@pytest.mark.parametrize("pole", ["a", "b"])
def test_golden_policies_reproduce_golden_tool_logs_under_both_harnesses(
    cli, tmp_path, endpoints, bundled_tasks, pole
):
    runs = {
        harness: run(
            cli,
            tmp_path / harness,
            harness,
            f"scripted-golden-{pole}",
            endpoints,
            "--concurrency",
            "2",
        )
        for harness in HARNESSES
    }
    for task in bundled_tasks:
        golden = [(c.tool, c.arguments) for c in task.poles[pole].golden.calls]
        react, graph = runs["react"][task.id], runs["langgraph"][task.id]
        assert react.status == graph.status == "finished", (task.id, react.error, graph.error)
        assert calls(react) == golden, task.id
        assert react.tool_log == graph.tool_log, task.id  # results, clocks and ids too
        assert react.messages == graph.messages, task.id
        assert react.final_answer == task.poles[pole].golden.final_answer
        assert react.usage.requests == len(golden) + 1 and react.usage.prompt_tokens > 0


@pytest.mark.parametrize("harness", HARNESSES)
@pytest.mark.parametrize(
    ("policy", "status", "reason"),
    [
        ("fault-malformed-args", "error", "not valid JSON"),
        ("fault-unknown-tool", "error", "'shred_all_records' is not available"),
        ("fault-http-500", "error", "failed 5 times; last: HTTP 500"),
        ("fault-slow:30", "timeout", "deadline"),
    ],
)
def test_fault_policies_end_as_recorded_episodes(
    cli, tmp_path, endpoints, harness, policy, status, reason
):
    out = tmp_path / "run"
    # Only the slow policy should meet the deadline; the others get room for a loaded machine.
    timeout = "1" if status == "timeout" else "60"
    extra = ["--tasks", str(ONE_TASK), "--samples", "2", "--timeout", timeout]
    episodes = run(cli, out, harness, f"scripted-{policy}", endpoints, *extra)
    records = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        assert record["status"] == status and reason in record["error"], record["error"]
        assert record["messages"][0]["role"] == "system"
    report = json.loads(cli.invoke(app, ["report", str(out), "--json"]).output)
    assert report["coverage"][status] == 2
    assert episodes


@pytest.mark.parametrize("harness", HARNESSES)
def test_malformed_arguments_go_back_to_the_model_as_an_error_result(
    cli, tmp_path, endpoints, bundled_tasks, harness
):
    (trajectory,) = run(
        cli,
        tmp_path / "run",
        harness,
        "scripted-fault-malformed-args:1",
        endpoints,
        "--tasks",
        str(ONE_TASK),
    ).values()
    task = next(t for t in bundled_tasks if t.id == trajectory.task_id)
    assert trajectory.status == "finished"
    bad_call, answer = trajectory.messages[2], trajectory.messages[3]
    assert bad_call.tool_calls[0].arguments == '{"id": "P-1", "note": '  # recorded verbatim
    result = json.loads(answer.content)
    assert answer.tool_call_id == bad_call.tool_calls[0].id
    assert result["ok"] is False and result["error_kind"] == "invalid_arguments"
    assert "not valid JSON" in result["error"]
    golden = [(c.tool, c.arguments) for c in task.poles["a"].golden.calls]
    assert calls(trajectory) == golden  # the malformed call never reached the environment


@pytest.mark.parametrize("harness", HARNESSES)
@pytest.mark.parametrize("policy", ["fault-http-500:2", "fault-rate-limit:2"])
def test_retries_ride_out_bursts_of_429_and_500(
    cli, tmp_path, endpoints, bundled_tasks, harness, policy
):
    # a seed of its own makes every request new to the server, so each one meets its burst
    seed = str(HARNESSES.index(harness) * 10 + len(policy))
    (trajectory,) = run(
        cli,
        tmp_path / "run",
        harness,
        f"scripted-{policy}",
        endpoints,
        "--tasks",
        str(ONE_TASK),
        "--seed",
        seed,
    ).values()
    task = next(t for t in bundled_tasks if t.id == trajectory.task_id)
    assert trajectory.status == "finished", trajectory.error
    assert calls(trajectory) == [(c.tool, c.arguments) for c in task.poles["a"].golden.calls]


@pytest.mark.parametrize("harness", HARNESSES)
def test_step_limit_refusal_and_missing_model_are_recorded(cli, tmp_path, endpoints, harness):
    one = ["--tasks", str(ONE_TASK)]
    limited = run(
        cli, tmp_path / "limit", harness, "scripted-golden-a", endpoints, "--max-steps", "2", *one
    )
    (episode,) = limited.values()
    assert episode.status == "max_steps" and "step limit (2 tool calls)" in episode.error
    assert [e.result.error_kind for e in episode.tool_log] == [None, None, "budget_exhausted"]
    (endless,) = run(
        cli, tmp_path / "endless", harness, "scripted-endless", endpoints, *one
    ).values()
    assert endless.status == "max_steps"
    assert sum(not e.refused for e in endless.tool_log) == 30  # the task's own budget
    assert endless.tool_log[-1].result.over_budget and len(endless.tool_log) == 31
    (refused,) = run(
        cli, tmp_path / "refuse", harness, "scripted-refuser", endpoints, *one
    ).values()
    assert refused.status == "finished" and not refused.tool_log
    assert refused.final_answer.startswith("I'm sorry")
    (bare,) = run(cli, tmp_path / "bare", harness, None, endpoints, *one).values()
    assert bare.status == "error" and "needs a model endpoint" in bare.error


def test_skill_system_prompt_and_tool_definitions_are_recorded(
    cli, tmp_path, endpoints, bundled_tasks, monkeypatch
):
    monkeypatch.setenv("VALUEGYM_TEST_KEY", "sk-test-secret-4471")
    out = tmp_path / "run"
    skill = REPO / "examples" / "skills" / "care-first"
    episodes = run(
        cli,
        out,
        "react",
        "keyed",
        endpoints,
        "--skill",
        str(skill),
        "--system-prompt",
        "You run the night shift desk.",
        "--concurrency",
        "2",
    )
    tasks = {t.id: t for t in bundled_tasks}
    assert set(episodes) == set(tasks)
    for task_id, trajectory in episodes.items():
        assert trajectory.status == "finished"
        assert len(trajectory.skills) == 1 and trajectory.skills[0].startswith("care-first@")
        system = trajectory.messages[0]
        assert system.role == "system"
        assert system.content.startswith("You run the night shift desk.")
        assert "## care-first" in system.content and "1. **Care**" in system.content
        assert "care-first/reference.md" in system.content  # reference files are inlined
        assert trajectory.messages[1].content == tasks[task_id].prompt
        assert sorted(t.name for t in trajectory.tools) == sorted(tasks[task_id].allowed_tools)
        assert all(t.parameters.get("type") == "object" for t in trajectory.tools)
        assert trajectory.model == "golden-b"
    config, _ = load_run(out)
    assert config.skills[0].name == "care-first" and config.skills[0].reference_texts
    assert config.model.api_key_env == "VALUEGYM_TEST_KEY"
    for name in ("run.json", "journal.jsonl"):
        assert "sk-test-secret-4471" not in (out / name).read_text()


def test_an_unset_key_variable_is_a_clear_error(cli, tmp_path, endpoints, monkeypatch):
    monkeypatch.delenv("VALUEGYM_TEST_KEY", raising=False)
    (episode,) = run(
        cli, tmp_path / "run", "langgraph", "keyed", endpoints, "--tasks", str(ONE_TASK)
    ).values()
    assert episode.status == "error"
    assert episode.error == "model endpoint 'keyed': $VALUEGYM_TEST_KEY (its API key) is not set"


def test_a_harness_container_is_refused_for_a_harness_that_runs_in_process(
    cli, tmp_path, endpoints
):
    args = ["run", "--out", str(tmp_path / "run"), "--harness", "react", "--tasks", str(ONE_TASK)]
    args += ["--model", "scripted-golden-a", "--endpoints", str(endpoints)]
    result = cli.invoke(app, [*args, "--sandbox", "process", "--harness-sandbox", "docker"])
    assert result.exit_code == 2
    assert "harness 'react' runs in valuegym's own process" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()
    result = cli.invoke(app, [*args, "--harness-sandbox", "vm"])
    assert result.exit_code == 2 and "not one of host, docker" in result.output


def test_example_skills_load_with_their_references():
    from envs.values import bundled_value_systems
    from harnesses.skills import load_skill

    skills = {p.name: load_skill(p) for p in (REPO / "examples" / "skills").iterdir()}
    assert set(skills) == {"care-first", "authority-first"}
    assert skills["care-first"].references == ["reference.md"]
    foundations = {v.value for v in bundled_value_systems()["moral_foundations"].values}
    orders = {name: re.findall(r"^\d\. \*\*(\w+)\*\*", s.body, re.M) for name, s in skills.items()}
    for order in orders.values():  # each is a full priority order of one value system
        assert sorted(order) == sorted(foundations)
    assert orders["care-first"][0] == "Care" and orders["authority-first"][0] == "Authority"


def test_react_runs_on_the_subprocess_sandbox(cli, tmp_path, endpoints, bundled_tasks):
    (trajectory,) = run(
        cli,
        tmp_path / "run",
        "react",
        "scripted-golden-b",
        endpoints,
        "--tasks",
        str(ONE_TASK),
        "--sandbox",
        "process",
    ).values()
    task = next(t for t in bundled_tasks if t.id == trajectory.task_id)
    assert trajectory.status == "finished", trajectory.error
    assert calls(trajectory) == [(c.tool, c.arguments) for c in task.poles["b"].golden.calls]


def test_two_seeds_of_a_random_agent_show_no_value_change_and_no_verdict(cli, tmp_path, endpoints):
    """An agent without preferences, run twice: nothing may come out "significant"."""
    for seed in ("1", "2"):
        run(
            cli,
            tmp_path / seed,
            "react",
            "scripted-random",
            endpoints,
            "--seed",
            seed,
            "--samples",
            "2",
            "--concurrency",
            "4",
        )
    args = ["compare", str(tmp_path / "1"), str(tmp_path / "2"), "--json"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    (comparison,) = json.loads(result.stdout)["comparisons"]
    assert comparison["kind"] == "replicate" and comparison["common_tasks"] > 0
    assert not [v for v in comparison["values"] if v["test"]["significant"]]
    assert not [s for s in comparison["strengths"] if s["test"]["significant"]]
    assert all(s["verdict"] not in ("held", "flipped") for s in comparison["systems"])
