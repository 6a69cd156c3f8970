"""The other valid subgradient of each kinked lax op the JAX probe covers (:mod:`.jax_probe`).

While the probe replays a differentiated call for one site, every bind of that site's kinked
primitive is replaced by :func:`alternative`: the same primitive bound on the same operands (so
the values are bit for bit JAX's), differentiated by a rule that agrees with JAX's own
everywhere except at the exact hits, where it takes the other valid subgradient:

=============================  ===============================  ===============================
op                             JAX at the kink                  the probe's alternative
=============================  ===============================  ===============================
``lax.abs``                    ``abs'(0) = +1``                 ``-1``
``lax.max`` / ``lax.min``      a tie split 0.5 / 0.5            wholly to the first operand (as
                                                                the torch probe): relu written
                                                                ``jnp.maximum(h, 0)`` gets 1;
                                                                ``jnp.clip`` (``max(lo, x)``,
                                                                ``min(hi, .)``) the outside slope
``lax.clamp``                  0 to every operand at a bound    the inside slope: 1 to ``x``
``jax.nn.relu`` / ``relu6``    0 at 0 (and at 6)                1 (the inside slope)
``jax.nn.leaky_relu``          1 at 0 (``x >= 0``)              ``negative_slope`` (``x > 0``)
``jax.nn.hard_tanh``           1 at +-1 (``x > 1``, ``x < -1``) 0 (``x >= 1``, ``x <= -1``)
=============================  ===============================  ===============================

``jax.nn.relu`` and ``relu6`` are ``custom_jvp`` functions: their rule, not ``lax.max``'s,
gives JAX's gradient. The replay calls their undecorated body, and their ties take the
function's own subgradient (:func:`baseline`: 0) at every site but the replayed one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from kinkcheck.trace.backends.jax_count import sink

#: custom_jvp functions whose body the replay runs (their ties then need :func:`baseline`)
CUSTOM = ("jax.nn.relu", "jax.nn.relu6")
#: comparisons that pick a catalog function's branch, and the one with the other tie outcome
FLIP = {"ge": "gt", "gt": "ge", "le": "lt", "lt": "le"}
#: catalog functions whose comparison may be flipped: both branches agree at the tie, so the
#: value is unchanged and only the slope moves (not heaviside: its value would change)
FLIP_VIA = ("jax.nn.leaky_relu", "jax.nn.hard_tanh")


def covered(op: str, via: str | None) -> str | None:
    """None when the probe has an alternative for this site's op, else why not."""
    name = op.removeprefix("lax.")
    if name in ("abs", "max", "min", "clamp"):
        return None
    if name in FLIP and via in FLIP_VIA:
        return None
    return f"{op}: no alternative subgradient for this op in the JAX probe"


def alternative(prim, args, params, via: str | None):
    """``prim`` bound on ``args`` with the other subgradient at its hits (see the module doc)."""
    name = prim.name
    if name in FLIP:
        return _flipped(name).bind(*args, **params)
    if name == "abs":
        return _abs_alt(*args)
    if name in ("max", "min"):
        return _tie(name, (1.0, 0.0))(*args)
    if name == "clamp":
        return _clamp_alt(*args)
    raise ValueError(f"no alternative for lax.{name}")


def baseline(prim, args, params, via: str | None):
    """``prim`` inside a custom function's body (:data:`CUSTOM`) with that function's own
    subgradient at ties (0 to every operand: relu'(0) = 0), or None: bind it as it is."""
    if via in CUSTOM and prim.name in ("max", "min"):
        return _tie(prim.name, (0.0, 0.0))(*args)
    return None


@functools.cache
def _flipped(name: str):
    from kinkcheck.trace.backends.jax_ops import primitives

    return primitives()[FLIP[name]]


def _bind_quiet(prim, *args):
    with sink.quiet():  # the op itself, not the user's: the tracer does not see it again
        return prim.bind(*args)


@functools.cache
def _tie(name: str, w: tuple[float, float]):
    """max or min whose tie gives ``w[0]`` to x and ``w[1]`` to y (JAX's gives 0.5 each)."""
    from kinkcheck.trace.backends.jax_ops import primitives

    prim = primitives()[name]
    win = lax.gt if name == "max" else lax.lt

    @jax.custom_jvp
    def op(x, y):
        return _bind_quiet(prim, x, y)

    @op.defjvp
    def _jvp(primals, tangents):
        x, y = primals
        tx, ty = tangents
        out = op(x, y)
        with sink.quiet():
            tie = x == y
            one, zero = jnp.ones((), out.dtype), jnp.zeros((), out.dtype)
            cx = jnp.where(win(x, y), one, jnp.where(tie, jnp.asarray(w[0], out.dtype), zero))
            cy = jnp.where(win(y, x), one, jnp.where(tie, jnp.asarray(w[1], out.dtype), zero))
            return out, tx * cx + ty * cy

    return op


@jax.custom_jvp
def _abs_alt(x):
    from kinkcheck.trace.backends.jax_ops import primitives

    return _bind_quiet(primitives()["abs"], x)


@_abs_alt.defjvp
def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    with sink.quiet():
        return _abs_alt(x), lax.select(x > jnp.zeros((), x.dtype), t, -t)  # JAX: x >= 0


@jax.custom_jvp
def _clamp_alt(lo, x, hi):
    return _bind_quiet(lax.clamp_p, lo, x, hi)


@_clamp_alt.defjvp
def _clamp_jvp(primals, tangents):
    lo, x, hi = primals
    tlo, tx, thi = tangents
    with sink.quiet():
        zero = jnp.zeros((), x.dtype)
        # the bounds as JAX differentiates them; x also at a bound (JAX: strictly inside)
        dlo = jnp.where((lo > x) & (lo < hi), tlo, zero)
        dx = jnp.where((x >= lo) & (x <= hi), tx, zero)
        dhi = jnp.where(hi < x, thi, zero)
        return _clamp_alt(lo, x, hi), dlo + dx + dhi
