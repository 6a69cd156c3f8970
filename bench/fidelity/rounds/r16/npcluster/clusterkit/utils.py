"""Numerical helpers shared by the objectives and the optimisers."""
from __future__ import annotations

import numpy as np

EPS = np.finfo(np.float64).eps
TINY = 1e-12


def check_random_state(seed):
    """Turn ``None``, an int or a Generator into a ``np.random.Generator``."""
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    raise ValueError(f"cannot build a Generator from {seed!r}")


def pairwise_sq_dists(X, Y=None):
    """Squared Euclidean distances between the rows of ``X`` and ``Y``."""
    Y = X if Y is None else Y
    xx = np.einsum("ij,ij->i", X, X)[:, None]
    yy = np.einsum("ij,ij->i", Y, Y)[None, :]
    d2 = xx + yy - 2.0 * (X @ Y.T)
    return np.maximum(d2, 0.0)


def pairwise_dists(X, Y=None):
    """Euclidean distances between the rows of ``X`` and ``Y``."""
    return np.sqrt(pairwise_sq_dists(X, Y))


def logsumexp(a, axis=-1, keepdims=False):
    """Stable ``log(sum(exp(a)))`` along ``axis``."""
    a_max = np.max(a, axis=axis, keepdims=True)
    a_max = np.where(np.isfinite(a_max), a_max, 0.0)
    out = np.log(np.sum(np.exp(a - a_max), axis=axis, keepdims=True))
    out = out + a_max
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return out


def log_softmax(a, axis=-1):
    return a - logsumexp(a, axis=axis, keepdims=True)


def softmax(a, axis=-1):
    return np.exp(log_softmax(a, axis=axis))


def softmax_backward(probs, grad_probs, axis=-1):
    """Vector-Jacobian product of softmax: ``p * (g - <g, p>)``."""
    inner = np.sum(grad_probs * probs, axis=axis, keepdims=True)
    return probs * (grad_probs - inner)


def safe_log(x, eps=TINY):
    return np.log(np.maximum(x, eps))


def entropy(p, axis=-1):
    """Shannon entropy of the distributions stored along ``axis``."""
    return -np.sum(p * safe_log(p), axis=axis)


def median_heuristic(X, max_samples=1000, rng=None):
    """Kernel bandwidth from the median pairwise distance of the data."""
    rng = check_random_state(rng)
    if X.shape[0] > max_samples:
        X = X[rng.choice(X.shape[0], max_samples, replace=False)]
    d = np.sqrt(pairwise_sq_dists(X))
    med = np.median(d[np.triu_indices_from(d, k=1)])
    return float(med) if med > 0 else 1.0


def unit_rows(Y, eps=1e-8):
    """Project the rows of ``Y`` on the unit sphere."""
    norms = np.linalg.norm(Y, axis=1, keepdims=True)
    return Y / np.maximum(norms, eps)


def clip_by_global_norm(grads, max_norm):
    """Rescale a dict of gradients so that their joint norm is at most ``max_norm``."""
    total = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    scale = min(1.0, max_norm / (total + 1e-6))
    return {k: g * scale for k, g in grads.items()}, total


class Adam:
    """Minimal Adam for dicts of numpy arrays, updated in place."""

    def __init__(self, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, max_grad_norm=None):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.max_grad_norm = max_grad_norm
        self.t = 0
        self.m, self.v = {}, {}

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.learning_rate, cfg.beta1, cfg.beta2, cfg.eps, cfg.max_grad_norm)

    def step(self, params, grads):
        if self.max_grad_norm is not None:
            grads, _ = clip_by_global_norm(grads, self.max_grad_norm)
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        for k, g in grads.items():
            m = self.m.setdefault(k, np.zeros_like(g))
            v = self.v.setdefault(k, np.zeros_like(g))
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            denom = np.sqrt(v / c2) + self.eps
            params[k] = params[k] - self.lr * (m / c1) / denom
        return params
