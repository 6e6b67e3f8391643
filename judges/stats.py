"""The statistics every report and comparison uses, chosen to hold at a handful of tasks.

Tasks are the unit of inference everywhere: the samples of one task are not independent
evidence (same prompt, same world), so every interval and test works on per-task figures.

- Means (a value's adherence, a per-task change between runs) get Student-t intervals, their
  variance pooled over a system's values with Satterthwaite's degrees of freedom for a task's
  correlated pair of units (`pooled_t_intervals`): exact for normal task means and close to
  nominal at three tasks for bounded scores, where percentile bootstraps cover far too little.
- Smooth functions of many tasks (a system's adherence, the correlation of two priority
  profiles) get delete-one-task jackknife standard errors with Student-t quantiles (Tukey's
  jackknife interval).
- Bradley–Terry strengths get penalised profile-likelihood intervals and likelihood-ratio
  tests (`judges.likelihood`): a value that won every contest it played is common at a few
  tasks, and there the jackknife's standard error collapses. Strength changes use the profile
  likelihood of both fits with the Rao–Scott correction for the pairing (`compare`).
- Paired changes are tested with a sign-flip permutation test (exchanging the two runs within
  a task), exact by enumeration when the task count allows; that test cannot reach p < 0.05
  below six tasks, so below `min_tasks` a figure says "too little data" instead of a verdict.
  Bradley–Terry strengths and strength changes get no interval there either: a value's few
  contests give the likelihood a handful of shapes, and a non-randomised interval then covers
  100% or 92% depending on the prior, never the 95% it claims.
- Each family of tests in one report (the values' strengths, the values' changes) is adjusted
  with Holm (or Benjamini–Hochberg) before anything is called significant.

`benchmarks/validity.py` checks the false-positive rate, power and coverage of all of them on
simulated runs at 3, 8 and 30 tasks per value.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import special

DEFAULT_RESAMPLES = 9999
SCORE = (0.0, 10.0)  # the range of a pole score
CHANGE = (-10.0, 10.0)  # the range of a difference of two pole scores
DEFAULT_LEVEL = 0.95
MIN_TASKS = 6  # the fewest tasks at which a two-sided sign-flip test can reach p < 0.05


class Settings(BaseModel):
    """How uncertainty is estimated; recorded in every report so figures can be reproduced."""

    level: float = Field(default=DEFAULT_LEVEL, gt=0, lt=1, description="Interval coverage.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Level of every test.")
    correction: Literal["holm", "bh"] = Field(
        default="holm", description="Multiple-comparison adjustment across a report's values."
    )
    resamples: int = Field(
        default=DEFAULT_RESAMPLES,
        ge=99,
        description="Random sign flips per permutation test where exact enumeration is larger.",
    )
    strength_resamples: int = Field(
        default=1999,
        ge=99,
        description="Random run exchanges per strength-change test (two refits each).",
    )
    seed: int = 0
    prior: float = Field(
        default=1.0, gt=0, description="Virtual games per value in Bradley–Terry fits."
    )
    min_tasks: int = Field(
        default=MIN_TASKS,
        ge=2,
        description="Fewer tasks than this: too little data for a test or a strength interval.",
    )

    def enough_tasks(self, tasks: int) -> bool:
        """Whether a figure from this many tasks gets a test and, for a strength, an interval:
        the one "too little data" rule every report and comparison applies."""
        return tasks >= self.min_tasks

    def rng(self, *salt: str) -> np.random.Generator:
        """A generator seeded from the settings and a label, so each figure has its own stream."""
        return np.random.default_rng([self.seed, *(_stable_hash(s) for s in salt)])


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def methods_text(s: Settings) -> str:
    """One paragraph naming every method, for the head of a report."""
    correction = {"holm": "Holm", "bh": "Benjamini–Hochberg"}[s.correction]
    return (
        f"Intervals are {s.level:.0%} Student-t intervals over tasks (means; variance pooled "
        f"over a system's values, Satterthwaite degrees of freedom), delete-one-task "
        f"jackknife intervals with Student-t quantiles (system adherence, profile "
        f"correlations), penalised profile-likelihood intervals (Bradley–Terry strengths, "
        f"scaled by the quasi-likelihood dispersion of a task's repeated samples) and, for "
        f"strength changes, the profile likelihood of both runs' fits with the Rao–Scott "
        f"design-effect correction (the paired jackknife variance over the model's) against "
        f"F(1, tasks - 1). Strengths are tested with the likelihood-ratio test, value changes "
        f"with a paired sign-flip permutation test (exact up to {s.resamples} sign patterns, "
        f"else {s.resamples} random ones, seed {s.seed}), strength changes by exchanging the "
        f"runs within tasks and refitting ({s.strength_resamples} exchanges); p-values are "
        f"{correction}-adjusted across the values of the report and called significant below "
        f"{s.alpha:g}. Below {s.min_tasks} tasks a figure has too little data for a verdict, "
        f"and a strength or strength change gets no interval. "
        f"Bradley–Terry fits add {s.prior:g} virtual game(s) per value, half of them won."
    )


class Estimate(BaseModel):
    """A point estimate with its confidence interval (None where undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def excludes_zero(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0


class Test(BaseModel):
    """A test of "no effect" on one figure, with its family-adjusted p-value."""

    method: str
    tasks: int
    p: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    too_little_data: bool = False


def _finite(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def estimate(point: float, low: float = np.nan, high: float = np.nan) -> Estimate:
    return Estimate(value=_finite(point), low=_finite(low), high=_finite(high))


def nanmean(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean ignoring undefined entries; NaN (without a warning) where nothing is defined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def t_quantile(df: np.ndarray, level: float) -> np.ndarray:
    """Two-sided Student-t quantile; NaN where there are no degrees of freedom."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, special.stdtrit(np.maximum(df, 1), 0.5 + level / 2), np.nan)


def t_intervals(
    units: np.ndarray, level: float = DEFAULT_LEVEL, bounds: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean, Student-t interval and unit count of `units` (rows are tasks).

    NaN entries are missing units. Columns with one unit get no interval. `bounds` is the
    range the mean can take (0-10 for a pole score); the interval is clipped to it, which
    leaves its coverage unchanged.
    """
    units = np.asarray(units, dtype=float)
    present = np.isfinite(units)
    n = present.sum(0)
    filled = np.where(present, units, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(0) / n
        centred = np.where(present, units - mean, 0.0)
        sd = np.sqrt((centred**2).sum(0) / (n - 1))
        half = t_quantile(n - 1, level) * sd / np.sqrt(n)
    mean = np.where(n > 0, mean, np.nan)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    return mean, low, high, n


def pooled_t_intervals(
    units: np.ndarray, level: float = DEFAULT_LEVEL, bounds: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Like `t_intervals`, with one variance pooled over the columns (one-way ANOVA's).

    The values of one system are scored on the same kind of tasks by the same judge, so their
    task means spread alike; pooling gives every value the system's degrees of freedom
    instead of its own few, which keeps three-task intervals honest when a value's tasks happen
    to agree. A row (a task) holds both of its values' units, scored from the same episodes and
    so not independent: the degrees of freedom are Satterthwaite's for a sum of squares whose
    units come in correlated pairs, `(units - columns) / (1 + rho^2)` with `rho` the residuals'
    correlation within a row, never fewer than the rows minus one (what perfectly correlated
    pairs leave). At three tasks per value the plain count covered 92-94%, the rows-minus-one
    count 97% (a change between runs pairs its rows less tightly than a run's own scores).
    """
    units = np.asarray(units, dtype=float)
    present = np.isfinite(units)
    n = present.sum(0)
    filled = np.where(present, units, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, filled.sum(0) / n, np.nan)
        residual = np.where(present, units - mean, 0.0)
        squares = (residual**2).sum()
        df = present.sum() - (n > 0).sum()
        sd = np.sqrt(squares / df) if df >= 1 else np.nan
        df = satterthwaite_df(residual, present, df)
        half = t_quantile(np.array(df), level) * sd / np.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    return mean, low, high, n


def satterthwaite_df(residual: np.ndarray, present: np.ndarray, df: float) -> float:
    """The pooled variance's effective degrees of freedom when a row's units are correlated:
    Var(e_i^2 + e_j^2) is 4 sigma^4 (1 + rho^2) for a pair with correlation rho instead of
    4 sigma^4, so the `df` of independent units shrink by 1 + rho^2, to at least the rows
    minus one. `rho` is the pairwise (intraclass) correlation of the residuals that share a
    row, 2 sum e_i e_j / sum (e_i^2 + e_j^2) over those pairs, taken as 1 where they are all
    zero."""
    k = present.sum(1)
    paired = k >= 2
    if not paired.any():
        return float(df)
    cross = (residual.sum(1) ** 2 - (residual**2).sum(1)) / 2  # a row's sum of e_i e_j
    squares = (k - 1) * (residual**2).sum(1)  # a row's sum of e_i^2 + e_j^2 over its pairs
    spread = squares[paired].sum()
    rho = 2 * cross[paired].sum() / spread if spread > 0 else 1.0
    rows = present.any(1).sum()
    return float(min(df, max(rows - 1, df / (1 + rho**2))))


def jackknife_se(replicates: np.ndarray) -> np.ndarray:
    """Column-wise delete-one jackknife standard error from leave-one-out replicates.

    Rows are the replicates (one per left-out task); NaN rows of a column (a replicate where
    the figure is undefined) are left out of that column.
    """
    present = np.isfinite(replicates)
    n = present.sum(0)
    mean = nanmean(replicates, axis=0)
    centred = np.where(present, replicates - mean, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, np.sqrt((n - 1) / n * (centred**2).sum(0)), np.nan)


def jackknife_intervals(
    point: np.ndarray, replicates: np.ndarray, df: np.ndarray, level: float = DEFAULT_LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Point ± t(df) · jackknife SE, and the two-sided p-value of the t test of zero."""
    se = jackknife_se(replicates)
    half = t_quantile(df, level) * se
    with np.errstate(invalid="ignore", divide="ignore"):
        tstat = np.where(se > 0, np.abs(point) / se, np.where(point == 0, 0.0, np.inf))
        sf = special.stdtr(np.maximum(df, 1), -tstat)  # P(T > |t|)
        p = np.where(np.asarray(df) >= 1, 2 * sf, np.nan)
    p = np.where(np.isfinite(point), p, np.nan)
    return point - half, point + half, p, se


def sign_flip_p(diffs: np.ndarray, resamples: int, rng: np.random.Generator) -> float | None:
    """Two-sided p-value of a paired sign-flip permutation test of a zero mean difference.

    Under "the two runs are exchangeable within a task" each difference is equally likely to
    have either sign. All 2^n sign patterns are enumerated when there are at most `resamples`
    of them (an exact test); otherwise `resamples` random patterns plus the observed one.
    """
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return None
    observed = abs(d.mean())
    if observed == 0:
        return 1.0
    if 2**n <= resamples:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        extra = 0
    else:
        signs = rng.choice((1.0, -1.0), size=(resamples, n))
        extra = 1
    null = np.abs(signs @ d) / n
    hits = int((null >= observed * (1 - 1e-12)).sum())
    return (hits + extra) / (len(signs) + extra)


def adjust(p: list[float | None], method: str = "holm") -> list[float | None]:
    """Holm or Benjamini–Hochberg adjusted p-values; None entries are not part of the family."""
    index = [i for i, x in enumerate(p) if x is not None]
    out: list[float | None] = [None] * len(p)
    if not index:
        return out
    raw = np.array([p[i] for i in index], dtype=float)
    m = len(raw)
    order = np.argsort(raw, kind="stable")
    adjusted = np.empty(m)
    if method == "bh":  # step-up: min over larger ranks of m p / rank
        stepped = np.minimum.accumulate((m / np.arange(m, 0, -1)) * raw[order][::-1])[::-1]
    elif method == "holm":  # step-down: max over smaller ranks of (m - rank + 1) p
        stepped = np.maximum.accumulate((m - np.arange(m)) * raw[order])
    else:
        raise ValueError(f"unknown correction {method!r}: expected 'holm' or 'bh'")
    adjusted[order] = np.minimum(stepped, 1.0)
    for i, value in zip(index, adjusted, strict=True):
        out[i] = round(float(value), 6)
    return out


def apply_family(tests: list[Test], settings: Settings) -> None:
    """Adjust a family of tests in place and mark the significant ones."""
    adjusted = adjust([t.p for t in tests], settings.correction)
    for t, q in zip(tests, adjusted, strict=True):
        t.p_adjusted = q
        t.significant = q is not None and q < settings.alpha


def make_test(method: str, tasks: int, p: float | None, settings: Settings) -> Test:
    """A test that takes part in a family only when it has enough tasks."""
    little = not settings.enough_tasks(tasks)
    return Test(
        method=method,
        tasks=tasks,
        p=None if little or p is None or not np.isfinite(p) else round(float(p), 6),
        too_little_data=little,
    )
