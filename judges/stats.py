"""Resampling statistics shared by reports and comparisons.

Tasks are the unit of resampling everywhere: the samples of one task are not independent
evidence (same prompt, same world), so bootstraps draw whole tasks with replacement and paired
tests work on per-task differences.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


class Settings(BaseModel):
    """How uncertainty is estimated; recorded in every report so figures can be reproduced."""

    resamples: int = DEFAULT_RESAMPLES
    level: float = DEFAULT_LEVEL
    seed: int = 0
    prior: float = Field(
        default=1.0, gt=0, description="Virtual games per value in Bradley–Terry fits."
    )
    min_tasks: int = 5
    permutations: int = 9999

    def rng(self, *salt: str) -> np.random.Generator:
        """A generator seeded from the settings and a label, so each figure has its own stream."""
        return np.random.default_rng([self.seed, *(_stable_hash(s) for s in salt)])


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


class Estimate(BaseModel):
    """A point estimate with its bootstrap confidence interval (None where undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def excludes_zero(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > 0 or self.high < 0


def resample_indices(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Row r holds the task indices of bootstrap resample r (drawn with replacement)."""
    return rng.integers(0, n, size=(resamples, n))


def percentile_interval(
    draws: np.ndarray, level: float = DEFAULT_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring resamples where the statistic is undefined."""
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        low = np.nanpercentile(draws, tail, axis=0)
        high = np.nanpercentile(draws, 100 - tail, axis=0)
    return low, high


def nanmean(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean ignoring undefined entries; NaN (without a warning) where nothing is defined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _finite(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def estimate(point: float, low: float, high: float) -> Estimate:
    return Estimate(value=_finite(point), low=_finite(low), high=_finite(high))


class PairedTest(BaseModel):
    """Tests of "no difference" on per-task paired differences."""

    n: int
    positive: int
    negative: int
    permutation_p: float | None
    sign_p: float | None


def paired_tests(diffs: np.ndarray, settings: Settings, label: str = "") -> PairedTest:
    """A sign-flip permutation test of the mean difference and an exact sign test.

    The permutation test is exact when 2^n is within `settings.permutations`.
    """
    diffs = np.asarray(diffs, dtype=float)
    positive, negative = int((diffs > 0).sum()), int((diffs < 0).sum())
    permutation_p: float | None = None
    if len(diffs) >= 2 and np.any(diffs != 0):
        result = stats.permutation_test(
            (diffs,),
            np.mean,
            permutation_type="samples",
            n_resamples=settings.permutations,
            rng=settings.rng("permutation", label),
            vectorized=True,
        )
        permutation_p = _finite(result.pvalue)
    elif len(diffs) >= 2:
        permutation_p = 1.0
    sign_p = None
    if positive + negative > 0:
        sign_p = _finite(stats.binomtest(positive, positive + negative, 0.5).pvalue)
    return PairedTest(
        n=len(diffs),
        positive=positive,
        negative=negative,
        permutation_p=permutation_p,
        sign_p=sign_p,
    )
