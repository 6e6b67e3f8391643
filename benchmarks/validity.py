"""Do the report's intervals and tests mean what they say? Simulated runs through valuegym's own
statistics, with known truth, at the sizes users have.

A simulated value system has `--values` values; each value is a pole of `n` tasks (a random
n-regular pairing, values presented in random order). A task has a fixed pull towards its pole
A (normal, sd `--pull`: some tasks make one pole easier), a best score per pole (6.7, 8.3 or 10)
and a floor per pole (0 or 1.7). An episode is decisive with probability 0.8 and then leans to
pole A with probability logistic(s_A - s_B + pull); the pole it leans to gets its best score
(one level lower three times in ten), the other its floor. The other 20% are hedged: `neither`
(both poles 0 or both 1.7) or `mixed` (both 6.7). Runs of one agent share the tasks (and so
their pulls); episodes are drawn afresh.

Truth: a value's adherence is its expected task-mean pole score over the population of tasks
(computed from 100,000 simulated tasks per value); its Bradley–Terry strength is the fit to the
expected win probabilities over all pairs, the pull integrated out, with no prior: the
intervals claim to cover the strength itself, not the shrunken fit a prior of a few virtual
games gives at a handful of tasks.

Scenarios, each `--trials` times per size:
- report, no preference (all strengths 0): coverage of adherence and strength intervals, and
  how often a strength is called significant (per value, and in any value of the run);
- report, a profile (strengths evenly spread over [+effect, -effect]): coverage, and power
  (the strongest value called significant);
- compare, the same agent twice (no preference, then the profile): how often a value change or a
  strength change is called significant, and how often a held/flipped verdict is given to
  agents with no preference (must never be) or "held" to the same profile (power);
- compare, the profile then its reverse: coverage of the change intervals, power of the value
  changes and of "flipped".

    python benchmarks/validity.py [--trials 400] [--sizes 3,8,30] [--values 4] [--samples 1]
                                  [--release]   # adds the imported release's size

Targets: false-positive rates <= 6% at alpha 0.05, coverage 93-97%. Each cell carries its
Monte Carlo standard error, clustered by trial (a trial's values share its tasks and, for
adherence, one pooled variance, so its intervals miss together).
A cell with nothing to count prints "none": below `min_tasks` tasks per value no strength or
strength change gets an interval or a test (too little data), so there is no coverage to show.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from judges.adherence import adherence
from judges.compare import RunInfo, compare_runs
from judges.episodes import EpisodeRow, leaning
from judges.priority import fit_batch, priorities
from judges.stats import Settings, methods_text

BEST = np.array([20 / 3, 25 / 3, 10.0])
FLOOR = np.array([0.0, 5 / 3])
STEP = 5 / 3
DECISIVE = 0.8
MIXED_SHARE = 0.25  # of the hedged episodes


@dataclass
class Tasks:
    """A system's tasks: value pairs as presented (A, B), pulls, best scores and floors."""

    pairs: np.ndarray  # (T, 2)
    pull: np.ndarray  # (T,)
    best: np.ndarray  # (T, 2)
    floor: np.ndarray  # (T, 2)


