"""Profile-likelihood intervals for contrasts of Bradley–Terry strengths, every one at once.

Why not the delete-one-task jackknife: a value that won (or lost) every contest it played is
common at a handful of tasks (three fits in ten for the strongest value at 8 tasks per value in
`benchmarks/validity.py`), and there leaving a task out barely moves the fit, so the
jackknife's standard error collapses and the symmetric interval around the shrunken fit misses
the truth from the far side (a third of those did; 92.6% coverage overall). With 30 tasks the
same interval was conservative (98%). The profile likelihood follows the likelihood's own
shape: long on the flat side of a lopsided record, short on the informative one (Venzon and
Moolgavkar 1988; with the prior's virtual games in the likelihood it is a penalised profile
likelihood as in Heinze and Schemper 2002, finite even when a value never lost).

A contrast is `a @ s` for strengths `s` of one or more fits laid side by side (a block per
fit, e.g. the two runs of a comparison): a value's centred strength, or its change between two
runs. Its interval holds every `c` whose deviance `D(c) = 2 (l_max - max_{a s = c} l(s))` is
at most a critical value the caller chooses (chi^2_1 times a dispersion for a strength; a
design-effect-corrected F for a change).
"""

from __future__ import annotations

import numpy as np

MAX_STEP = 4.0  # log-odds: as in `priority.fit_batch`, a capped Newton step cannot diverge
ROOT_STEPS = 30  # secant/Newton steps on the signed root deviance (it is nearly linear)
ROOT_TOL = 1e-6  # on the signed root deviance


def log_likelihood(s: np.ndarray, games: np.ndarray) -> np.ndarray:
    """Per matrix: sum of games[i, j] * log P(i beats j) at strengths s (batch, values)."""
    d = s[:, :, None] - s[:, None, :]
    return -(games * np.logaddexp(0.0, -d)).sum((1, 2))


