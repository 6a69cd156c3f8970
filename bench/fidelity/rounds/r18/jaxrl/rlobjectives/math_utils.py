"""Small numerical helpers shared by the objectives."""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

Array = jax.Array


def safe_log(x: Array, eps: float = 1e-8) -> Array:
    """Logarithm that stays finite for probabilities that underflow to zero."""
    return jnp.log(jnp.maximum(x, eps))


def huber_loss(x: Array, delta: float = 1.0) -> Array:
    """Huber loss: quadratic for |x| <= delta, linear beyond."""
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    linear = abs_x - quadratic
    return 0.5 * quadratic ** 2 + delta * linear


def masked_mean(x: Array, mask: Optional[Array] = None, axis=None) -> Array:
    """Mean of ``x`` over the entries where ``mask`` is set (padding, truncated steps)."""
    if mask is None:
        return jnp.mean(x, axis=axis)
    mask = mask.astype(x.dtype)
    total = jnp.sum(x * mask, axis=axis)
    count = jnp.sum(mask, axis=axis)
    return total / jnp.maximum(count, 1.0)


def signed_hyperbolic(x: Array, eps: float = 1e-3) -> Array:
    """Value rescaling h(x) = sign(x) (sqrt(|x| + 1) - 1) + eps x (Pohlen et al., 2018)."""
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1.0) - 1.0) + eps * x


def signed_parabolic(x: Array, eps: float = 1e-3) -> Array:
    """Inverse of :func:`signed_hyperbolic`."""
    z = jnp.sqrt(1.0 + 4.0 * eps * (eps + 1.0 + jnp.abs(x)))
    z = (z - 1.0) / (2.0 * eps)
    return jnp.sign(x) * (jnp.square(z) - 1.0)


def explained_variance(predictions: Array, targets: Array) -> Array:
    """1 - Var[y - y_hat] / Var[y]; undefined when the targets are constant."""
    var_y = jnp.var(targets)
    return 1.0 - jnp.var(targets - predictions) / var_y


def global_norm(tree) -> Array:
    """L2 norm over all leaves of a pytree (used for gradient diagnostics)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves))


def percentile_range(x: Array, low: float = 5.0, high: float = 95.0) -> Array:
    """Spread between two percentiles of ``x``."""
    return jnp.percentile(x, high) - jnp.percentile(x, low)
