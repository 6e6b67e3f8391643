"""Speed and calibration of the analysis on simulated judgments of a published-size suite.

Simulates runs of `--tasks` tasks spread over `--systems` value systems of `--values` values,
with contests drawn from a Bradley–Terry model of known strengths, and prints the time of a run
report and of a two-run comparison at the default 1000 resamples, and the empirical coverage of
the 95% intervals (a value's adherence and its Bradley–Terry strength) over `--trials`
simulated runs of 60 tasks. Targets: a published-size report in under a minute on 2 cores;
coverage within a few points of 95% (percentile bootstraps run a little short at small n).

    python benchmarks/analysis.py [--tasks 4335] [--systems 28] [--values 12] [--trials 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from judges.adherence import adherence
from judges.compare import RunInfo, build_compare
from judges.episodes import EpisodeRow, leaning
from judges.priority import priorities
from judges.stats import Settings


def strengths_of(values: int) -> np.ndarray:
    return np.linspace(1.2, -1.2, values)


def simulate(
    tasks: int, systems: int, values: int, samples: int, rng, pair_seed: int | None = None
) -> list[EpisodeRow]:
    """A run: task t pits two values of system t % systems; a `pair_seed` fixes the pairs."""
    truth = strengths_of(values)
    pair_rng = rng if pair_seed is None else np.random.default_rng(pair_seed)
    pairs = pair_rng.random((tasks, values)).argsort(axis=1)[:, :2]
    rows = []
    for t in range(tasks):
        system = t % systems
        i, j = pairs[t]
        p = 1 / (1 + np.exp(truth[j] - truth[i]))
        for k in range(samples):
            a_wins = rng.random() < p
            sa, sb = (rng.uniform(5, 10), rng.uniform(0, 5))[:: 1 if a_wins else -1]
            scores = {"a": round(float(sa), 2), "b": round(float(sb), 2)}
            rows.append(
                EpisodeRow(
                    episode_id=f"t{t}#{k}",
                    task_id=f"t{t}",
                    sample=k,
                    status="finished",
                    value_system=f"s{system}",
                    values={"a": f"v{i}", "b": f"v{j}"},
                    scores=scores,
                    leaning=leaning(scores),
                )
            )
    return rows


def coverage(trials: int, rng) -> tuple[float, float]:
    """Share of trials whose 95% CI covers the truth: v0's adherence, and v0's strength.

    A value's pole score is U(5, 10) when it wins and U(0, 5) when it loses, so its expected
    adherence is 2.5 + 5 * P(win) averaged over its opponents (uniform here); strengths are
    centred, like the truth.
    """
    adherence_hits = bt_hits = 0
    truth = strengths_of(4)
    p_win = np.mean([1 / (1 + np.exp(s - truth[0])) for s in truth[1:]])
    for trial in range(trials):
        rows = simulate(60, 1, 4, 1, rng)
        settings = Settings(resamples=300, seed=trial, min_tasks=1)
        v0 = next(v for v in adherence(rows, settings)[0] if v.value == "v0")
        adherence_hits += v0.adherence.low <= 2.5 + 5 * p_win <= v0.adherence.high
        (system,) = priorities(rows, settings)
        s0 = next(v.strength for v in system.values if v.value == "v0")
        bt_hits += s0.low <= truth[0] <= s0.high
    return adherence_hits / trials, bt_hits / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4335)
    parser.add_argument("--systems", type=int, default=28)
    parser.add_argument("--values", type=int, default=12)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    base = simulate(args.tasks, args.systems, args.values, args.samples, rng, pair_seed=1)
    other = simulate(args.tasks, args.systems, args.values, args.samples, rng, pair_seed=1)
    settings = Settings()
    start = time.perf_counter()
    adherence(base, settings)
    middle = time.perf_counter()
    priorities(base, settings)
    end = time.perf_counter()
    print(f"{len(base)} episodes, {settings.resamples} resamples")
    print(f"  adherence with CIs:       {middle - start:6.2f} s")
    print(f"  Bradley–Terry with CIs:   {end - middle:6.2f} s")
    start = time.perf_counter()
    runs = [(RunInfo(label=n, path=n, harness=n), rows) for n, rows in (("a", base), ("b", other))]
    build_compare(runs, "checkpoint", settings)
    print(f"  comparison of two runs:   {time.perf_counter() - start:6.2f} s")
    adherence_cov, bt_cov = coverage(args.trials, rng)
    print(f"coverage of 95% intervals over {args.trials} simulated runs of 60 tasks:")
    print(f"  value adherence:          {adherence_cov:.1%}")
    print(f"  Bradley–Terry strength:   {bt_cov:.1%}")


if __name__ == "__main__":
    main()
