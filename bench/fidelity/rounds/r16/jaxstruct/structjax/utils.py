"""Numerical helpers shared by the structured losses."""
from __future__ import annotations

import jax.numpy as jnp
from jax import lax

# Large finite negative number: keeps masked log-space recursions free of inf - inf.
NEG_INF = -1e9


def logsumexp(x, axis=-1, keepdims=False):
    """Log-sum-exp with a max shift that is excluded from differentiation."""
    m = lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    out = jnp.log(jnp.sum(jnp.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = jnp.squeeze(out, axis=axis)
    return out


def softmin(values, gamma, axis=0):
    """Smoothed minimum -gamma * log sum exp(-v / gamma); the hard min at gamma = 0."""
    if gamma == 0.0:
        return jnp.min(values, axis=axis)
    return -gamma * logsumexp(-values / gamma, axis=axis)


def safe_log(x, eps=1e-12):
    return jnp.log(jnp.maximum(x, eps))


def sequence_mask(lengths, max_len):
    """Boolean [B, T] mask with True on the first ``lengths[b]`` positions."""
    return jnp.arange(max_len)[None, :] < lengths[:, None]


def masked_mean(x, mask, axis=None):
    mask = mask.astype(x.dtype)
    total = jnp.sum(x * mask, axis=axis)
    count = jnp.maximum(jnp.sum(mask, axis=axis), 1.0)
    return total / count


def reduce_loss(values, reduction="mean"):
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    if reduction == "none":
        return values
    raise ValueError(f"unknown reduction {reduction!r}")


def pairwise_sq_euclidean(x, y):
    """Squared Euclidean costs between frames of x [N, d] and y [M, d]."""
    x2 = jnp.sum(x ** 2, axis=-1)[:, None]
    y2 = jnp.sum(y ** 2, axis=-1)[None, :]
    d = x2 + y2 - 2.0 * x @ y.T
    return jnp.maximum(d, 0.0)


def pairwise_euclidean(x, y):
    return jnp.sqrt(pairwise_sq_euclidean(x, y))


def pairwise_minkowski(x, y, p=2.0):
    diff = jnp.abs(x[:, None, :] - y[None, :, :])
    return jnp.sum(diff ** p, axis=-1) ** (1.0 / p)


def l2_normalize(x, axis=-1, eps=1e-12):
    sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * lax.rsqrt(jnp.maximum(sq, eps))


def pairwise_cosine(x, y, eps=1e-8):
    xn = x / (jnp.linalg.norm(x, axis=-1, keepdims=True) + eps)
    yn = l2_normalize(y)
    return 1.0 - xn @ yn.T


def band_mask(n, m, bandwidth):
    """Sakoe-Chiba band on an [n, m] grid, rescaled for unequal lengths."""
    i = jnp.arange(n)[:, None] * (m / n)
    j = jnp.arange(m)[None, :]
    return jnp.abs(i - j) <= bandwidth


def time_distortion_penalty(n, m):
    """Omega[i, j] = ((i - j) / n)^2, the TDI penalty of Le Guen & Thome (2019)."""
    i = jnp.arange(n, dtype=jnp.float32)[:, None]
    j = jnp.arange(m, dtype=jnp.float32)[None, :]
    return ((i - j) / n) ** 2