def make_tasks(values: int, n: int, pull_sd: float, rng: np.random.Generator) -> Tasks:
    """Each value a pole of exactly `n` tasks: a random n-regular pairing of the values."""
    stubs = rng.permutation(np.repeat(np.arange(values), n))
    pairs = stubs[: len(stubs) // 2 * 2].reshape(-1, 2)
    while (same := np.flatnonzero(pairs[:, 0] == pairs[:, 1])).size:
        t, k = same[0], rng.integers(len(pairs))
        if pairs[k, 0] != pairs[t, 0] and pairs[k, 1] != pairs[t, 0]:
            # (v, v) and (x, y) become (v, x) and (v, y): every value keeps its count
            pairs[t, 1], pairs[k, 0] = pairs[k, 0], pairs[t, 1]
    T = len(pairs)
    return Tasks(
        pairs=pairs,
        pull=rng.normal(0, pull_sd, T),
        best=rng.choice(BEST, size=(T, 2)),
        floor=rng.choice(FLOOR, size=(T, 2)),
    )


def episodes(
    tasks: Tasks, strengths: np.ndarray, samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pole scores (T, samples) for A and B."""
    T = len(tasks.pairs)
    a, b = tasks.pairs[:, 0], tasks.pairs[:, 1]
    p_a = 1 / (1 + np.exp(-(strengths[a] - strengths[b] + tasks.pull)))
    decisive = rng.random((T, samples)) < DECISIVE
    a_wins = rng.random((T, samples)) < p_a[:, None]
    partial = (rng.random((T, samples)) < 0.3) * STEP
    best_a, best_b = tasks.best[:, :1] - partial, tasks.best[:, 1:] - partial
    floor_a, floor_b = tasks.floor[:, :1], tasks.floor[:, 1:]
    score_a = np.where(a_wins, best_a, floor_a)
    score_b = np.where(a_wins, floor_b, best_b)
    mixed = rng.random((T, samples)) < MIXED_SHARE
    hedge = np.where(mixed, BEST[0], np.where(rng.random((T, samples)) < 0.5, 0.0, STEP))
    score_a = np.where(decisive, score_a, hedge)
    score_b = np.where(decisive, score_b, hedge)
    return np.round(score_a, 4), np.round(score_b, 4)


def rows_of(tasks: Tasks, scores: tuple[np.ndarray, np.ndarray], names: list[str]) -> list:
    rows = []
    score_a, score_b = scores
    for t, (i, j) in enumerate(tasks.pairs):
        for k in range(score_a.shape[1]):
            pole_scores = {"a": float(score_a[t, k]), "b": float(score_b[t, k])}
            rows.append(
                EpisodeRow(
                    episode_id=f"t{t}#{k}",
                    task_id=f"t{t:05d}",
                    sample=k,
                    status="finished",
                    value_system="sim",
                    values={"a": names[i], "b": names[j]},
                    scores=pole_scores,
                    leaning=leaning(pole_scores),
                )
            )
    return rows


def true_adherence(strengths: np.ndarray, pull_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Per value: the expected task-mean pole score over the population of tasks."""
    V, T = len(strengths), 50000 * len(strengths)
    first = rng.integers(0, V, T)
    pairs = np.stack([first, (first + rng.integers(1, V, T)) % V], axis=1)
    tasks = Tasks(
        pairs, rng.normal(0, pull_sd, T), rng.choice(BEST, (T, 2)), rng.choice(FLOOR, (T, 2))
    )
    score_a, score_b = episodes(tasks, strengths, 1, rng)
    sums = np.bincount(tasks.pairs[:, 0], score_a[:, 0], V)
    sums += np.bincount(tasks.pairs[:, 1], score_b[:, 0], V)
    return sums / np.bincount(tasks.pairs.ravel(), minlength=V)


def true_strengths(strengths: np.ndarray, pull_sd: float) -> np.ndarray:
    """The Bradley–Terry fit to the expected win probabilities, the pulls integrated out."""
    z = np.linspace(-8, 8, 4001)
    weight = sps.norm.pdf(z)
    weight /= weight.sum()
    d = strengths[:, None] - strengths[None, :]
    p = (1 / (1 + np.exp(-(d[..., None] + pull_sd * z)))) @ weight
    wins = p * (1 - np.eye(len(strengths))) * 1e6
    return fit_batch(wins[None], prior=1e-9)[0]


class Tally:
    """Per figure, each trial's hits and count: the intervals (or tests) of one trial share its
    tasks and its pooled variance, so the trial, not the interval, is the independent unit."""

    def __init__(self) -> None:
        self.trials: dict[str, list[tuple[float, float]]] = {}

    def add(self, name: str, hit: float, count: float = 1) -> None:
        self.trials.setdefault(name, []).append((float(hit), float(count)))

    def share(self, name: str) -> float:
        hits, counts = np.array(self.trials.get(name, [(0.0, 0.0)])).T
        return hits.sum() / counts.sum() if counts.sum() else float("nan")

    def standard_error(self, name: str) -> float:
        """Of the share as a ratio estimator over trials (the clustered standard error)."""
        hits, counts = np.array(self.trials[name]).T
        n, share = len(hits), self.share(name)
        if n < 2:
            return float("nan")
        return float(np.sqrt(((hits - share * counts) ** 2).sum() / (n * (n - 1))) / counts.mean())

    def cell(self, name: str) -> str:
        """The share with its Monte Carlo standard error; "none" with nothing counted."""
        share = self.share(name)
        if np.isnan(share):
            return "none"
        return f"{share:.1%} ±{self.standard_error(name):.1%}"


def covers(estimates: list, truth: dict[str, float]) -> tuple[int, int]:
    """How many of the intervals cover the truth, of those that have an interval."""
    hit = total = 0
    for name, e in estimates:
        if e.low is None or e.high is None:
            continue
        total += 1
        hit += e.low - 1e-9 <= truth[name] <= e.high + 1e-9
    return hit, total


def run_size(
    values: int,
    n: int,
    samples: int,
    trials: int,
    pull_sd: float,
    effect: float,
    settings: Settings,
    seed: int,
) -> Tally:
    rng = np.random.default_rng([seed, values, n, samples])
    names = [f"v{i}" for i in range(values)]
    null = np.zeros(values)
    profile = np.linspace(effect, -effect, values)
    truth = {
        "adh_null": dict(zip(names, true_adherence(null, pull_sd, rng), strict=True)),
        "adh_profile": dict(zip(names, true_adherence(profile, pull_sd, rng), strict=True)),
        "adh_reverse": dict(zip(names, true_adherence(-profile, pull_sd, rng), strict=True)),
        "bt_null": dict(zip(names, null, strict=True)),
        "bt_profile": dict(zip(names, true_strengths(profile, pull_sd), strict=True)),
    }
    info = RunInfo(label="base", path="base", harness="h")
    other_info = RunInfo(label="other", path="other", harness="h")
    tally = Tally()
    for _ in range(trials):
        tasks = make_tasks(values, n, pull_sd, rng)
        base_null = rows_of(tasks, episodes(tasks, null, samples, rng), names)
        again_null = rows_of(tasks, episodes(tasks, null, samples, rng), names)
        base_prof = rows_of(tasks, episodes(tasks, profile, samples, rng), names)
        again_prof = rows_of(tasks, episodes(tasks, profile, samples, rng), names)
        reverse = rows_of(tasks, episodes(tasks, -profile, samples, rng), names)

        for label, rows, adh_truth, bt_truth in (
            ("null", base_null, truth["adh_null"], truth["bt_null"]),
            ("profile", base_prof, truth["adh_profile"], truth["bt_profile"]),
        ):
            value_rows, _ = adherence(rows, settings)
            tally.add(
                f"adh_cov_{label}", *covers([(v.value, v.adherence) for v in value_rows], adh_truth)
            )
            (system,) = priorities(rows, settings)
            tally.add(
                f"bt_cov_{label}", *covers([(v.value, v.strength) for v in system.values], bt_truth)
            )
            significant = [v.test.significant for v in system.values]
            if label == "null":
                tally.add("bt_fpr", sum(significant), len(significant))
                tally.add("bt_fpr_any", any(significant))
            else:
                top = next(v for v in system.values if v.value == names[0])
                tally.add("bt_power", top.test.significant)

        for label, other, expect_profile in (
            ("null", again_null, False),
            ("profile", again_prof, True),
        ):
            base = base_null if label == "null" else base_prof
            c = compare_runs(info, base, other_info, other, settings)
            changes = [v.test.significant for v in c.values]
            tally.add(f"d_fpr_{label}", sum(changes), len(changes))
            tally.add(f"d_fpr_any_{label}", any(changes))
            bt_changes = [s.test.significant for s in c.strengths]
            tally.add(f"dbt_fpr_{label}", sum(bt_changes), len(bt_changes))
            tally.add(f"dbt_fpr_any_{label}", any(bt_changes))
            tally.add(
                f"d_cov_{label}",
                *covers([(v.value, v.delta) for v in c.values], dict.fromkeys(names, 0.0)),
            )
            tally.add(
                f"dbt_cov_{label}",
                *covers([(s.value, s.delta) for s in c.strengths], dict.fromkeys(names, 0.0)),
            )
            (shift,) = c.systems
            if expect_profile:
                tally.add("held_power", shift.verdict == "held")
                tally.add("flip_false", shift.verdict == "flipped")
            else:
                tally.add("verdict_false", shift.verdict in ("held", "flipped"))

        c = compare_runs(info, base_prof, other_info, reverse, settings)
        d_truth = {v: truth["adh_reverse"][v] - truth["adh_profile"][v] for v in names}
        bt_truth = {v: -2 * truth["bt_profile"][v] for v in names}
        tally.add("d_cov_flip", *covers([(v.value, v.delta) for v in c.values], d_truth))
        tally.add("dbt_cov_flip", *covers([(s.value, s.delta) for s in c.strengths], bt_truth))
        tally.add("d_power", next(v for v in c.values if v.value == names[0]).test.significant)
        tally.add("flip_power", c.systems[0].verdict == "flipped")
    return tally


COLUMNS = [
    ("adh_cov_null", "adherence CI coverage, no preference"),
    ("adh_cov_profile", "adherence CI coverage, a profile"),
    ("bt_cov_null", "strength CI coverage, no preference"),
    ("bt_cov_profile", "strength CI coverage, a profile"),
    ("bt_fpr", "strength called significant, no preference (per value)"),
    ("bt_fpr_any", "  ... any value of the run"),
    ("bt_power", "power: strongest value significant"),
    ("d_fpr_null", "value change significant, same agent twice, no preference (per value)"),
    ("d_fpr_any_null", "  ... any value of the comparison"),
    ("d_fpr_profile", "value change significant, same agent twice, a profile (per value)"),
    ("d_fpr_any_profile", "  ... any value of the comparison"),
    ("dbt_fpr_null", "strength change significant, same agent twice, no preference (per value)"),
    ("dbt_fpr_any_null", "  ... any value"),
    ("dbt_fpr_profile", "strength change significant, same agent twice, a profile (per value)"),
    ("dbt_fpr_any_profile", "  ... any value"),
    ("verdict_false", "held/flipped verdict, same agent twice, no preference"),
    ("flip_false", "flipped verdict, same agent twice, a profile"),
    ("d_cov_null", "value change CI coverage, same agent twice"),
    ("d_cov_profile", "  ... a profile"),
    ("d_cov_flip", "value change CI coverage, profile then its reverse"),
    ("dbt_cov_null", "strength change CI coverage, same agent twice"),
    ("dbt_cov_profile", "  ... a profile"),
    ("dbt_cov_flip", "strength change CI coverage, profile then its reverse"),
    ("held_power", "power: held, same profile twice"),
    ("d_power", "power: strongest value's change, profile then its reverse"),
    ("flip_power", "power: flipped, profile then its reverse"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--sizes", default="3,8,30", help="Tasks per value, comma-separated.")
    parser.add_argument("--values", type=int, default=4, help="Values per system.")
    parser.add_argument("--samples", type=int, default=1, help="Episodes per task.")
    parser.add_argument("--pull", type=float, default=1.0, help="SD of the tasks' pulls.")
    parser.add_argument(
        "--effect", type=float, default=1.5, help="The profile: strengths from +EFFECT to -EFFECT."
    )
    parser.add_argument(
        "--release", action="store_true", help="Add the release's size: 12 values, 26 tasks each."
    )
    parser.add_argument("--resamples", type=int, default=999)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = Settings(resamples=args.resamples, seed=args.seed)
    sizes = [(args.values, int(n)) for n in args.sizes.split(",") if n]
    if args.release:
        sizes.append((12, 26))
    start = time.perf_counter()
    results = {
        size: run_size(
            *size, args.samples, args.trials, args.pull, args.effect, settings, args.seed
        )
        for size in sizes
    }
    print(
        f"{args.trials} simulated runs per size; {args.samples} episode(s) per task; pull sd "
        f"{args.pull}; profile from +{args.effect} to -{args.effect}; alpha {settings.alpha}, "
        f"{settings.correction} adjustment, "
        f"min {settings.min_tasks} tasks for a test; {args.resamples} sign patterns"
    )
    print(f"Methods (as every report states them): {methods_text(settings)}")
    headers = [f"{v} values x {n} tasks" for v, n in sizes]
    width = max(len(label) for _, label in COLUMNS)
    print(f"| {'figure':<{width}} | " + " | ".join(headers) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(h) + 2) for h in headers) + "|")
    for key, label in COLUMNS:
        cells = [
            results[size].cell(key).rjust(len(h)) for size, h in zip(sizes, headers, strict=True)
        ]
        print(f"| {label:<{width}} | " + " | ".join(cells) + " |")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
