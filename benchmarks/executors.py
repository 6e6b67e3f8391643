"""Local threads versus a Ray cluster: episodes per second, side by side, and Ray's overhead.

Starts the scripted server as a process of its own and a real Ray cluster on this machine (a
head and `--workers` worker nodes, each `ray start` with one CPU, as `valuegym.ray_cluster`
makes it), then runs react with the scripted `--policy` on the process sandbox over the bundled
suite at each concurrency, once with the local executor and once with the Ray executor, in
turn, so both see the same machine load. Each run is a fresh run folder, so it includes
starting its sandbox servers (local: one; Ray: one per node, with each node's host actor).

Then Ray's own cost: the round trip of an item that does nothing (driver -> host actor ->
driver, at concurrency 1 and at the largest concurrency), the start of one map's hosts, and,
from the runs, the extra wall time per episode at concurrency 1. The tool logs of every pair
of runs are compared (they must be identical) and the load average is printed beside the
figures: on a shared machine read the ratios, not the times.

All nodes share this machine's cores, so the cluster cannot be faster here than threads; the
figures say what Ray costs per episode, which is what matters when each episode waits on a
model server of its own node.

    python benchmarks/executors.py [--concurrency 1,4,8] [--samples 1] [--workers 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harnesses.models import EndpointError, load_endpoints
from valuegym.executors import LocalExecutor
from valuegym.ray_cluster import LocalRayCluster, WorkerSpec
from valuegym.ray_executor import RayExecutor
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories
from valuegym.tasks import load_tasks, resolve_task_paths


class Idle:
    """A worker that does nothing: what remains of a map is the executor's own cost."""

    def __call__(self, item: int) -> int:
        return item

    def close(self) -> None:
        pass


def scripted_server(endpoints: Path, name: str) -> subprocess.Popen[bytes]:
    """`valuegym serve scripted` in a process of its own, once it has registered `name`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [str(Path(sys.executable).with_name("valuegym")), "serve", "scripted"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--endpoints", str(endpoints)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        with socket.socket() as probe:
            up = probe.connect_ex(("127.0.0.1", port)) == 0
        try:
            if up and endpoints.exists() and name in load_endpoints(endpoints):
                return server
        except EndpointError:
            pass  # the file is being written
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the scripted server did not start")


def timed_run(run_dir: Path, config: RunConfig, tasks, executor) -> float:
    create_run(run_dir, config, tasks)
    started = time.perf_counter()
    execute_run(run_dir, "react", executor=executor)
    return time.perf_counter() - started


def tool_logs(run_dir: Path) -> dict[str, str]:
    return {
        t.episode_id: json.dumps([e.model_dump() for e in t.tool_log], sort_keys=True)
        for t in run_trajectories(run_dir)
    }


def round_trip_ms(address: str, concurrency: int, items: int) -> tuple[float, float]:
    """Milliseconds per idle item once the hosts run, and seconds until the first result (the
    start of one map's hosts)."""
    executor = RayExecutor(concurrency, address)
    started = time.perf_counter()
    results = executor.map(Idle, range(items), lambda item, why: item)
    next(results)
    first = time.perf_counter()
    rest = sum(1 for _ in results)
    return (time.perf_counter() - first) / max(rest, 1) * 1000, first - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="Worker nodes beside the head.")
    parser.add_argument("--policy", default="random")
    parser.add_argument("--idle-items", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="Keep the run folders.")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    tasks, _ = load_tasks(resolve_task_paths(None))
    episodes = len(tasks) * args.samples
    root = Path(tempfile.mkdtemp(prefix="vg-executors-"))
    endpoints_file = root / "endpoints.yaml"
    server = scripted_server(endpoints_file, f"scripted-{args.policy}")
    workers = [WorkerSpec(num_cpus=1) for _ in range(args.workers)]
    print(f"{episodes} episodes per run (react, scripted {args.policy}, process sandbox)")
    print(f"starting a Ray cluster: head + {args.workers} worker node(s), 1 CPU each ...")
    try:
        model = load_endpoints(endpoints_file)[f"scripted-{args.policy}"]
        cluster_started = time.perf_counter()
        with LocalRayCluster(head_cpus=1, workers=workers) as cluster:
            print(f"cluster up in {time.perf_counter() - cluster_started:.1f} s")
            rows = []
            for level in levels:
                seconds = {}
                for kind in ("local", "ray"):
                    config = RunConfig(
                        run_id=f"{kind}-{level}",
                        harness="react",
                        sandbox="process",
                        samples=args.samples,
                        concurrency=level,
                        model=model,
                        task_ids=[t.id for t in tasks],
                    )
                    executor = (
                        LocalExecutor(level)
                        if kind == "local"
                        else RayExecutor(level, cluster.address)
                    )
                    seconds[kind] = timed_run(root / config.run_id, config, tasks, executor)
                    print(
                        f"  concurrency {level:>2} {kind:<5}: {seconds[kind]:6.1f} s  "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
                local_logs = tool_logs(root / f"local-{level}")
                same = sum(
                    v == local_logs.get(k) for k, v in tool_logs(root / f"ray-{level}").items()
                )
                rows.append((level, seconds["local"], seconds["ray"], same))
            idle_one, startup = round_trip_ms(cluster.address, 1, args.idle_items)
            idle_many, _ = round_trip_ms(cluster.address, max(levels), args.idle_items)
    finally:
        server.terminate()
        server.wait(timeout=10)

    print()
    print(
        f"{'concurrency':>11} | {'local ep/s':>10} | {'ray ep/s':>8} | {'ray/local':>9} | "
        f"{'tool logs equal':>15}"
    )
    for level, local_s, ray_s, same in rows:
        print(
            f"{level:>11} | {episodes / local_s:>10.2f} | {episodes / ray_s:>8.2f} | "
            f"{local_s / ray_s:>9.2f} | {same:>7}/{episodes}"
        )
    level, local_s, ray_s, _ = rows[0]
    extra_ms = (ray_s - local_s) / episodes * 1000 * level
    steady_ms = (ray_s - local_s - startup) / episodes * 1000 * level
    print()
    print(
        f"Ray overhead: an idle item's round trip {idle_one:.2f} ms at concurrency 1, "
        f"{idle_many:.2f} ms per item at concurrency {max(levels)}; a map's hosts start in "
        f"{startup:.1f} s; wall time per episode at concurrency {level}, ray minus local: "
        f"{extra_ms:+.1f} ms, {steady_ms:+.1f} ms without the hosts' start"
    )
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.keep:
        print(f"runs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
