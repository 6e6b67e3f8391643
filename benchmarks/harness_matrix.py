"""The full harness matrix: every external harness x model API x sandbox x golden pole on the
whole bundled suite, the CLI harnesses also in a harness container, and the endless policy
under every harness; prints, per cell, the tasks whose server tool log equals the golden
trajectory and the wall time. Exits 1 if any cell falls short. CI runs a cheaper slice of the
same cells (tests/models/test_harness_matrix.py); this is the full verification.

    python benchmarks/harness_matrix.py [--sandboxes process docker] [--tasks N] [--concurrency 4]

The docker cells need the sandbox image ($VALUEGYM_SANDBOX_IMAGE, `valuegym sandbox build`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from envs.sandbox import make_sandbox
from envs.task import bundled_tasks_dir, find_task_files, load_task
from harnesses.base import HarnessConfig
from harnesses.conformance import BOXED, HARNESS_APIS, Cell, run_cell
from harnesses.scripted.server import ScriptedServer
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories, sandbox_options


def endless(server: ScriptedServer, sandbox, tasks, out: Path) -> list[tuple[str, str, bool]]:
    """Each harness under a policy that never stops: max_steps at a budget of 3, the 4th
    call refused and logged."""
    results = []
    for harness, api in HARNESS_APIS:
        run_dir = out / f"endless-{harness}-{api}"
        config = RunConfig(
            run_id=run_dir.name,
            harness=harness,
            sandbox=sandbox.name,
            harness_config=HarnessConfig(max_steps=3),
            model=server.endpoint("endless", api),
        )
        create_run(run_dir, config, tasks[:1])
        execute_run(run_dir, harness, sandbox=sandbox)
        (episode,) = run_trajectories(run_dir)
        kinds = [e.result.error_kind for e in episode.tool_log]
        ok = episode.status == "max_steps" and kinds == [None, None, None, "budget_exhausted"]
        results.append((harness, api, ok))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandboxes", nargs="+", default=["process", "docker"])
    parser.add_argument("--tasks", type=int, default=0, help="Only the first N tasks (0: all).")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-box", action="store_true", help="Skip the harness-container cells.")
    args = parser.parse_args()
    tasks = [load_task(p) for p in find_task_files([bundled_tasks_dir()])]
    tasks = tasks[: args.tasks] if args.tasks else tasks
    print(f"{len(tasks)} tasks, concurrency {args.concurrency}")
    header = f"{'harness':<15} {'api':<10} {'sandbox':<8} {'harness in':<10} {'pole':<4}"
    print(f"{header} {'golden':>9} {'wall s':>7}")
    cells: list[Cell] = []
    failed = False
    started = time.monotonic()
    with ScriptedServer(tasks) as server, tempfile.TemporaryDirectory() as tmp:
        for kind in args.sandboxes:
            sandbox = make_sandbox(kind, sandbox_options(tasks))
            try:
                for harness, api in HARNESS_APIS:
                    boxes = ["host"] + ([] if args.no_box or harness not in BOXED else ["docker"])
                    for where in boxes:
                        for pole in ("a", "b"):
                            model = server.endpoint(f"golden-{pole}", api)
                            cell = run_cell(
                                harness, model, tasks, sandbox, pole, where, args.concurrency
                            )
                            cells.append(cell)
                            failed |= cell.matching < cell.tasks
                            row = f"{harness:<15} {api:<10} {kind:<8} {where:<10} {pole:<4}"
                            print(f"{row} {cell.matching:>4}/{cell.tasks:<4} {cell.wall_s:>7.1f}")
                            for task_id, problem in sorted(cell.problems.items()):
                                print(f"    {task_id}: {problem}")
                if kind == "process":
                    for harness, api, ok in endless(server, sandbox, tasks, Path(tmp)):
                        failed |= not ok
                        verdict = "max_steps at 3, the 4th call refused" if ok else "FAILED"
                        print(f"endless {harness}/{api}: {verdict}")
            finally:
                sandbox.close()
    print(f"total {time.monotonic() - started:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
