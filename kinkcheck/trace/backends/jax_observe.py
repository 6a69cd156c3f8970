"""The gradient JAX computes at a site's kink: the very op (or catalog function) differentiated there.

A site that landed exactly on its kink gets, when its trace stops, the gradient the installed
JAX returns for that primitive (``lax.abs``) or catalog function (``jax.nn.relu``,
``jnp.clip``, ``jnp.linalg.norm``) at the kink, in the site's dtype: ``abs'(0) = 1``,
``maximum`` splits a tie 0.5/0.5, a clip at its bound gives 0.5, a norm at 0 gives nan.
At an exact hit the operands sit on the kink, so this is the backward of a hit, computed
rather than quoted; the report claims "confirmed" only when it matches the catalog's
``[subgradient.jax] grad``. Recorded as ``{"framework": "jax", "grad": [...], "at": [...]}``
(strings, as the torch backend writes them).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from kinkcheck.trace.records import value_text


def _reduce(op):
    return lambda x, y: op(jnp.stack([x, y]), (0,))


#: primitive or catalog function -> (the function, its arguments at the kink)
KINKS = {
    "abs": (lax.abs, (0.0,)), "sqrt": (lax.sqrt, (0.0,)), "rsqrt": (lax.rsqrt, (0.0,)),
    "cbrt": (lax.cbrt, (0.0,)), "log": (lax.log, (0.0,)), "sign": (lax.sign, (0.0,)),
    "log1p": (lax.log1p, (-1.0,)), "pow": (lambda x: lax.pow(x, jnp.asarray(0.5, x.dtype)), (0.0,)),
    "max": (lax.max, (1.0, 1.0)), "min": (lax.min, (1.0, 1.0)),
    "clamp": (lambda x: lax.clamp(jnp.asarray(0.0, x.dtype), x, jnp.asarray(1.0, x.dtype)), (1.0,)),
    "div": (lax.div, (1.0, 0.0)), "acos": (lax.acos, (1.0,)), "asin": (lax.asin, (1.0,)),
    "acosh": (lax.acosh, (1.0,)), "atanh": (lax.atanh, (1.0,)), "atan2": (lax.atan2, (0.0, 0.0)),
    "round": (lax.round, (0.5,)), "floor": (lax.floor, (1.0,)), "ceil": (lax.ceil, (1.0,)),
    "rem": (lax.rem, (1.0, 1.0)),
    "reduce_max": (_reduce(lax.reduce_max), (1.0, 1.0)), "reduce_min": (_reduce(lax.reduce_min), (1.0, 1.0)),
    "jax.nn.relu": (jax.nn.relu, (0.0,)), "jax.nn.relu6": (jax.nn.relu6, (0.0,)),
    "jax.numpy.clip": (lambda x: jnp.clip(x, 0.0, 1.0), (1.0,)),
    "jax.numpy.linalg.norm": (lambda x, y: jnp.linalg.norm(jnp.stack([x, y])), (0.0, 0.0)),
    "jax.numpy.linalg.vector_norm": (lambda x, y: jnp.linalg.vector_norm(jnp.stack([x, y])), (0.0, 0.0)),
    "jax.nn.leaky_relu": (jax.nn.leaky_relu, (0.0,)), "jax.nn.hard_tanh": (jax.nn.hard_tanh, (1.0,)),
    "jax.numpy.heaviside": (lambda x: jnp.heaviside(x, jnp.asarray(0.5, x.dtype)), (0.0,)),
    # the first of a tie takes the gradient: the smaller sorted value, the k-th, the window's max
    "sort": (lambda x, y: jnp.sort(jnp.stack([x, y]))[0], (1.0, 1.0)),
    "top_k": (lambda x, y: lax.top_k(jnp.stack([x, y]), 1)[0][0], (1.0, 1.0)),
    "reduce_window_max": (lambda x, y: lax.reduce_window(jnp.stack([x, y]), -jnp.inf, lax.max, (2,), (2,), "VALID")[0],
                          (1.0, 1.0)),
}


@functools.lru_cache(maxsize=256)
def observe(what: str, dtype: str) -> dict | None:
    """The gradient of ``what`` (a primitive name or catalog function) at its kink, or None
    when it has none to take (an integer dtype, a primitive without a kink point here)."""
    entry = KINKS.get(what)
    if entry is None or not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):  # bfloat16 too
        return None
    fn, at = entry
    args = [jnp.asarray(a, dtype) for a in at]
    try:
        grads = jax.grad(lambda *xs: fn(*xs).astype(dtype), argnums=tuple(range(len(args))))(*args)
    except Exception:  # noqa: BLE001 - no gradient to observe (a jax without this rule)
        return None
    return {"framework": "jax", "grad": [value_text(float(g)) for g in grads], "at": [value_text(a) for a in at]}
