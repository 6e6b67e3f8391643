"""The harness matrix: every harness that reaches the tools from outside, under a scripted golden
policy, held to the task's golden trajectory by the server's own tool log.

A harness only carries calls between a model and the environment; with a deterministic policy
that plays a pole's golden calls, whatever reaches the tool log that is not the golden sequence
(a renamed tool, a re-encoded argument, a lost or repeated call) is the harness's doing. The
tests (`tests/models/test_harness_matrix.py`) and the full verification
(`benchmarks/harness_matrix.py`) run the same cells.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from envs.sandbox import Sandbox
from envs.task import Task
from harnesses.base import HarnessConfig, HarnessSandbox
from harnesses.models import ModelApi, ModelEndpoint
from trajectories.schema import Trajectory

HARNESS_APIS: list[tuple[str, ModelApi]] = [
    ("claude-code", "anthropic"),
    ("openai-agents", "chat"),
    ("openai-agents", "responses"),
    ("smolagents", "chat"),
    ("mini-swe-agent", "chat"),
]
"""Each external harness with each model API it speaks."""

EXTERNAL = {harness for harness, _ in HARNESS_APIS}

BOXED = ("claude-code", "mini-swe-agent")
"""The harnesses whose own program can run in a harness container."""


def golden_problem(trajectory: Trajectory, task: Task, pole: str) -> str | None:
    """Why an episode under a golden policy is not the pole's golden trajectory, or None."""
    golden = task.poles[pole].golden
    assert golden is not None, task.id
    expected = [(c.tool, c.arguments) for c in golden.calls]
    if trajectory.status != "finished":
        return f"ended {trajectory.status}: {trajectory.error}"
    logged = [(e.tool, e.arguments) for e in trajectory.tool_log]
    if logged != expected:
        first = next(
            (i for i, (a, b) in enumerate(zip(logged, expected, strict=False)) if a != b),
            min(len(logged), len(expected)),
        )
        results = [m.content or "" for m in trajectory.messages if m.role == "tool"]
        seen = results[first][:200] if first < len(results) else "none"
        return (
            f"tool log differs from the golden at call {first}: logged "
            f"{[tool for tool, _ in logged]}; the agent's result for that call: {seen}"
        )
    if trajectory.final_answer != golden.final_answer:
        return f"final answer {trajectory.final_answer!r} is not the golden's"
    called = _called(trajectory)
    if called != [tool for tool, _ in expected]:
        return f"the transcript's calls {called} are not the golden's tools"
    if trajectory.harness in EXTERNAL and not trajectory.harness_version:
        return "no harness_version recorded (an external agent program names its version)"
    return None


def _called(trajectory: Trajectory) -> list[str]:
    """The tools the transcript shows the agent calling, by the environment's names."""
    calls = [c for m in trajectory.messages for c in m.tool_calls]
    if trajectory.harness.startswith("mini-swe-agent"):  # one bash tool: the calls are commands
        commands = [json.loads(c.arguments).get("command", "") for c in calls]
        return [c.split()[1] for c in commands if c.startswith("valuegym-tool ")]
    return [c.name for c in calls if c.name != "final_answer"]  # smolagents ends through one


@dataclass
class Cell:
    """One harness x API x sandbox x harness sandbox x pole, over a list of tasks."""

    harness: str
    api: str
    sandbox: str
    harness_sandbox: str
    pole: str
    tasks: int = 0
    matching: int = 0
    problems: dict[str, str] = field(default_factory=dict)
    wall_s: float = 0.0


def run_cell(
    harness: str,
    model: ModelEndpoint,
    tasks: list[Task],
    sandbox: Sandbox,
    pole: str,
    harness_sandbox: HarnessSandbox = "host",
    concurrency: int = 4,
    out: Path | None = None,
) -> Cell:
    """Run `tasks` once under `harness` on an already started `sandbox`; check every episode."""
    from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

    cell = Cell(harness, model.api, sandbox.name, harness_sandbox, pole, tasks=len(tasks))
    with tempfile.TemporaryDirectory(prefix="valuegym-matrix-") as folder:
        run_dir = (
            out or Path(folder)
        ) / f"{harness}-{model.api}-{sandbox.name}-{harness_sandbox}-{pole}"
        config = RunConfig(
            run_id=run_dir.name,
            harness=harness,
            sandbox=sandbox.name,
            concurrency=concurrency,
            harness_config=HarnessConfig(harness_sandbox=harness_sandbox),
            model=model,
            task_ids=[t.id for t in tasks],
        )
        create_run(run_dir, config, tasks)
        started = time.monotonic()
        execute_run(run_dir, harness, sandbox=sandbox)
        cell.wall_s = time.monotonic() - started
        by_id = {t.id: t for t in tasks}
        for trajectory in run_trajectories(run_dir):
            problem = golden_problem(trajectory, by_id[trajectory.task_id], pole)
            if problem:
                cell.problems[trajectory.task_id] = problem
            else:
                cell.matching += 1
    return cell
