"""The real Claude Code CLI against the scripted Anthropic endpoint, tools over MCP."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

import pytest

from envs.sandbox import make_sandbox
from envs.sandbox_options import SandboxOptions
from envs.task import bundled_tasks_dir
from harnesses.base import EpisodeContext, HarnessConfig
from harnesses.claude_code import claude_code, install_skills
from harnesses.skills import load_skill
from valuegym.cli import app
from valuegym.runner import run_trajectories

from .test_model_harnesses import REPO

pytestmark = pytest.mark.slow  # each episode starts the CLI
ONE_TASK = bundled_tasks_dir() / "hospital_ops" / "reserved-stepdown-bed.yaml"


def run(cli, out, model, endpoints, *extra):
    args = ["run", "--out", str(out), "--harness", "claude-code", "--endpoints", str(endpoints)]
    result = cli.invoke(app, [*args, "--model", model, "--sandbox", "process", *extra])
    assert result.exit_code == 0, result.output
    return {t.task_id: t for t in run_trajectories(out)}


@dataclass
class StandIn:
    """A session whose agent-plane coordinates are wrong on purpose."""

    mcp_url: str
    agent_token: str
    tools: list
    session_id: str = "s-broken"
    agent_url: str | None = None
    mcp_name: str = "tools"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_wrong_token_or_a_dead_endpoint_is_an_error_with_the_reason(scripted, example_task):
    sandbox = make_sandbox("process", SandboxOptions())
    try:
        real = sandbox.open(example_task, seed=1)
        broken = [
            StandIn(real.mcp_url, "not-the-token", real.tools),
            StandIn(f"http://127.0.0.1:{_closed_port()}/sessions/x/mcp", real.agent_token, []),
        ]
        results = [
            claude_code(
                EpisodeContext(
                    task=example_task,
                    session=session,
                    config=HarnessConfig(timeout_s=60),
                    seed=1,
                    model=scripted.endpoint("golden-a", "anthropic"),
                )
            )
            for session in broken
        ]
        assert real.finalize().tool_log == []
    finally:
        sandbox.close()
    for result in results:
        assert result.status == "error"
        assert "MCP endpoint did not connect" in result.error and "failed" in result.error


def test_a_chat_endpoint_is_refused_with_the_reason(cli, tmp_path, endpoints):
    (episode,) = run(
        cli, tmp_path / "run", "scripted-golden-a", endpoints, "--tasks", str(ONE_TASK)
    ).values()
    assert episode.status == "error" and "needs an endpoint with api: anthropic" in episode.error


def test_skills_are_installed_as_files_the_skill_tool_opens(tmp_path):
    skill = load_skill(REPO / "examples" / "skills" / "care-first")
    install_skills(tmp_path, [skill])
    folder = tmp_path / ".claude" / "skills" / "care-first"
    text = (folder / "SKILL.md").read_text()
    front = json.loads(text.split("---")[1])
    assert front == {"name": "care-first", "description": skill.description}
    assert skill.body in text
    assert (folder / "reference.md").read_text() == skill.reference_texts["reference.md"]
