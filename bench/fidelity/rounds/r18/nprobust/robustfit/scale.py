"""Robust estimates of residual scale."""
from __future__ import annotations

import math

import numpy as np

from .utils import EPS

# Phi^{-1}(3/4): makes the MAD consistent for sigma at the normal model.
MAD_CONSTANT = 0.6744897501960817
IQR_CONSTANT = 1.3489795003921634


def median_absolute_deviation(x, center=None, normalize=True, axis=None):
    """MAD of x about `center` (the median of x when center is None)."""
    x = np.asarray(x, dtype=float)
    if center is None:
        center = np.median(x, axis=axis, keepdims=axis is not None)
    mad = np.median(np.abs(x - center), axis=axis)
    if normalize:
        mad = mad / MAD_CONSTANT
    return mad


def interquartile_scale(x):
    q75, q25 = np.percentile(x, [75.0, 25.0])
    return (q75 - q25) / IQR_CONSTANT


def _huber2_consistency(delta):
    """E[min(Z^2, delta^2)] for Z ~ N(0, 1); makes proposal 2 consistent."""
    phi = math.exp(-0.5 * delta * delta) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * (1.0 + math.erf(delta / math.sqrt(2.0)))
    return (2.0 * cdf - 1.0) - 2.0 * delta * phi + 2.0 * delta * delta * (1.0 - cdf)


def huber_proposal2_scale(residuals, delta=1.345, scale0=None, max_iter=50, tol=1e-8):
    """Huber's proposal 2 scale by fixed-point iteration.

    Solves  mean(psi(r / s)^2) = beta  for s, with psi the Huber clip.
    """
    r = np.asarray(residuals, dtype=float).ravel()
    n = r.size
    beta = _huber2_consistency(delta)
    s = scale0 if scale0 is not None else median_absolute_deviation(r, center=0.0)
    for _ in range(max_iter):
        u = np.clip(r / s, -delta, delta)
        s_new = s * np.sqrt(np.sum(u ** 2) / (n * beta))
        if abs(s_new - s) <= tol * s:
            s = s_new
            break
        s = s_new
    return s


def robust_scale(residuals, method="mad", delta=1.345, min_scale=EPS):
    """Dispatch to a scale estimate and floor the result at `min_scale`."""
    r = np.asarray(residuals, dtype=float).ravel()
    if method == "mad":
        s = median_absolute_deviation(r)
    elif method == "iqr":
        s = interquartile_scale(r)
    elif method == "huber2":
        s = huber_proposal2_scale(r, delta=delta)
    else:
        raise ValueError(f"unknown scale method {method!r}")
    return max(float(s), min_scale)


def standardize(residuals, scale, eps=EPS):
    """Residuals divided by a scale that is floored at eps."""
    return np.asarray(residuals, dtype=float) / np.maximum(scale, eps)


def rms_scale(residuals, ddof=0):
    r = np.asarray(residuals, dtype=float).ravel()
    dof = max(r.size - ddof, 1)
    return np.sqrt(np.sum(r * r) / dof)
