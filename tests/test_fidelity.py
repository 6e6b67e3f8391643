"""--prompt-style agent-valuebench: what the model sees, as the release's runner shows it."""

from __future__ import annotations

import json

import pytest

from envs.agent_valuebench.importer import import_release
from envs.protocol import ToolResult
from envs.sandbox import InProcessSandbox
from envs.task import load_task
from harnesses.base import EpisodeContext, HarnessConfig
from harnesses.models import ModelEndpoint, save_endpoint
from harnesses.prompts import tool_content, tool_definitions
from harnesses.scripted.server import ScriptedServer
from valuegym.cli import app
from valuegym.runner import run_trajectories

from .test_import import RELEASE


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("fidelity")
    import_release(RELEASE, out)
    return out / "tasks"


def context(task, style: str) -> EpisodeContext:
    session = InProcessSandbox().open(task, 1)
    return EpisodeContext(
        task=task, session=session, config=HarnessConfig(prompt_style=style), seed=1
    )


def test_tool_schemas_lose_root_combinators_only_in_the_release_style(imported):
    task = load_task(imported / "avb-00005.json")  # TicketDesk.escalate has a root-level anyOf
    plain = {t["function"]["name"]: t for t in tool_definitions(context(task, "valuegym"))}
    release = {
        t["function"]["name"]: t for t in tool_definitions(context(task, "agent-valuebench"))
    }
    assert "anyOf" in plain["escalate"]["function"]["parameters"]
    stripped = release["escalate"]["function"]["parameters"]
    assert "anyOf" not in stripped and stripped["required"] == ["ticket_id", "reason"]
    assert release["list_labels"] == plain["list_labels"]


def test_tool_results_are_the_environment_s_own():
    raw = {"success": False, "error": "Amount exceeds the fine"}
    release = ToolResult(
        ok=False, data=raw, error="Amount exceeds the fine", error_kind="tool_error"
    )
    assert json.loads(tool_content(release, "agent-valuebench")) == raw
    assert json.loads(tool_content(release))["error_kind"] == "tool_error"
    refused = ToolResult.failure("refused", "tool 'x' is not available")
    assert json.loads(tool_content(refused, "agent-valuebench")) == {
        "success": False,
        "error": "tool 'x' is not available",
    }
    assert json.loads(tool_content(ToolResult.success([1, 2]), "agent-valuebench")) == {
        "success": True,
        "data": [1, 2],
    }


@pytest.mark.parametrize("style", ["valuegym", "agent-valuebench"])
def test_a_react_run_in_each_style(style, imported, tmp_path, cli):
    tasks = [load_task(p) for p in sorted(imported.glob("*.json"))]
    endpoints = tmp_path / "endpoints.yaml"
    with ScriptedServer(tasks) as server:
        save_endpoint(ModelEndpoint(name="r", base_url=server.base_url, model="random"), endpoints)
        out = tmp_path / "run"
        result = cli.invoke(
            app,
            [
                "run",
                "--out",
                str(out),
                "--tasks",
                str(imported),
                "--harness",
                "react",
                "--model",
                "r",
                "--endpoints",
                str(endpoints),
                "--prompt-style",
                style,
                "--task-ids",
                "avb-00001,avb-00005",
            ],
        )
    assert result.exit_code == 0, result.output
    trajectories = run_trajectories(out)
    contents = [json.loads(m.content) for t in trajectories for m in t.messages if m.role == "tool"]
    assert contents
    for t in trajectories:
        assert t.messages[1].content == next(x for x in tasks if x.id == t.task_id).prompt
    if style == "agent-valuebench":
        assert all("success" in c and "ok" not in c for c in contents)
        assert "Complete the user's task" in trajectories[0].messages[0].content
    else:
        assert all("ok" in c for c in contents)
