"""Elementwise and row-wise helpers shared by losses, models and samplers."""

import numpy as np


def sigmoid(x):
    """Logistic function, evaluated without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def log_sigmoid(x):
    """log(sigmoid(x)) written as min(x, 0) - log(1 + exp(-|x|))."""
    x = np.asarray(x, dtype=np.float64)
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|))."""
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x, axis=-1):
    z = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def hinge(x):
    """Positive part, the margin-violation penalty used by the ranking hinges."""
    return np.maximum(x, 0.0)


def safe_log(x, eps=1e-12):
    return np.log(np.maximum(x, eps))


def row_norms(x):
    """Euclidean norm along the last axis."""
    return np.sqrt(np.sum(x * x, axis=-1))


def l2_normalize(x, eps=1e-12):
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + eps)
    return x / norm


def cosine_forward(u, v):
    """Cosine similarity along the last axis plus the cache cosine_backward needs."""
    inv_nu = 1.0 / row_norms(u)
    inv_nv = 1.0 / row_norms(v)
    u_hat = u * inv_nu[..., None]
    v_hat = v * inv_nv[..., None]
    cos = np.sum(u_hat * v_hat, axis=-1)
    return cos, (u_hat, v_hat, inv_nu, inv_nv)


def cosine_backward(dcos, cache):
    u_hat, v_hat, inv_nu, inv_nv = cache
    cos = np.sum(u_hat * v_hat, axis=-1, keepdims=True)
    g = np.asarray(dcos)[..., None]
    du = g * (v_hat - cos * u_hat) * inv_nu[..., None]
    dv = g * (u_hat - cos * v_hat) * inv_nv[..., None]
    return du, dv


def warp_rank_weight(n_items, n_trials):
    """log of the rank implied by needing ``n_trials`` draws to find a violator
    (Weston et al., 2011); ``n_trials`` is at least 1."""
    est = np.floor((n_items - 1) / n_trials)
    return np.log(np.maximum(est, 1.0))
