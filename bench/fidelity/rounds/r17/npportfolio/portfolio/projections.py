"""Euclidean projections onto the feasible sets used by solvers and policies."""
from __future__ import annotations

import numpy as np


def project_simplex(v, z=1.0):
    """Project ``v`` onto {w >= 0, sum(w) = z} (Held et al. 1974; Duchi et al. 2008).

    Rows of a 2-D input are projected independently.
    """
    v = np.asarray(v, dtype=float)
    if v.ndim > 1:
        return np.stack([project_simplex(row, z) for row in v])
    n = v.shape[0]
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - z
    ind = np.arange(1, n + 1)
    cond = u - css / ind > 0
    rho = ind[cond][-1]
    theta = css[cond][-1] / rho
    return np.maximum(v - theta, 0.0)


def simplex_jvp(w, g, lower=0.0, upper=np.inf):
    """Vector-Jacobian product of the (capped) simplex projection at its output ``w``."""
    free = (w > lower) & (w < upper)
    k = max(int(free.sum()), 1)
    gs = np.where(free, g, 0.0)
    return np.where(free, g - gs.sum() / k, 0.0)


def project_box(v, lower=0.0, upper=1.0):
    """Project onto the box [lower, upper]^n."""
    return np.clip(v, lower, upper)


def project_capped_simplex(v, lower=0.0, upper=1.0, z=1.0, iters=60):
    """Project onto {lower <= w <= upper, sum(w) = z} by bisection on the shift."""
    v = np.asarray(v, dtype=float)
    n = v.shape[0]
    if n * upper < z or n * lower > z:
        raise ValueError("capped simplex is empty for these bounds")
    lo = np.min(v) - upper
    hi = np.max(v) - lower
    for _ in range(iters):
        tau = 0.5 * (lo + hi)
        total = np.clip(v - tau, lower, upper).sum()
        if total > z:
            lo = tau
        else:
            hi = tau
    return np.clip(v - 0.5 * (lo + hi), lower, upper)


def project_l1_ball(v, radius=1.0):
    """Project onto {||w||_1 <= radius}, i.e. a gross-leverage limit."""
    v = np.asarray(v, dtype=float)
    mag = np.abs(v)
    if mag.sum() <= radius:
        return v.copy()
    return np.sign(v) * project_simplex(mag, radius)


def normalize_gross(w, eps=1e-12):
    """Scale each row of ``w`` to unit gross exposure."""
    gross = np.abs(w).sum(axis=-1, keepdims=True)
    return w / np.maximum(gross, eps)


def project_weights(v, method="simplex", lower=0.0, upper=1.0, budget=1.0):
    """Dispatch to the projection named by ``method``."""
    if method == "simplex":
        return project_simplex(v, budget)
    if method == "box":
        return project_box(v, lower, upper)
    if method == "capped_simplex":
        return project_capped_simplex(v, lower, upper, budget)
    if method == "l1_ball":
        return project_l1_ball(v, budget)
    raise ValueError(f"unknown projection {method!r}")
