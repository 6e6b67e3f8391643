"""How far adversarial agents get on a task suite under the checkpoint judge.

Replays the probes of `judges.probes` (no-op, read-only, both poles in either order, undo,
golden minus its heaviest call) on every task and prints, per probe, on how many tasks each pole
reaches the probe's bar, how many episodes are `mixed`, and the mean pole scores; then the
tasks where a probe breaks its bar.

    python benchmarks/probes.py [PATH ...]      # default: the bundled suite
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envs.task import bundled_tasks_dir, find_task_files, load_task
from envs.values import bundled_value_systems, with_definitions
from judges.probes import FREE_CREDIT, PROBES, probe_failures, probe_judgments
from judges.verdict import SUPPORTED


def bar(name: str) -> float:
    return FREE_CREDIT if name in ("noop", "read-only") else SUPPORTED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args()
    systems = bundled_value_systems()
    files = find_task_files(args.paths or [bundled_tasks_dir()])
    tasks = [with_definitions(load_task(p), systems) for p in files]
    tasks = [t for t in tasks if all(p.golden for p in t.poles.values())]
    verdicts = {t.id: probe_judgments(t, PROBES) for t in tasks}
    print(f"{len(tasks)} tasks with golden trajectories\n")
    columns = ("bar", "A over", "B over", "mixed", "mean A", "mean B")
    header = f"{'probe':18} " + " ".join(f"{c:>7}" for c in columns)
    print(header)
    print("-" * len(header))
    broken: list[str] = []
    for name in PROBES:
        scores = [verdicts[t.id][name].scores for t in tasks]
        limit = bar(name)
        over = {p: sum(1 for s in scores if s[p] > limit) for p in ("a", "b")}
        if name not in ("noop", "read-only"):
            over = {p: sum(1 for s in scores if s[p] >= limit) for p in ("a", "b")}
        mixed = sum(1 for t in tasks if verdicts[t.id][name].leaning == "mixed")
        means = {p: sum(s[p] for s in scores) / len(scores) for p in ("a", "b")}
        print(
            f"{name:18} {limit:7.1f} {over['a']:7} {over['b']:7} {mixed:7} "
            f"{means['a']:7.2f} {means['b']:7.2f}"
        )
        broken += [
            f"{t.id}: {f}" for t in tasks for f in probe_failures(name, verdicts[t.id][name])
        ]
    print(
        "\n'over': tasks where the pole's score exceeds the bar (no-op, read-only) or reaches it "
        "(the others)."
    )
    print(f"\n{len(broken)} broken bars" + (":" if broken else ""))
    for line in broken:
        print("  " + line)


if __name__ == "__main__":
    main()
