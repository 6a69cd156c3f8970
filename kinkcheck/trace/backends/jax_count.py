"""Counting inside the JAX program: the ``kinkcheck_count`` primitive and the counts it makes.

When a kinked lax primitive is bound at the user's level (:mod:`kinkcheck.trace.backends.jax`),
the tracer binds ``kinkcheck_count`` on the same operands, with the site, the kink's location
(``how``) and the near tolerance as static parameters. JAX's own rules carry it through
every transformation: its JVP counts the primal only, its batching rule counts the whole
batch at once, control flow keeps it (it has the debug effect), and eagerly it counts at
once, on the device. In a compiled program the top-level rewrite
(:mod:`kinkcheck.trace.backends.jax_rewrite`) turns every one of them into on-device sums and
one host callback per call; a count the rewrite could not reach lowers to a callback of its own.

A count vector is int32 ``[evaluations, exact, near, harmless, decade bins...]``
(:data:`RAW_LEN`; the host layout of :mod:`kinkcheck.trace.counts` after the evaluations).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax._src import callback as _cb
from jax._src import core, debugging
from jax._src import sharding_impls
from jax._src.interpreters import partial_eval as pe
from jax.interpreters import ad, batching, mlir

from kinkcheck.trace.counts import VEC_LEN
from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS, eps

#: [evaluations, exact, near, harmless, bins...]
RAW_LEN = 1 + VEC_LEN


class Sink:
    """Where counts go: set by the backend module (a host callback and the eager path)."""

    host = staticmethod(lambda sites, mat, step: None)
    eager = staticmethod(lambda site, evaluations, vec: None)


sink = Sink()


# -- distances to the kink -----------------------------------------------------------------


def _amax(x):
    """The largest finite magnitude (0 for an empty operand): the operand's scale."""
    a = jnp.abs(x)
    if a.size == 0:
        return jnp.zeros((), a.dtype)
    return jnp.max(jnp.where(jnp.isfinite(a), a, 0))


def _gap(x, axes, pick):
    """Per slice of ``axes``: the distance from the selected (max or min) element to the
    nearest other one (0 on a tie); None when a slice has fewer than two elements."""
    nd = x.ndim
    axes = tuple(sorted(a % nd for a in axes)) if nd else ()
    if not axes:
        return None
    keep = [d for d in range(nd) if d not in axes]
    k = math.prod(x.shape[a] for a in axes)
    if k < 2:
        return None
    r = jnp.transpose(x, (*keep, *axes)).reshape(*[x.shape[d] for d in keep], k)
    v = jnp.max(r, -1, keepdims=True) if pick == "max" else jnp.min(r, -1, keepdims=True)
    dist = jnp.abs(r - v)
    return -lax.top_k(-dist, 2)[0][..., 1]


def distance(how: tuple, args):
    """(distance to the kink per element, the operand's scale) for one op."""
    kind = how[0]
    x = args[0]
    if kind == "zero":
        return jnp.abs(x), _amax(x)
    if kind == "log1p":
        return jnp.abs(x + 1), jnp.maximum(_amax(x), 1)
    if kind == "pow":
        p = args[1]
        kinked = (p < 1) & (p != 0)
        d = jnp.where(kinked, jnp.abs(x), jnp.inf)
        return d, _amax(x)
    if kind == "tie":
        y = args[1]
        return jnp.abs(x - y), jnp.maximum(_amax(x), _amax(y))
    if kind == "bound":  # lax.clamp(lo, x, hi)
        lo, x, hi = args
        d = jnp.minimum(jnp.abs(x - lo), jnp.abs(x - hi))
        return d, jnp.maximum(_amax(x), jnp.maximum(_amax(lo), _amax(hi)))
    if kind == "denominator":
        y = args[1]
        return jnp.abs(y), _amax(y)
    if kind == "unit":
        d = jnp.abs(x - 1) if how[1] == "acosh" else jnp.abs(jnp.abs(x) - 1)
        return d, jnp.ones((), d.dtype)
    if kind == "origin":  # atan2(y, x)
        d = jnp.maximum(jnp.abs(x), jnp.abs(args[1]))
        return d, _amax(d)
    if kind == "step":
        name = how[1]
        if name == "round":
            return jnp.abs(x - jnp.floor(x) - 0.5), _amax(x)
        if name == "rem":
            q = x / args[1]
            return jnp.abs(q - jnp.round(q)), _amax(q)
        if name in ("floor", "ceil"):
            return jnp.abs(x - jnp.round(x)), _amax(x)
        return jnp.abs(x), _amax(x)
    if kind == "reduce":  # ("reduce", axes, "max" | "min")
        return _gap(x, how[1], how[2]), _amax(x)
    raise ValueError(f"unknown kink location {how!r}")


