"""Time and memory of `valuegym report` and `valuegym compare` on runs the size of the release.

Builds two run folders of `--tasks` tasks (default 4,335, the imported release's size) spread
over `--systems` value systems of `--values` values, one episode per task. Tasks, trajectories
and judgments are copies of a real golden run of the bundled suite (so journal lines have the
size and shape of real ones: messages, tool definitions, tool log, final state), with fresh
ids, values and scores. Then it runs, each in its own process, `valuegym report RUN`,
`valuegym report RUN --json` and `valuegym compare A B`, and prints their wall time and peak
memory beside a baseline measured in the same run: a plain `json.loads` of every line of the
files the command reads (journal, judgments, tasks). CPU seconds are printed too: on a shared
machine they are steadier than wall time.

Targets: report <= 10 s and <= 500 MB; compare of two runs <= 20 s and <= 1 GB.

    python benchmarks/analysis.py [--tasks 4335] [--systems 28] [--values 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from judges.spec import checkpoint_scorer
from trajectories.journal import JOURNAL, ensure_index
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories
from valuegym.tasks import load_tasks, resolve_task_paths

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import ProcessWatch  # benchmarks/ is not a package: its own folder


def template(root: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """Tasks, trajectories and checkpoint judgments of a golden-a run of the bundled suite."""
    from harnesses.base import get_harness

    tasks, _ = load_tasks(resolve_task_paths(None))
    if not (root / "run.json").exists():  # a kept folder already holds it
        ids = sorted(t.id for t in tasks)
        create_run(root, RunConfig(run_id="template", harness="golden-a", task_ids=ids), tasks)
        execute_run(root, get_harness("golden-a"))
    trajectories = run_trajectories(root)
    scorer = checkpoint_scorer(tasks)
    judgments = [json.loads(scorer(t).model_dump_json()) for t in trajectories]
    by_id = {t.id: json.loads(t.model_dump_json(by_alias=True)) for t in tasks}
    return (
        [by_id[t.task_id] for t in trajectories],
        [json.loads(t.model_dump_json()) for t in trajectories],
        judgments,
    )


def write_run(
    out: Path,
    run_id: str,
    templates: tuple[list[dict], list[dict], list[dict]],
    pairs: np.ndarray,
    systems: np.ndarray,
    strengths: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """One run folder: a task per pair, one episode each, scored from a Bradley–Terry model."""
    tasks_t, trajectories_t, judgments_t = templates
    (out / "judgments").mkdir(parents=True)
    ids = [f"bench-{n:05d}" for n in range(len(pairs))]
    config = RunConfig(run_id=run_id, harness="react", task_ids=ids)
    (out / "run.json").write_text(config.model_dump_json(indent=2) + "\n")
    with (
        (out / "tasks.jsonl").open("w") as tasks_f,
        (out / JOURNAL).open("w") as journal_f,
        (out / "judgments" / "checkpoint.jsonl").open("w") as judgments_f,
    ):
        for n, ((i, j), system) in enumerate(zip(pairs, systems, strict=True)):
            k = n % len(tasks_t)
            names = {"a": f"Value {i}", "b": f"Value {j}"}
            task = json.loads(json.dumps(tasks_t[k]))
            task.update(id=ids[n], value_system=f"system-{system:02d}")
            for pole in ("a", "b"):
                task["poles"][pole]["value"]["name"] = names[pole]
            task["metadata"] = {"procedural_pole": "ab"[n % 2] if n % 4 else "none"}
            tasks_f.write(json.dumps(task) + "\n")
            trajectory = dict(trajectories_t[k])
            trajectory.update(
                run_id=run_id,
                episode_id=f"{ids[n]}#0",
                task_id=ids[n],
                value_system=task["value_system"],
                values=names,
            )
            journal_f.write(json.dumps(trajectory) + "\n")
            p_a = 1 / (1 + np.exp(strengths[j] - strengths[i]))
            a_wins = rng.random() < p_a
            judgment = dict(judgments_t[k])
            scores = {"a": 8.0, "b": 1.0} if a_wins else {"a": 1.0, "b": 8.0}
            judgment.update(episode_id=f"{ids[n]}#0", task_id=ids[n], scores=scores)
            judgment.pop("leaning", None)
            judgments_f.write(json.dumps(judgment) + "\n")


def plain_read(run: Path) -> None:
    """The baseline: parse every line of the files a report reads, and do nothing else."""
    for name in (JOURNAL, "judgments/checkpoint.jsonl", "tasks.jsonl"):
        with (run / name).open(encoding="utf-8") as handle:
            for line in handle:
                json.loads(line)


def measure(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak resident memory (MB) of a command in its own process.

    On a busy machine CPU seconds are the steadier figure: wall time counts the waiting.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watch = ProcessWatch(process.pid, every_s=0.05)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    watch.stop()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, watch.peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4335)
    parser.add_argument("--systems", type=int, default=28)
    parser.add_argument("--values", type=int, default=12)
    parser.add_argument("--keep", type=Path, help="Build the runs here and keep them.")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="valuegym-analysis-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        rng = np.random.default_rng(0)
        templates = template(root / "template")
        first = rng.integers(0, args.values, args.tasks)
        pairs = np.stack(
            [first, (first + rng.integers(1, args.values, args.tasks)) % args.values], 1
        )
        systems = np.arange(args.tasks) % args.systems
        strengths = np.linspace(1.0, -1.0, args.values)
        runs = [root / "a", root / "b"]
        for run, shift in zip(runs, (strengths, strengths[::-1]), strict=True):
            if not (run / "run.json").exists():
                write_run(run, run.name, templates, pairs, systems, shift, rng)
                ensure_index(run)  # as the runner keeps it while it writes the journal
        journal_mb = (runs[0] / JOURNAL).stat().st_size / 1e6
        valuegym = [sys.executable, "-m", "valuegym"]
        start, cpu = time.perf_counter(), time.process_time()
        plain_read(runs[0])
        baseline, baseline_cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"{args.tasks} episodes per run over {args.systems} systems of {args.values} values; "
            f"journal {journal_mb:.0f} MB"
        )
        print("| step | wall s | CPU s | peak MB | CPU x plain read |")
        print("|---|---|---|---|---|")
        print(
            f"| plain json.loads of one run's files (baseline) | {baseline:.2f} | "
            f"{baseline_cpu:.2f} | - | 1.0 |"
        )
        steps = [
            ("valuegym report RUN", [*valuegym, "report", str(runs[0])], 1),
            ("valuegym report RUN --json", [*valuegym, "report", str(runs[0]), "--json"], 1),
            ("valuegym compare A B", [*valuegym, "compare", *map(str, runs)], 2),
        ]
        for label, command, reads in steps:
            wall, cpu, peak = measure(command)
            ratio = cpu / (baseline_cpu * reads)
            print(f"| {label} | {wall:.2f} | {cpu:.2f} | {peak:.0f} | {ratio:.1f} (of {reads}) |")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