def _gradient_hessian(
    s: np.ndarray, total: np.ndarray, pin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and (negative definite, translation-pinned) Hessian of the log-likelihood."""
    games = total + np.swapaxes(total, 1, 2)
    d = np.clip(s[:, None, :] - s[:, :, None], -500, 500)
    p = 1 / (1 + np.exp(d))  # p[b, i, j] = P(i beats j)
    gp = games * p
    grad = total.sum(2) - gp.sum(2)
    hess = gp * (1 - p)
    diagonal = np.arange(s.shape[1])
    hess[:, diagonal, diagonal] -= hess.sum(2) + 1e-9
    return grad, hess - pin


def strength_information(
    point: np.ndarray, total: np.ndarray, pin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and pinned Hessian of one fit's log-likelihood at `point` (for Wald variances:
    the inverse of minus the Hessian is the strengths' covariance under the model)."""
    grad, hess = _gradient_hessian(point[None], total[None], pin[None])
    return grad[0], hess[0]


def constrained_fit(
    total: np.ndarray,
    pin: np.ndarray,
    a: np.ndarray,
    c: np.ndarray,
    init: np.ndarray,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The most likely strengths with `a @ s = c`, for a batch of problems at once.

    `total` (batch, n, n) holds each problem's wins including the prior's virtual games (every
    value with some game), `pin` (batch, n, n) the translation pins of its blocks (`11'/size`
    per block: the likelihood is unchanged by moving a block), `a` (batch, n) a contrast
    that sums to zero in every block. Newton's method on the Lagrangian, each step capped and
    backtracked like `fit_batch`'s, from `init` moved onto the constraint. Returns the
    strengths, the log-likelihood there and its derivative in `c` (the multiplier).
    """
    norm = (a * a).sum(1)
    s = init + a * ((c - (a * init).sum(1)) / norm)[:, None]
    batch, n = s.shape
    kkt = np.zeros((batch, n + 1, n + 1))
    kkt[:, :n, n] = a
    kkt[:, n, :n] = a
    rhs = np.zeros((batch, n + 1))
    slope = np.zeros(batch)
    active = np.arange(batch)
    for _ in range(max_iter):
        grad, hess = _gradient_hessian(s[active], total[active], pin[active])
        kkt[active, :n, :n] = hess
        rhs[active, :n] = -grad
        solved = np.linalg.solve(kkt[active], rhs[active][..., None])[..., 0]
        step, slope[active] = solved[:, :n], -solved[:, n]
        step *= np.minimum(1.0, MAX_STEP / np.maximum(np.abs(step).max(1), 1e-300))[:, None]
        scale = np.ones(len(active))
        before = log_likelihood(s[active], total[active])
        for _ in range(40):
            after = log_likelihood(s[active] + scale[:, None] * step, total[active])
            worse = after < before - 1e-12 * np.abs(before)
            if not worse.any():
                break
            scale[worse] /= 2
        s[active] += scale[:, None] * step
        moving = np.abs(step).max(1) >= tol
        active = active[moving]
        if not active.size:
            break
    return s, log_likelihood(s, total), slope


def profile_intervals(
    total: np.ndarray,
    pin: np.ndarray,
    point: np.ndarray,
    contrasts: np.ndarray,
    crit: np.ndarray,
    null: float | None = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Profile-likelihood interval of each contrast (rows of `contrasts`): the `c` whose
    deviance is at most `crit` (per contrast), and the deviance at `contrast = null` (NaN
    with `null=None`).

    `total` (n, n) and `pin` (n, n) as in `constrained_fit`, `point` the unconstrained fit.
    The endpoints are roots of the signed root deviance `r(c) = sign(c - c_hat) sqrt(D(c))`
    at `-+ sqrt(crit)`, found by Newton steps (its slope is the multiplier over `r`) kept
    inside a bracket that bisects when a step leaves it; they start from the Wald endpoints.
    The prior's virtual games make the likelihood fall without bound in every direction, so
    both endpoints are finite.
    """
    k, n = contrasts.shape
    z = np.sqrt(np.broadcast_to(np.asarray(crit, dtype=float), (k,)))
    l_max = float(log_likelihood(point[None], total[None])[0])
    c_hat = contrasts @ point
    # Wald start: the contrast's variance from the inverse (pinned) information
    _, hess = strength_information(point, total, pin)
    cov = np.linalg.inv(-hess)
    se = np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", contrasts, cov, contrasts), 1e-12))
    a = np.concatenate([contrasts, contrasts])  # lower endpoints, then upper
    sign = np.repeat([-1.0, 1.0], k)
    target = sign * np.tile(z, 2)
    centre = np.tile(c_hat, 2)
    c = centre + target * np.tile(se, 2)
    inner = centre.copy()  # the bracket: r(inner) is on the near side of the target
    outer = np.full(2 * k, np.nan)
    s = np.broadcast_to(point, (2 * k, n)).copy()
    totals = np.broadcast_to(total, (2 * k, n, n))
    pins = np.broadcast_to(pin, (2 * k, n, n))
    done = np.zeros(2 * k, dtype=bool)
    for _ in range(ROOT_STEPS):
        todo = np.flatnonzero(~done)
        s[todo], ll, slope = constrained_fit(totals[todo], pins[todo], a[todo], c[todo], s[todo])
        dev = np.maximum(2 * (l_max - ll), 0.0)
        r = sign[todo] * np.sqrt(dev)
        miss = r - target[todo]
        done[todo] = np.abs(miss) < ROOT_TOL
        beyond = sign[todo] * miss > 0
        outer[todo[beyond]] = c[todo[beyond]]
        inner[todo[~beyond]] = c[todo[~beyond]]
        # D = 2 (l_max - l*(c)) and dl*/dc is the multiplier, so dr/dc = -slope / r
        with np.errstate(divide="ignore", invalid="ignore"):
            dr = -slope / np.where(r != 0, r, np.nan)
            newton = c[todo] - miss / dr
        lo = np.minimum(inner[todo], np.where(np.isnan(outer[todo]), np.inf, outer[todo]))
        hi = np.maximum(inner[todo], np.where(np.isnan(outer[todo]), -np.inf, outer[todo]))
        bracketed = ~np.isnan(outer[todo])
        # unbracketed, a step goes outwards and at most four times as far from the fit
        reach = 4 * np.abs(c[todo] - centre[todo]) + MAX_STEP
        outwards = (sign[todo] * (newton - inner[todo]) > 0) & (
            np.abs(newton - centre[todo]) <= reach
        )
        ok = np.isfinite(newton) & np.where(bracketed, (newton > lo) & (newton < hi), outwards)
        fallback = np.where(
            bracketed,
            (inner[todo] + outer[todo]) / 2,
            inner[todo] + sign[todo] * 2 * np.abs(c[todo] - centre[todo]) + sign[todo] * 1e-3,
        )
        step_to = np.where(ok, newton, fallback)
        c[todo] = np.where(done[todo], c[todo], step_to)
        if done.all():
            break
    low, high = c[:k], c[k:]
    deviance = np.full(k, np.nan)
    if null is not None:
        deviance = null_deviance(total, pin, point, contrasts, null, s[:k].copy())
    return low, high, deviance


def null_deviance(
    total: np.ndarray,
    pin: np.ndarray,
    point: np.ndarray,
    contrasts: np.ndarray,
    null: float = 0.0,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Per contrast: the deviance of `contrast = null` (the likelihood-ratio statistic)."""
    k, n = contrasts.shape
    l_max = float(log_likelihood(point[None], total[None])[0])
    start = np.broadcast_to(point, (k, n)).copy() if init is None else init
    _, ll0, _ = constrained_fit(
        np.broadcast_to(total, (k, n, n)),
        np.broadcast_to(pin, (k, n, n)),
        contrasts,
        np.full(k, float(null)),
        start,
    )
    return np.maximum(2 * (l_max - ll0), 0.0)
