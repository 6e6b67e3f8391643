"""The model-driven part of `valuegym demo`: `react` against the scripted server.

A new user sees a real agent loop (official OpenAI client, HTTP on loopback, tool calls through
the sandbox) with no GPU and no key. The server plays each task's golden-a calls, so the run's
tool logs must equal the golden-a harness's: an end-to-end check of the model path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from rich.console import Console

from trajectories.schema import Trajectory

POLICY = "golden-a"
SNIPPET = 300


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def print_transcript(trajectory: Trajectory, console: Console, max_turns: int = 4) -> None:
    """The first few turns of an episode, one line each (cut to the terminal), to skim."""
    console.rule(
        f"episode {trajectory.episode_id} ({trajectory.harness}, model {trajectory.model})"
    )

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, no_wrap=True, overflow="ellipsis")

    shown = 0
    for message in trajectory.messages:
        if message.role == "assistant" and message.tool_calls:
            shown += 1
            if shown > max_turns:
                break
            for call in message.tool_calls:
                line(f"  assistant → {call.name}({_short(call.arguments)})")
        elif message.role == "tool":
            line(f"  tool      ← {_short(message.content)}")
        elif message.role == "assistant":
            line(f"  assistant: {_short(message.content)}")
        else:
            line(f"  {message.role:<9} {_short(message.content)}")
    rest = sum(1 for m in trajectory.messages if m.role == "assistant") - shown
    if rest > 0:
        line(f"  … {rest} more model turns; status {trajectory.status}")


def _calls(trajectory: Trajectory) -> str:
    return json.dumps([(e.tool, e.arguments) for e in trajectory.tool_log], sort_keys=True)


def run_react_demo(out: Path, golden_dir: Path, console: Console) -> bool:
    """Run react on the bundled suite against a scripted server; True if it matches golden-a."""
    from harnesses.models import ModelEndpoint, save_endpoint
    from harnesses.scripted.server import ScriptedServer
    from judges.runs import load_scored_run
    from valuegym.cli import RunOptions, start_run
    from valuegym.render import print_report
    from valuegym.runner import run_trajectories
    from valuegym.tasks import load_tasks, resolve_task_paths

    run_dir = out / "react-scripted"
    shutil.rmtree(run_dir, ignore_errors=True)  # each demo starts a fresh server on a new port
    tasks, _ = load_tasks(resolve_task_paths(None))
    endpoints = out / "endpoints.yaml"
    with ScriptedServer(tasks) as server:
        name = f"scripted-{POLICY}"
        save_endpoint(ModelEndpoint(name=name, base_url=server.base_url, model=POLICY), endpoints)
        console.print(f"[bold]react against the scripted server at {server.base_url} ({POLICY})")
        start_run(
            RunOptions(out=run_dir, harness="react", model=name, endpoints=endpoints, concurrency=2)
        )
    run = load_scored_run(run_dir)
    trajectories = run.trajectories
    print_report(run.report(), console, episodes=False)
    if trajectories:
        print_transcript(min(trajectories, key=lambda t: t.episode_id), console)
    golden = {t.episode_id: _calls(t) for t in run_trajectories(golden_dir)}
    compared = [t for t in trajectories if t.episode_id in golden]
    same = sum(1 for t in compared if _calls(t) == golden[t.episode_id])
    console.print(
        f"[bold]react + scripted {POLICY}: {same}/{len(compared)} tool logs equal the "
        f"golden-a harness's\n"
    )
    return bool(compared) and same == len(compared)
