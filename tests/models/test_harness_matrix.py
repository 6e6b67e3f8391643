"""Every harness that reaches the tools from outside (MCP, direct binding, a shell) reproduces
the golden tool logs on the whole bundled suite, on the process and docker sandboxes, and ends
`max_steps` at the budget under a policy that never stops calling tools."""

from __future__ import annotations

import json

import pytest

from envs.task import bundled_tasks_dir
from valuegym.cli import app
from valuegym.runner import run_trajectories

pytestmark = pytest.mark.slow  # CLI agents and SDK agents on a sandbox server
ONE_TASK = bundled_tasks_dir() / "hospital_ops" / "reserved-stepdown-bed.yaml"
HARNESS_APIS = [
    ("claude-code", "anthropic"),
    ("openai-agents", "chat"),
    ("openai-agents", "responses"),
    ("smolagents", "chat"),
    ("mini-swe-agent", "chat"),
]
PREFIX = {
    "chat": "scripted-",
    "responses": "scripted-responses-",
    "anthropic": "scripted-anthropic-",
}


def run(cli, out, harness, model, endpoints, sandbox, *extra):
    args = ["run", "--out", str(out), "--harness", harness, "--endpoints", str(endpoints)]
    result = cli.invoke(app, [*args, "--model", model, "--sandbox", sandbox, *extra])
    assert result.exit_code == 0, result.output
    return {t.task_id: t for t in run_trajectories(out)}


def check_golden(episodes, tasks, pole, harness):
    for task in tasks:
        trajectory = episodes[task.id]
        golden = [(c.tool, c.arguments) for c in task.poles[pole].golden.calls]
        assert trajectory.status == "finished", (harness, task.id, trajectory.error)
        assert [(e.tool, e.arguments) for e in trajectory.tool_log] == golden, (harness, task.id)
        assert trajectory.final_answer == task.poles[pole].golden.final_answer, harness
        called = [c.name for m in trajectory.messages for c in m.tool_calls]
        if harness.startswith("mini-swe-agent"):  # one shell tool: the calls are commands
            commands = [
                json.loads(c.arguments)["command"]
                for m in trajectory.messages
                for c in m.tool_calls
            ]
            assert [c.split()[1] for c in commands[:-1]] == [tool for tool, _ in golden]
        else:  # names as the environment's (smolagents ends through its final_answer tool)
            assert [c for c in called if c != "final_answer"] == [t for t, _ in golden], harness
        assert trajectory.harness_version, harness


def golden_matrix(cli, tmp_path, endpoints, tasks, sandbox):
    for harness, api in HARNESS_APIS:
        for pole in ("a", "b"):
            out = tmp_path / f"{harness}-{api}-{pole}"
            model = f"{PREFIX[api]}golden-{pole}"
            episodes = run(cli, out, harness, model, endpoints, sandbox, "--concurrency", "4")
            check_golden(episodes, tasks, pole, f"{harness}/{api}/{sandbox}")


def test_golden_tool_logs_under_every_harness_on_the_process_sandbox(
    cli, tmp_path, endpoints, bundled_tasks
):
    golden_matrix(cli, tmp_path, endpoints, bundled_tasks, "process")


def test_golden_tool_logs_under_every_harness_on_the_docker_sandbox(
    cli, tmp_path, endpoints, bundled_tasks, docker_image
):
    golden_matrix(cli, tmp_path, endpoints, bundled_tasks, "docker")


@pytest.mark.parametrize(("harness", "api"), HARNESS_APIS)
def test_a_policy_that_never_stops_ends_at_the_budget(cli, tmp_path, endpoints, harness, api):
    (episode,) = run(
        cli,
        tmp_path / "run",
        harness,
        f"{PREFIX[api]}endless",
        endpoints,
        "process",
        "--tasks",
        str(ONE_TASK),
        "--max-steps",
        "3",
    ).values()
    assert episode.status == "max_steps", episode.error
    kinds = [e.result.error_kind for e in episode.tool_log]
    assert kinds[:3] == [None, None, None] and kinds[3:] == ["budget_exhausted"], kinds
    assert episode.tool_log[-1].refused
