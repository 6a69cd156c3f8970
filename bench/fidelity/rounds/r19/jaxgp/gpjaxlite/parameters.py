"""Unconstrained parameter storage and the transforms that constrain it.

Hyperparameters are kept as raw arrays in nested dictionaries, so that a model
is a pytree that ``jax.value_and_grad`` and ``optax`` consume directly.
Positive quantities go through a shifted softplus, bounded ones through a
scaled sigmoid.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Tuple

import jax
import jax.numpy as jnp
import numpy as np

Params = Dict[str, Any]
POSITIVE_FLOOR = 1e-6


def positive(raw, floor: float = POSITIVE_FLOOR):
    """Softplus transform onto ``(floor, inf)``."""
    return jax.nn.softplus(raw) + floor


def inverse_positive(value, floor: float = POSITIVE_FLOOR):
    """Raw value whose :func:`positive` transform equals ``value``."""
    value = np.asarray(value, dtype=np.float64) - floor
    if np.any(value <= 0.0):
        raise ValueError("initial value must exceed the positivity floor")
    # log(expm1(v)) overflows for large v, where softplus is the identity anyway
    return np.where(value > 20.0, value, np.log(np.expm1(np.minimum(value, 20.0))))


def bounded(raw, lower: float, upper: float):
    """Sigmoid transform onto ``(lower, upper)``."""
    return lower + (upper - lower) * jax.nn.sigmoid(raw)


def inverse_bounded(value, lower: float, upper: float):
    p = (np.asarray(value, dtype=np.float64) - lower) / (upper - lower)
    return np.log(p) - np.log1p(-p)


def fill_triangular(vec, n: int):
    """Pack a length ``n (n + 1) / 2`` vector into a lower-triangular matrix."""
    rows, cols = jnp.tril_indices(n)
    return jnp.zeros((n, n), dtype=vec.dtype).at[rows, cols].set(vec)


def init_kernel_params(cfg) -> Params:
    dim = cfg.input_dim if cfg.ard else 1
    params = {
        "lengthscale": jnp.full((dim,), inverse_positive(cfg.lengthscale), jnp.float32),
        "variance": jnp.asarray(inverse_positive(cfg.variance), jnp.float32),
    }
    if cfg.kind == "periodic":
        params["period"] = jnp.asarray(inverse_positive(cfg.period), jnp.float32)
    elif cfg.kind == "rq":
        params["alpha"] = jnp.asarray(inverse_positive(cfg.alpha), jnp.float32)
    elif cfg.kind == "arccos":
        params["weight_variances"] = jnp.full((cfg.input_dim,), inverse_positive(1.0), jnp.float32)
        params["bias_variance"] = jnp.asarray(inverse_positive(1.0), jnp.float32)
    if cfg.warp:
        params["warp_a"] = jnp.full((cfg.input_dim,), inverse_positive(1.0), jnp.float32)
        params["warp_b"] = jnp.full((cfg.input_dim,), inverse_positive(1.0), jnp.float32)
    return params


def init_likelihood_params(cfg) -> Params:
    if cfg.kind == "gaussian":
        return {"noise": jnp.asarray(inverse_positive(cfg.noise), jnp.float32)}
    if cfg.kind == "laplacian":
        return {"scale": jnp.asarray(inverse_positive(cfg.scale), jnp.float32)}
    return {}


def init_variational_params(num_inducing: int, num_latent: int = 1) -> Params:
    rows, cols = np.tril_indices(num_inducing)
    q_sqrt = np.eye(num_inducing)[rows, cols]
    return {
        "q_mu": jnp.zeros((num_latent, num_inducing), jnp.float32),
        "q_sqrt": jnp.tile(jnp.asarray(q_sqrt, jnp.float32), (num_latent, 1)),
    }


def project(params: Params, bounds: Tuple[float, float],
            groups: Iterable[str] = ("kernel", "likelihood")) -> Params:
    """Clip raw hyperparameters into a box after an optimiser update."""
    lo, hi = bounds
    out = dict(params)
    for name in groups:
        if name in out:
            out[name] = jax.tree_util.tree_map(lambda p: jnp.clip(p, lo, hi), out[name])
    return out


def count_parameters(params: Params) -> int:
    return int(sum(np.prod(np.shape(p)) for p in jax.tree_util.tree_leaves(params)))
