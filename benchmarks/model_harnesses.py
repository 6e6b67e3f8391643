"""Throughput of the model-driven harnesses against the scripted server on loopback.

Runs the bundled suite under `react` and `langgraph` with the scripted golden-a policy at a few
concurrency levels and prints episodes per second, model requests per second and the mean
wall time per request. It measures valuegym's own overhead (client, HTTP, sandbox, journal),
not any model. Target: the bundled suite in under 10 s per harness on 2 cores.

    python benchmarks/model_harnesses.py [--concurrency 1 4] [--samples 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from envs.task import bundled_tasks_dir, find_task_files, load_task
from harnesses.base import get_harness
from harnesses.models import ModelEndpoint
from harnesses.scripted.server import ScriptedServer
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--samples", type=int, default=1)
    args = parser.parse_args()
    tasks = [load_task(p) for p in find_task_files([bundled_tasks_dir()])]
    print(f"{len(tasks)} tasks x {args.samples} samples")
    print(f"{'harness':<10} {'conc':>4} {'episodes/s':>11} {'requests/s':>11} {'ms/request':>11}")
    with ScriptedServer(tasks) as server, tempfile.TemporaryDirectory() as tmp:
        model = ModelEndpoint(name="scripted", base_url=server.base_url, model="golden-a")
        for harness in ("react", "langgraph"):
            for concurrency in args.concurrency:
                run_dir = Path(tmp) / f"{harness}-{concurrency}"
                config = RunConfig(
                    run_id=run_dir.name,
                    harness=harness,
                    samples=args.samples,
                    concurrency=concurrency,
                    model=model,
                    task_ids=[t.id for t in tasks],
                )
                create_run(run_dir, config, tasks)
                started = time.perf_counter()
                execute_run(run_dir, get_harness(harness))
                elapsed = time.perf_counter() - started
                trajectories = run_trajectories(run_dir)
                requests = sum(t.usage.requests for t in trajectories)
                bad = sum(t.status != "finished" for t in trajectories)
                print(
                    f"{harness:<10} {concurrency:>4} {len(trajectories) / elapsed:>11.1f} "
                    f"{requests / elapsed:>11.1f} {1000 * elapsed * concurrency / requests:>11.1f}"
                    + (f"  ({bad} not finished)" if bad else "")
                )


if __name__ == "__main__":
    main()