def count_vector(how: tuple, near: tuple, args) -> jax.Array:
    """int32[RAW_LEN] for one evaluation of an op: evaluations, exact, near, harmless, bins."""
    d, scale = distance(how, args)
    if d is None:
        return jnp.zeros(RAW_LEN, jnp.int32).at[0].set(1)
    if jnp.iscomplexobj(d):
        d = jnp.abs(d)
    if d.dtype in (jnp.float16, jnp.bfloat16):
        d, scale = d.astype(jnp.float32), scale.astype(jnp.float32)
    tol = scale.astype(d.dtype) * near[0] * eps(str(d.dtype)) + near[1]
    flat = d.ravel()
    exact = jnp.sum(flat == 0, dtype=jnp.int32)
    n_near = jnp.sum((flat > 0) & (flat <= tol), dtype=jnp.int32)
    # the decade histogram only when something is near (rare): no log10 over every element
    bins = lax.cond(n_near > 0, _decades, lambda f, t: jnp.zeros(NBINS, jnp.int32), flat, tol)
    head = jnp.stack([jnp.int32(flat.size), exact, n_near, jnp.int32(0)])
    return jnp.concatenate([head, bins])


def _decades(flat, tol):
    is_near = (flat > 0) & (flat <= tol)
    decade = jnp.floor(jnp.log10(jnp.where(is_near, flat, 1)))
    idx = jnp.clip(decade, HIST_LO, HIST_HI).astype(jnp.int32) - HIST_LO
    return jnp.zeros(NBINS, jnp.int32).at[idx].add(is_near.astype(jnp.int32))


def evaluations(how: tuple, shapes) -> int:
    """How many elements one op measures (its distance array's size), from shapes alone."""
    if how[0] == "reduce":
        shape = shapes[0]
        axes = {a % len(shape) for a in how[1]} if shape else set()
        if math.prod(shape[a] for a in axes) < 2:
            return 1
        return math.prod(s for i, s in enumerate(shape) if i not in axes)
    return math.prod(np.broadcast_shapes(*shapes)) if shapes else 1


# -- the count primitive ---------------------------------------------------------------------

count_p = core.Primitive("kinkcheck_count")
count_p.multiple_results = True


@count_p.def_effectful_abstract_eval
def _count_abstract(*avals, site, how, near):
    return [], {debugging.debug_effect}


@functools.lru_cache(maxsize=512)
def _eager_counter(how, near):
    return jax.jit(lambda *args: count_vector(how, near, args))


@count_p.def_impl
def _count_impl(*args, site, how, near):
    sink.eager(site, evaluations(how, [np.shape(a) for a in args]), _eager_counter(how, near)(*args))
    return []


def _count_jvp(primals, tangents, *, site, how, near):
    return count_p.bind(*primals, site=site, how=how, near=near), []


ad.primitive_jvps[count_p] = _count_jvp
ad.primitive_transposes[count_p] = lambda cts, *args, **params: [None] * len(args)


def _count_batch(args, dims, *, site, how, near):
    """Count the whole batch in one go: batch axes to the front, reduction axes shifted."""
    moved = [a if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]
    if how[0] == "reduce":
        how = (how[0], tuple(a % (moved[0].ndim - 1) + 1 for a in how[1]), how[2])
    elif how[0] == "bound":  # clamp's bounds broadcast against x
        nd = max(jnp.ndim(a) for a in moved)
        moved = [a if jnp.ndim(a) in (0, nd) else jnp.expand_dims(a, 0) for a in moved]
    return count_p.bind(*moved, site=site, how=how, near=near), []


batching.primitive_batchers[count_p] = _count_batch


def _count_fallback(*args, site, how, near):
    """A count the rewrite did not reach: one host callback of its own."""
    vec = count_vector(how, near, args)
    jax.debug.callback(functools.partial(sink.host, (site,), step=False), vec[None])
    return []


mlir.register_lowering(count_p, mlir.lower_fun(_count_fallback, multiple_results=True))


# -- the emit primitive: one host callback with every count of a call ------------------------

emit_p = core.Primitive("kinkcheck_emit")
emit_p.multiple_results = True
emit_p.def_abstract_eval(lambda *avals, sites, step: [])
emit_p.def_impl(lambda mat, *, sites, step: (sink.host(sites, np.asarray(mat), step), [])[1])
#: never dead: it has no outputs, but its callback is the point (no JAX effect, so jit's fast
#: C++ dispatch path stays on)
pe.dce_rules[emit_p] = lambda used_outputs, eqn: ([True] * len(eqn.invars), eqn)


def _emit_lowering(ctx, mat, *, sites, step):
    def callback(m):
        sink.host(sites, np.asarray(m), step)
        return ()

    sharding = None
    if isinstance(ctx.module_context.axis_context, sharding_impls.ShardingContext):
        sharding = _maximal_sharding()
    _cb.emit_python_callback(ctx, callback, None, [mat], ctx.avals_in, [], has_side_effect=True,
                             returns_token=True, sharding=sharding)
    return []


def _maximal_sharding():
    """Run the callback once, on device 0 (as jax.debug.callback does without SPMD)."""
    from jax._src import config
    from jax._src.lib import xla_client as xc

    if config.use_shardy_partitioner.value:
        return sharding_impls.SdyArrayList((sharding_impls.SdyArray(mesh_shape=(), dim_shardings=(),
                                                                   logical_device_ids=(0,)),))
    s = xc.OpSharding()
    s.type = xc.OpSharding.Type.MAXIMAL
    s.tile_assignment_dimensions = [1]
    s.tile_assignment_devices = [0]
    return s


mlir.register_lowering(emit_p, _emit_lowering)
