"""Runner throughput at the release's size: react with the scripted random policy, process sandbox.

Generates and imports the synthetic release that `benchmarks/import.py` makes (394 environments,
4,335 cases), starts the scripted server in a process of its own, then measures, in this order:

1. the baseline: the scripted server's own raw request rate, `--concurrency` threads each
   posting react's first request of a task (prompt and tool definitions) on one keep-alive
   connection, with nothing else running;
2. `valuegym run --harness react --model scripted-random --sandbox process` over every case
   as its own process (the orchestrator): episodes/s, its peak RSS and CPU seconds, and the
   scripted server's CPU seconds and requests/s during the run;
3. with `--repeat`: the same run again with the same seed; the count of cases whose tool
   logs (the sandbox server's authoritative record) are byte-identical in both runs;
4. with `--cross SANDBOX`: the same run once more on another backend, compared with run 1.

`--sandbox docker` runs in the release image (`valuegym sandbox build --release` for the
synthetic release, built here first; tag from $VALUEGYM_SANDBOX_IMAGE + `-release`).

Targets (issue 14): >= 30 episodes/s on 2 cores with the orchestrator <= 500 MB. On a shared
machine compare episodes/s with the baseline (requests per episode x episodes/s is the share
of the server's raw rate the run reached) and read the load average printed beside them.

    python benchmarks/throughput.py [--cases 4335] [--concurrency 6] [--repeat] [--keep DIR]
    python benchmarks/throughput.py --sandbox docker --repeat --cross process
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from envs.agent_valuebench.importer import import_release
from envs.registry import environment_for
from envs.sandbox_options import SandboxOptions, release_image_for
from envs.task import Task, load_task
from harnesses.models import save_endpoint
from harnesses.scripted.server import scripted_endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import ProcessWatch  # benchmarks/ is not a package: its own folder

HERE = Path(__file__).resolve().parent


def build_release_image(release: Path, options: SandboxOptions) -> None:
    """The image the synthetic release's tasks run in on docker."""
    from envs.sandbox_image import build_release_image as build

    result = build(release, options.image, release_image_for(options))
    print(f"release image {result.image} built in {result.seconds:.1f} s", flush=True)


def release_generator():
    """`generate` of benchmarks/import.py (a file name that is not importable as a module)."""
    spec = importlib.util.spec_from_file_location("release_benchmark", HERE / "import.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_request(task: Task, seed: int) -> dict:
    """React's first request for a task: system and user message, the task's tools."""
    env_cls = environment_for(task)
    tools = [
        env_cls.tools[name].spec.openai() for name in task.allowed_tools if name in env_cls.tools
    ]
    return {
        "model": "random",
        "messages": [
            {"role": "system", "content": "You are an agent with tools."},
            {"role": "user", "content": task.prompt},
        ],
        "tools": tools,
        "temperature": 0.0,
        "seed": seed,
    }


def raw_rate(base_url: str, tasks: list[Task], threads: int, requests: int) -> float:
    """Requests/s the scripted server answers to `threads` keep-alive clients."""
    bodies = [first_request(task, seed) for seed, task in enumerate(tasks[:requests])]
    per_thread = [bodies[i::threads] for i in range(threads)]
    failures: list[str] = []

    def post_all(mine: list[dict]) -> None:
        with httpx.Client(base_url=base_url, timeout=60, trust_env=False) as client:
            for body in mine:
                response = client.post("/chat/completions", json=body)
                if response.status_code != 200:
                    failures.append(response.text[:200])

    workers = [threading.Thread(target=post_all, args=(mine,)) for mine in per_thread]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} baseline requests failed; first: {failures[0]}")
    return len(bodies) / elapsed


def start_server(tasks_dir: Path, endpoints: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "valuegym", "serve", "scripted", "--port", str(port)]
    command += ["--tasks", str(tasks_dir), "--no-register"]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{root}/health", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise RuntimeError(f"the scripted server exited with {server.returncode}")
    else:
        server.kill()
        raise RuntimeError("the scripted server did not answer in 300 s")
    save_endpoint(scripted_endpoint("random", root), endpoints)
    return server, f"{root}/v1"


def journal_records(run_dir: Path) -> dict[str, dict]:
    records = {}
    with (run_dir / "journal.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                records[record["episode_id"]] = record
    return records


def run_once(
    run_dir: Path,
    tasks_dir: Path,
    endpoints: Path,
    concurrency: int,
    server_pid: int,
    sandbox: str = "process",
) -> dict[str, float]:
    """One `valuegym run` as a process of its own; its figures and the server's CPU."""
    command = [sys.executable, "-m", "valuegym", "run", "--out", str(run_dir)]
    command += ["--harness", "react", "--model", "scripted-random", "--sandbox", sandbox]
    command += ["--tasks", str(tasks_dir), "--concurrency", str(concurrency), "--seed", "7"]
    command += ["--endpoints", str(endpoints)]
    server = ProcessWatch(server_pid)
    server.sample()
    server_cpu_before = server.cpu_s
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        orchestrator = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "100"},
        )
        watch = ProcessWatch(orchestrator.pid)
        # wait4: the CPU of the run's whole tree (sandbox server, fork server, session
        # workers are all reaped below it); the orchestrator's own share is sampled
        _, status, usage = os.wait4(orchestrator.pid, 0)
        orchestrator.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        watch.stop()
        server.stop()
        if orchestrator.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"valuegym run failed ({orchestrator.returncode}): {tail}")
    records = journal_records(run_dir)
    statuses: dict[str, int] = {}
    for record in records.values():
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
    requests = sum(r.get("usage", {}).get("requests", 0) for r in records.values())
    return {
        "episodes": len(records),
        "seconds": elapsed,
        "episodes_s": len(records) / elapsed,
        "requests": requests,
        "peak_mb": watch.peak_kb / 1024,
        "cpu_s": watch.cpu_s,
        "tree_cpu_s": usage.ru_utime + usage.ru_stime,
        "server_cpu_s": server.cpu_s - server_cpu_before,
        "load": load,
        "load_after": os.getloadavg()[0],
        "statuses": statuses,  # type: ignore[dict-item]
    }


