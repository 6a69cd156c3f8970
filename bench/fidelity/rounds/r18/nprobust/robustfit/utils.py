"""Small numerical helpers shared by losses, scale estimates and solvers."""
from __future__ import annotations

import numpy as np

EPS = 1e-12


def check_X_y(X, y):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    return X, y


def add_intercept(X):
    """Prepend a column of ones."""
    return np.hstack([np.ones((X.shape[0], 1)), X])


def safe_divide(num, den, eps=EPS):
    """num / den with the denominator's magnitude floored at eps."""
    den = np.asarray(den, dtype=float)
    den = np.where(den >= 0, np.maximum(den, eps), np.minimum(den, -eps))
    return num / den


def smooth_abs(x, eps=1e-8):
    """Differentiable surrogate sqrt(x^2 + eps) for |x|."""
    return np.sqrt(x * x + eps)


def clip_by_norm(g, max_norm):
    """Rescale g so that its Euclidean norm is at most max_norm."""
    norm = np.linalg.norm(g)
    factor = min(1.0, max_norm / (norm + EPS))
    return g * factor


def weighted_quantile(x, q, sample_weight=None):
    """q-quantile of x under sample weights (lower quantile convention)."""
    x = np.asarray(x, dtype=float).ravel()
    if sample_weight is None:
        sample_weight = np.ones_like(x)
    w = np.asarray(sample_weight, dtype=float).ravel()
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    cw = np.cumsum(ws)
    k = np.searchsorted(cw, q * cw[-1], side="left")
    return xs[min(k, xs.size - 1)]

