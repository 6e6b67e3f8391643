"""Sandbox latency per backend: session open, tool call round trip, finalize, cold start.

Opens sessions of a bundled task, replays its pole-A golden calls in a loop, and prints one
table of p50/p99 in milliseconds. The docker backend is measured with a warm container (its cold
start, from `docker run` to a healthy server, is reported separately): the orchestrator talks
to it over a Unix socket; "docker via tcp" is an external agent's tool call through the session's
127.0.0.1 URL.
Targets for docker: session open p50 <= 10 ms, tool call p50 <= 2 ms.

Two more tables: the open cost of an imported (third-party) task on the in-process backend,
whose sessions each get a forked, confined worker, beside a bundled task's; and, per server
backend, what one agent's 40 MB request (refused with 413) does to another session's calls.

    python benchmarks/sandbox.py [--backends inprocess,process,docker] [--opens 200] [--calls 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx2

from envs.docker_sandbox import DockerSandbox
from envs.process_sandbox import ProcessSandbox
from envs.sandbox import Sandbox, make_sandbox
from envs.sandbox_options import SandboxOptions
from envs.task import Task, bundled_tasks_dir, load_task
from envs.values import bundled_value_systems, with_definitions

TASK = bundled_tasks_dir() / "hospital_ops" / "reserved-stepdown-bed.yaml"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[98]


def cold_start(kind: str, options: SandboxOptions, repeats: int) -> list[float]:
    """Milliseconds from nothing to a server that answers, started `repeats` times."""
    starts = []
    for _ in range(repeats):
        if kind == "docker":
            box = DockerSandbox(options)
            starts.append(box.start()[0] * 1000)
        elif kind == "process":
            box = ProcessSandbox(options)
            starts.append(timed(box.server))
        else:
            return []
        box.close()
    return starts


def measure(box: Sandbox, task: Task, opens: int, calls: int) -> dict[str, list[float]]:
    golden = task.poles["a"].golden
    assert golden is not None
    box.open(task, 0).close()
    results: dict[str, list[float]] = {"open": [], "call": [], "finalize": []}
    sessions = []
    for seed in range(opens):
        started = time.perf_counter()
        sessions.append(box.open(task, seed))
        results["open"].append((time.perf_counter() - started) * 1000)
    session = sessions[0]
    for index in range(calls):
        call = golden.calls[index % len(golden.calls)]
        results["call"].append(timed(lambda c=call: session.call(c.tool, c.arguments)))
    for session in sessions:
        results["finalize"].append(timed(session.finalize))
        session.close()
    return results


def relayed_calls(task: Task, options: SandboxOptions, calls: int) -> list[float]:
    """Tool calls as an external agent makes them: HTTP to the session's 127.0.0.1 URL."""
    golden = task.poles["a"].golden
    assert golden is not None
    box = DockerSandbox(options)
    try:
        session = box.open(task, 0)
        headers = {"authorization": f"Bearer {session.agent_token}"}
        with httpx2.Client(base_url=session.agent_url, headers=headers, trust_env=False) as http:
            samples = []
            for index in range(calls):
                call = golden.calls[index % len(golden.calls)]
                body = {"tool": call.tool, "arguments": call.arguments}
                samples.append(timed(lambda b=body: http.post("/call", json=b).raise_for_status()))
        return samples
    finally:
        box.close()


RELEASE = Path(__file__).parent.parent / "tests" / "fixtures" / "avb_release"


def imported_opens(opens: int) -> list[float]:
    """Session opens (ms) of an imported release task in-process: a worker per session."""
    from envs.agent_valuebench.importer import import_release
    from valuegym.runner import sandbox_options

    with tempfile.TemporaryDirectory() as out:
        import_release(RELEASE, Path(out))
        task = load_task(sorted((Path(out) / "tasks").glob("*.json"))[0])
        box = make_sandbox("inprocess", sandbox_options([task]))
        try:
            box.open(task, 0).close()
            samples = []
            for seed in range(opens):
                started = time.perf_counter()
                session = box.open(task, seed)
                samples.append((time.perf_counter() - started) * 1000)
                session.close()
            return samples
        finally:
            box.close()


def under_oversized_request(kind: str, task: Task, options: SandboxOptions) -> tuple:
    """(another session's call p50, p99, max during a 40 MB request; that request's ms to 413)."""
    golden = task.poles["a"].golden
    assert golden is not None
    box = make_sandbox(kind, options)
    try:
        victim, attacker = box.open(task, 1), box.open(task, 2)
        body = b'{"tool": "x", "arguments": {"text": "' + b"x" * (40 << 20) + b'"}}'
        headers = {"authorization": f"Bearer {attacker.agent_token}"}
        refused: list[float] = []

        def send() -> None:
            with httpx2.Client(trust_env=False, timeout=120) as http:
                started = time.perf_counter()
                status = http.post(f"{attacker.agent_url}/call", content=body, headers=headers)
                refused.append((time.perf_counter() - started) * 1000)
                assert status.status_code == 413, status.text

        sender = threading.Thread(target=send)
        sender.start()
        samples, call = [], golden.calls[0]
        while sender.is_alive() or not samples:
            samples.append(timed(lambda: victim.call(call.tool, call.arguments)))
        sender.join()
        p50, p99 = percentiles(samples) if len(samples) > 1 else (samples[0], samples[0])
        return p50, p99, max(samples), refused[0]
    finally:
        box.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="inprocess,process,docker")
    parser.add_argument("--opens", type=int, default=200)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--cold-starts", type=int, default=3)
    args = parser.parse_args()
    task = with_definitions(load_task(TASK), bundled_value_systems())
    options = SandboxOptions.from_env()
    rows = []
    for kind in args.backends.split(","):
        starts = cold_start(kind, options, args.cold_starts)
        box = make_sandbox(kind, options)
        try:
            results = measure(box, task, args.opens, args.calls)
        finally:
            box.close()
        row = [kind]
        for phase in ("open", "call", "finalize"):
            row += [f"{value:.2f}" for value in percentiles(results[phase])]
        row.append(f"{statistics.median(starts):.0f}" if starts else "-")
        rows.append(row)
        if kind == "docker":
            relayed = percentiles(relayed_calls(task, options, args.calls))
            rows.append(["docker via tcp", "-", "-", *(f"{v:.2f}" for v in relayed), "-", "-", "-"])
    header = ["backend", "open p50", "open p99", "call p50", "call p99"]
    header += ["finalize p50", "finalize p99", "cold start p50"]
    print(f"sandbox latency in ms ({args.opens} opens, {args.calls} calls of {task.id})")
    table(header, rows)
    kinds = args.backends.split(",")
    if "inprocess" in kinds:
        imported = percentiles(imported_opens(args.opens))
        bundled = next(r for r in rows if r[0] == "inprocess")[1:3]
        print("\nin-process session open in ms: bundled task in this process, imported task in a")
        print("forked confined worker (private working folder)")
        table(
            ["task", "open p50", "open p99"],
            [["bundled", *bundled], ["imported", *(f"{v:.2f}" for v in imported)]],
        )
    limit_rows = []
    for kind in (k for k in kinds if k != "inprocess"):
        figures = under_oversized_request(kind, task, options)
        limit_rows.append([kind, *(f"{v:.2f}" for v in figures)])
    if limit_rows:
        print("\nanother session's tool calls (ms) while one agent sends a 40 MB request")
        table(["backend", "call p50", "call p99", "call max", "40 MB -> 413"], limit_rows)


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in (header, *rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
