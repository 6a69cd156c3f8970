"""Cholesky factorisations with jitter and the solves built on them."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np


def add_jitter(K, jitter: float):
    return K + jitter * jnp.eye(K.shape[-1], dtype=K.dtype)


def cholesky(K, jitter: float):
    return jnp.linalg.cholesky(add_jitter(K, jitter))


def relative_jitter(K, jitter: float):
    """Jitter proportional to the largest prior variance on the diagonal."""
    scale = jax.lax.stop_gradient(jnp.max(jnp.diag(K)))
    return add_jitter(K, jitter * scale)


def cholesky_with_retries(K, jitter: float, max_tries: int = 5):
    """Raise the jitter tenfold until the factor is finite (eager mode only)."""
    for _ in range(max_tries):
        L = jnp.linalg.cholesky(add_jitter(K, jitter))
        if bool(jnp.all(jnp.isfinite(L))):
            return L
        jitter = jitter * 10.0
    raise np.linalg.LinAlgError(f"Cholesky failed with jitter up to {jitter:.1e}")


def safe_cholesky(K, jitter: float, fallback: float = 100.0):
    """Jittable variant: use a larger jitter when the first factor has NaNs."""
    L = jnp.linalg.cholesky(add_jitter(K, jitter))
    L_big = jnp.linalg.cholesky(add_jitter(K, jitter * fallback))
    return jnp.where(jnp.any(jnp.isnan(L)), L_big, L)


def solve_lower(L, B):
    return jsl.solve_triangular(L, B, lower=True)


def cho_solve(L, B):
    return jsl.cho_solve((L, True), B)


def logdet_from_cholesky(L):
    return 2.0 * jnp.sum(jnp.log(jnp.diag(L)))


def inverse_diag(L):
    """Diagonal of ``(L L^T)^{-1}`` from its Cholesky factor."""
    Linv = solve_lower(L, jnp.eye(L.shape[0], dtype=L.dtype))
    return jnp.sum(jnp.square(Linv), axis=0)
