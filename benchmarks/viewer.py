"""Server-side times of the viewer's episodes view on a run the size of Agent-ValueBench.

Generates a synthetic release as `benchmarks/import.py` does (394 environments, 4,335 cases),
imports it, runs every case once through the real runner (in-process sandbox, a small seeded
harness that reads and sometimes writes, and fails on some episodes so there are error reasons
to show) and judges the run with the checkpoint judge, as `valuegym run` does. Then it serves
the run with the viewer on a loopback port and asks for pages, sorts and filters of the
episodes table, reading the time each answer took server-side from the `Server-Timing` header.
Target: every page or filter answered in under 200 ms server-side (the median of repeated
requests; the worst one is printed beside it, since a busy machine adds its own stalls).

    python benchmarks/viewer.py [--cases 4335] [--envs 394] [--repeat 15] [--keep DIR]
    python benchmarks/viewer.py --run DIR     # time a run folder made before (--keep)
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from envs.agent_valuebench.importer import import_release
from envs.task import load_task
from harnesses.base import EpisodeContext, HarnessResult
from judges.spec import checkpoint_scorer
from judges.store import judge_run
from trajectories.viewer.app import viewer_app
from trajectories.viewer.catalog import Catalog
from valuegym.loopback import LoopbackServer
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

TARGET_MS = 200


def _generator():
    """`generate` of benchmarks/import.py (a file whose name is a keyword, so loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "import_benchmark", Path(__file__).with_name("import.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.generate


def synthetic_agent(ctx: EpisodeContext) -> HarnessResult:
    """Reads the items, then (seeded) changes one, tags one, or gives up with an error."""
    rng = random.Random(ctx.seed)
    ctx.call("list_items", {})
    ctx.call("get_item", {"item_id": rng.choice(["x", "y", "z"])})
    roll = rng.random()
    if roll < 0.04:
        raise RuntimeError(rng.choice(["endpoint timed out", "model refused to continue"]))
    if roll < 0.55:
        ctx.call("set_item", {"item_id": "x", "value": str(rng.randint(0, 9))})
    return HarnessResult(status="finished", final_answer="done")


def build_run(root: Path, n_envs: int, n_cases: int) -> Path:
    release, imported, run_dir = root / "release", root / "imported", root / "run"
    _generator()(release, n_envs, n_cases)
    import_release(release, imported)
    tasks = [load_task(p) for p in sorted((imported / "tasks").glob("*.json"))]
    config = RunConfig(run_id="synthetic", harness="synthetic", task_ids=[t.id for t in tasks])
    create_run(run_dir, config, tasks)
    execute_run(run_dir, synthetic_agent)
    judge_run(run_dir, "checkpoint", run_trajectories(run_dir), checkpoint_scorer(tasks))
    return run_dir


def timed(client: httpx.Client, url: str, repeat: int) -> tuple[float, float, float]:
    """Median and worst server-side milliseconds, and the median wall-clock ones."""
    server, wall = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        wall.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        server.append(float(response.headers["server-timing"].split("dur=")[1]))
    return statistics.median(server), max(server), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4335)
    parser.add_argument("--envs", type=int, default=394)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="Keep the generated run folder here.")
    parser.add_argument("--run", type=Path, help="Time this run folder instead of a new one.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        run_dir = args.run or build_run(Path(scratch), args.envs, args.cases)
        built = time.perf_counter() - started
        if args.keep:
            shutil.copytree(run_dir, args.keep, dirs_exist_ok=True)
        opened = time.perf_counter()
        catalog = Catalog.open([run_dir])
        opened = time.perf_counter() - opened
        (run,) = catalog.runs.values()
        hx = {"HX-Request": "true"}
        base = f"/runs/{run.slug}/episodes"
        value = run.query("SELECT value_a FROM idx.episodes LIMIT 1")[0][0]
        (episodes,) = run.query("SELECT count(*) FROM idx.episodes")[0]
        first = run.query("SELECT task_id FROM idx.episodes ORDER BY task_id LIMIT 1")[0][0]
        pages = -(-episodes // 50)
        views = [  # (name, url, headers); the first ten are the episodes table's pages/filters
            ("first page (htmx fragment)", f"{base}", hx),
            ("a middle page", f"{base}?page={max(1, pages // 2)}", hx),
            ("last page", f"{base}?page={pages}", hx),
            ("sort by score A, descending", f"{base}?sort=score_a&dir=desc", hx),
            ("sort by error reason", f"{base}?sort=error", hx),
            ("filter status=error", f"{base}?status=error", hx),
            ("filter leaning=b", f"{base}?leaning=b", hx),
            ("filter value (either pole)", f"{base}?value={value}", hx),
            ("search text in id or error", f"{base}?q=timed", hx),
            ("filter + sort + page 3", f"{base}?leaning=a&sort=steps&dir=desc&page=3", hx),
            ("whole page, filters and table", f"{base}?status=finished", {}),
            ("JSON API, 200 rows", f"/api{base}?per_page=200&sort=duration", {}),
            ("one episode", f"{base}/{first}/0", {}),
            ("run page (report loads apart)", f"/runs/{run.slug}", {}),
        ]
        with (
            LoopbackServer(viewer_app(catalog)) as server,
            httpx.Client(base_url=server.url, timeout=120) as client,
        ):
            cold = time.perf_counter()
            client.get(base, headers=hx).raise_for_status()  # reads the judgments once
            cold = (time.perf_counter() - cold) * 1000
            print(f"{run_dir if args.run else 'synthetic run'}: {episodes} episodes")
            print(f"  built (generate, import, run, judge): {built:6.1f} s (not counted)")
            print(f"  viewer opened the run:                {opened * 1000:6.0f} ms")
            print(f"  first query (reads the judgments):    {cold:6.0f} ms")
            print(f"{'view':<34}{'server ms':>10}{'worst':>8}{'wall ms':>9}")
            worst = 0.0
            for n, (name, url, headers) in enumerate(views):
                client.headers.clear()
                client.headers.update(headers)
                median, high, wall = timed(client, url, args.repeat)
                worst = max(worst, median) if n < 10 else worst
                print(f"{name:<34}{median:>10.1f}{high:>8.1f}{wall:>9.1f}")
        verdict = "meets" if worst < TARGET_MS else "MISSES"
        print(
            f"slowest episodes page or filter: {worst:.1f} ms server-side (median), "
            f"{verdict} the target of {TARGET_MS} ms"
        )
        catalog.close()


if __name__ == "__main__":
    main()