def identical_tool_logs(first: Path, second: Path) -> tuple[int, int]:
    """Cases whose tool logs are byte-identical (canonical JSON) in both runs, and all."""
    a, b = journal_records(first), journal_records(second)

    def canonical(record: dict) -> str:
        return json.dumps(record.get("tool_log", []), sort_keys=True)

    same = sum(canonical(a[e]) == canonical(b[e]) for e in a if e in b)
    return same, len(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=394)
    parser.add_argument("--cases", type=int, default=4335)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--baseline-requests", type=int, default=2000)
    parser.add_argument("--repeat", action="store_true", help="Run twice; compare tool logs.")
    parser.add_argument("--sandbox", default="process", help="process or docker.")
    parser.add_argument("--cross", help="Also run on this backend; compare with run 1.")
    parser.add_argument("--keep", type=Path, help="Work here (and keep it).")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp() if args.keep is None else args.keep)
    server: subprocess.Popen | None = None
    try:
        release, imported = scratch / "release", scratch / "imported"
        if not (imported / "tasks").is_dir():
            release_generator()(release, args.envs, args.cases)
            import_release(release, imported)
        if "docker" in (args.sandbox, args.cross):
            build_release_image(release, SandboxOptions.from_env())
        tasks_dir = imported / "tasks"
        tasks = [load_task(p) for p in sorted(tasks_dir.glob("*.json"))]
        endpoints = scratch / "endpoints.yaml"
        server, base_url = start_server(tasks_dir, endpoints)
        print(
            f"synthetic release: {len(tasks)} cases; {os.cpu_count()} CPUs; concurrency "
            f"{args.concurrency}; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        load = os.getloadavg()[0]
        rate = raw_rate(base_url, tasks, args.concurrency, args.baseline_requests)
        print(
            f"baseline: scripted server raw rate {rate:.0f} requests/s "
            f"({args.baseline_requests} first-turn requests; load average {load:.1f})",
            flush=True,
        )
        runs = [(scratch / "run-1", args.sandbox)]
        runs += [(scratch / "run-2", args.sandbox)] if args.repeat else []
        runs += [(scratch / f"run-{args.cross}", args.cross)] if args.cross else []
        for run_dir, sandbox in runs:
            shutil.rmtree(run_dir, ignore_errors=True)
            got = run_once(run_dir, tasks_dir, endpoints, args.concurrency, server.pid, sandbox)
            per_episode = got["requests"] / max(got["episodes"], 1)
            server_rate = got["requests"] / got["seconds"]
            print(
                f"{run_dir.name} ({sandbox}): {got['episodes']} episodes in "
                f"{got['seconds']:.1f} s = "
                f"{got['episodes_s']:.1f} episodes/s (target >= 30); statuses "
                f"{got['statuses']}; load average {got['load']:.1f} -> {got['load_after']:.1f}",
                flush=True,
            )
            print(
                f"  orchestrator: peak RSS {got['peak_mb']:.0f} MB (target <= 500), "
                f"CPU {got['cpu_s']:.1f} s = {1000 * got['cpu_s'] / got['episodes']:.1f} ms "
                "per episode",
                flush=True,
            )
            episodes = max(got["episodes"], 1)
            sandbox_ms = 1000 * (got["tree_cpu_s"] - got["cpu_s"]) / episodes
            model_ms = 1000 * got["server_cpu_s"] / episodes
            total_ms = 1000 * got["cpu_s"] / episodes + sandbox_ms + model_ms
            cores = os.cpu_count() or 1
            # containers are the Docker daemon's children, not the run's: their CPU is unseen
            unseen = " (not counted: docker containers)" if sandbox == "docker" else ""
            print(
                f"  CPU per episode: orchestrator {1000 * got['cpu_s'] / episodes:.1f} ms, "
                f"sandbox server and workers {sandbox_ms:.1f} ms{unseen}, scripted server "
                f"{model_ms:.1f} ms = {total_ms:.1f} ms: {cores} idle cores would allow "
                f"{1000 * cores / total_ms:.0f} episodes/s",
                flush=True,
            )
            print(
                f"  scripted server in the run: {server_rate:.0f} requests/s "
                f"({per_episode:.1f} per episode) = {server_rate / rate:.0%} of its raw rate; "
                f"CPU {got['server_cpu_s']:.1f} s; the raw rate alone bounds the run at "
                f"{rate / per_episode:.0f} episodes/s",
                flush=True,
            )
        if args.repeat:
            same, total = identical_tool_logs(runs[0][0], runs[1][0])
            print(
                f"byte-identical tool logs across two same-seed {args.sandbox} runs: "
                f"{same}/{total} cases"
            )
        if args.cross:
            same, total = identical_tool_logs(runs[0][0], runs[-1][0])
            print(
                f"byte-identical tool logs, {args.sandbox} run 1 vs {args.cross}: "
                f"{same}/{total} cases"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
