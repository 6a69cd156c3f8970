"""Counting inside the JAX program: the ``kinkcheck_count`` primitive and the counts it makes.

When a kinked lax primitive is bound at the user's level (:mod:`kinkcheck.trace.backends.jax_patches`),
the tracer binds ``kinkcheck_count`` on the same operands, with the site, the kink's location
(``how``), the near tolerance and ``diff`` (is this evaluation differentiated?) as static
parameters. JAX's own rules carry it through every transformation: its JVP counts the primal
only and marks it ``diff=True`` (JAX calls a primitive's JVP rule only when an operand has a
non-zero tangent, that is, depends on what ``grad``, ``vjp`` or ``jvp`` differentiates), its
batching rule counts the whole batch at once, control flow keeps it (it has the debug
effect), and eagerly it counts at once, on the device. A count that stays ``diff=False`` (a
forward evaluation, a constant operand) is dropped where it would be counted when the
trace counts only what is differentiated (:attr:`Sink.wants`). In a compiled program the top-level rewrite
(:mod:`kinkcheck.trace.backends.jax_rewrite`) turns every one of them into on-device sums and
one host callback per call; a count the rewrite could not reach lowers to a callback of its own.

A count vector is int32 ``[evaluations, exact, near, harmless, decade bins...]``
(:data:`RAW_LEN`; the host layout of :mod:`kinkcheck.trace.counts` after the evaluations).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax._src import callback as _cb
from jax._src import core, debugging
from jax._src import sharding_impls
from jax._src.interpreters import partial_eval as pe
from jax.interpreters import ad, batching, mlir

from kinkcheck.trace.backends import jax_hits, jax_state
from kinkcheck.trace.counts import VEC_LEN

#: [evaluations, exact, near, harmless, bins...]
RAW_LEN = 1 + VEC_LEN


class Sink:
    """Where counts go: set by the backend module (a host callback and the eager path)."""

    #: one program call's counts (and the probe's sums, ``probe=(sites, mat)``, or None)
    host = staticmethod(lambda sites, mat, step, probe=None: None)
    #: the probe's sums of a call that did not come with its counts (eager, or out of reach)
    probe = staticmethod(lambda sites, mat: None)
    eager = staticmethod(lambda site, evaluations, vec: None)
    #: is a count with this ``diff`` counted in the program being traced or lowered now?
    wants = staticmethod(lambda diff: True)
    #: a context in which the kinked ops of the counting code itself are not counted
    quiet: Callable[[], contextlib.AbstractContextManager] = staticmethod(contextlib.nullcontext)


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
    nearest other one (0 on a tie), and the selected value; None when a slice has fewer than
    two elements."""
    nd = x.ndim
    axes = tuple(sorted(a % nd for a in axes)) if nd else ()
    if not axes:
        return None, None
    keep = [d for d in range(nd) if d not in axes]
    k = math.prod(x.shape[a] for a in axes)
    if k < 2:
        return None, None
    r = jnp.transpose(x, (*keep, *axes)).reshape(*[x.shape[d] for d in keep], k)
    v = jnp.max(r, -1, keepdims=True) if pick == "max" else jnp.min(r, -1, keepdims=True)
    dist = jnp.abs(r - v)
    return -lax.top_k(-dist, 2)[0][..., 1], v[..., 0]


def _is_zero(v) -> bool:
    """A constant operand that is all zeros (known while tracing)."""
    if isinstance(v, core.Tracer):
        return False
    try:
        return not np.any(np.asarray(v))
    except Exception:  # noqa: BLE001 - not readable: not known to be zero
        return False


#: kinds whose scale is exactly the largest distance (|x| for a kink at 0)
_SCALE_IS_DMAX = ("zero", "denominator", "origin")


class Dist(NamedTuple):
    """One op's distances to its kink and the scales near is measured against."""

    d: jax.Array
    #: the operand's largest magnitude (near = "tensor"), computed only when needed
    scale: Callable[[], jax.Array]
    #: an upper bound on ``scale`` from the largest distance, or None (then the gate is open)
    upper: Callable[[jax.Array], jax.Array] | None
    #: each element's own scale (near = "element"), or None: the tensor's
    elem: Callable[[], jax.Array] | None = None


def distance(how: tuple, args) -> Dist:
    """Distances to the kink for one op; the bounds let the common case (nothing near) skip
    the scale's own pass over the operand."""
    kind = how[0]
    x = args[0]
    if kind == "zero":
        return Dist(jnp.abs(x), lambda: _amax(x), lambda dmax: dmax)
    if kind == "log1p":  # |x| <= |x + 1| + 1
        return Dist(jnp.abs(x + 1), lambda: jnp.maximum(_amax(x), 1), lambda dmax: dmax + 1)
    if kind == "pow":
        p = args[1]
        kinked = (p < 1) & (p != 0)
        return Dist(jnp.where(kinked, jnp.abs(x), jnp.inf), lambda: _amax(x), None)
    if kind == "tie":  # |x| <= |x - y| + |y|
        y = args[1]
        elem = lambda: jnp.maximum(jnp.abs(x), jnp.abs(y))  # noqa: E731
        if _is_zero(y):  # jnp.maximum(x, 0): the scale is the largest distance
            return Dist(jnp.abs(x), lambda: _amax(x), lambda dmax: dmax, elem)
        return Dist(jnp.abs(x - y), lambda: jnp.maximum(_amax(x), _amax(y)),
                    (lambda dmax: dmax + _amax(y)) if jnp.size(y) <= jnp.size(x) else None, elem)
    if kind == "bound":  # lax.clamp(lo, x, hi): |x| <= its distance to the nearer bound + |bound|
        lo, x, hi = args
        dlo, dhi = jnp.abs(x - lo), jnp.abs(x - hi)
        tensor = lambda: jnp.maximum(_amax(x), jnp.maximum(_amax(lo), _amax(hi)))  # noqa: E731

        def elem():  # the nearer bound's magnitude and x's; a bound at 0: the operand's largest
            b = jnp.where(dlo <= dhi, jnp.abs(lo), jnp.abs(hi))
            return jnp.where(b == 0, tensor(), jnp.maximum(jnp.abs(x), b))

        return Dist(jnp.minimum(dlo, dhi), tensor, lambda dmax: dmax + jnp.maximum(_amax(lo), _amax(hi)), elem)
    if kind == "denominator":
        y = args[1]
        return Dist(jnp.abs(y), lambda: _amax(y), lambda dmax: dmax)
    if kind == "unit":
        d = jnp.abs(x - 1) if how[1] == "acosh" else jnp.abs(jnp.abs(x) - 1)
        one = lambda: jnp.ones((), d.dtype)  # noqa: E731
        return Dist(d, one, lambda dmax: 1, one)
    if kind == "origin":  # atan2(y, x)
        d = jnp.maximum(jnp.abs(x), jnp.abs(args[1]))
        return Dist(d, lambda: _amax(d), lambda dmax: dmax)
    if kind == "step":
        name = how[1]
        if name == "rem":
            x = x / args[1]
        if name == "round":
            d = jnp.abs(x - jnp.floor(x) - 0.5)
        elif name in ("floor", "ceil", "rem"):
            d = jnp.abs(x - jnp.round(x))
        else:
            return Dist(jnp.abs(x), lambda: _amax(x), lambda dmax: dmax)
        return Dist(d, lambda: _amax(x), None, lambda: jnp.abs(x))
    if kind == "reduce":  # ("reduce", axes, "max" | "min")
        gap, picked = _gap(x, how[1], how[2])
        return Dist(gap, lambda: _amax(x), None, (lambda: jnp.abs(picked)) if gap is not None else None)
    if kind == "sort":  # ("sort", dimension): neighbours of the sorted values (as torch's sort)
        dim = how[1] % x.ndim
        if x.shape[dim] < 2:
            return Dist(None, lambda: _amax(x), None)
        v = jnp.sort(x, axis=dim)
        lo, hi = lax.slice_in_dim(v, 0, -1, axis=dim), lax.slice_in_dim(v, 1, None, axis=dim)
        return Dist(hi - lo, lambda: _amax(x), None, lambda: jnp.maximum(jnp.abs(lo), jnp.abs(hi)))
    if kind == "topk":  # ("topk", k, axis): the k-th largest and the largest left out
        k, axis = how[1], how[2] % x.ndim
        if k == 0 or k >= x.shape[axis]:
            return Dist(None, lambda: _amax(x), None)
        top = lax.top_k(jnp.moveaxis(x, axis, -1), k + 1)[0]
        kth = top[..., k - 1]
        return Dist(kth - top[..., k], lambda: _amax(x), None, lambda: jnp.abs(kth))
    if kind == "window":  # ("window", dims, strides, padding, base dilation, window dilation)
        gap, top = _window_gap(x, *how[1:])
        return Dist(gap, lambda: _amax(x), None, (lambda: jnp.abs(top)) if gap is not None else None)
    raise ValueError(f"unknown kink location {how!r}")


def _window_shape(shape, dims, strides, padding, base, dil) -> tuple[int, ...]:
    """The output shape of a ``reduce_window`` (as lax computes it)."""
    out = []
    for n, w, s, (lo, hi), b, d in zip(shape, dims, strides, padding, base, dil):
        size = (n - 1) * b + 1 + lo + hi if n else lo + hi
        out.append(max(0, (size - ((w - 1) * d + 1)) // s + 1))
    return tuple(out)


def _window_gap(x, dims, strides, padding, base, dil):
    """Per window of a max-pool (``reduce_window_max``): its maximum minus its runner-up (0 on
    a tie) and the maximum; (None, None) for windows of one element. The windows' elements are
    strided slices of the padded input, one per offset in the window (few, for a pool)."""
    k = math.prod(dims)
    if k < 2:
        return None, None
    low = jnp.array(-jnp.inf, x.dtype)
    x = lax.pad(x, low, [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base)])
    out = _window_shape(x.shape, dims, strides, [(0, 0)] * x.ndim, [1] * x.ndim, dil)
    parts = []
    for offs in itertools.product(*(range(w) for w in dims)):
        start = [o * d for o, d in zip(offs, dil)]
        limit = [st + (n - 1) * s + 1 if n else st for st, n, s in zip(start, out, strides)]
        parts.append(lax.slice(x, start, limit, strides))
    top = lax.top_k(jnp.stack(parts, axis=-1), 2)[0]
    return top[..., 0] - top[..., 1], top[..., 0]


def count_vector(how: tuple, near: tuple, args) -> jax.Array:
    """int32[RAW_LEN] for one evaluation of an op: evaluations, exact, near, harmless, bins."""
    return count_parts(how, near, args)[1]


def count_parts(how: tuple, near: tuple, args) -> tuple[int, jax.Array]:
    """(evaluations, :func:`count_vector`): the evaluations are known while tracing.

    ``near`` is (ulps, abs, scale): the rule's ``[runtime] near`` says what the tolerance is
    measured against (catalog.NEAR_SCALES): the operand's largest magnitude (``tensor``), each
    element's own operands (``element``) or the dtype's smallest normal number (``own``).

    No branches: a conditional in an XLA:CPU program waits for its predicate and costs far
    more than it saves (a never-taken one slowed an MLP step by a third). Exact and near hits
    are one integer reduction; the near decades come from the few nearest (:mod:`.jax_hits`)."""
    ulps, absf = near[0], near[1]
    mode = near[2] if len(near) > 2 else "tensor"
    dist = distance(how, args)
    d = dist.d
    if d is None:
        return 1, jnp.zeros(RAW_LEN, jnp.int32).at[0].set(1)
    if jnp.iscomplexobj(d):
        d = jnp.abs(d)
    # near in the operands' own precision (bfloat16's eps is 2**-7; jnp.finfo knows ml_dtypes'
    # bfloat16 and float8, numpy's does not), compared in float32
    fi = jnp.finfo(d.dtype)
    factor, tiny = ulps * float(fi.eps), float(fi.tiny)
    if d.dtype.itemsize < 4:
        d = d.astype(jnp.float32)
    flat = d.ravel()
    if mode == "own":
        tol = jnp.asarray(ulps * tiny + absf, flat.dtype)
    elif mode == "element" and dist.elem is not None:
        tol = jnp.broadcast_to(dist.elem(), d.shape).ravel().astype(flat.dtype) * factor + absf
    elif how[0] in _SCALE_IS_DMAX or (how[0] == "tie" and _is_zero(args[1])):
        tol = jnp.max(flat) * factor + absf  # the scale is the largest distance
    else:
        tol = dist.scale().astype(flat.dtype) * factor + absf
    exact, n_near, bins = jax_hits.counts(flat, tol)
    head = jnp.stack([jnp.int32(flat.size), exact, n_near, jnp.int32(0)])
    return int(flat.size), jnp.concatenate([head, bins])


def evaluations(how: tuple, shapes) -> int:
    """How many elements one op measures (its distance array's size), from shapes alone."""
    shape = shapes[0] if shapes else ()
    if how[0] == "reduce":
        axes = {a % len(shape) for a in how[1]} if shape else set()
        if math.prod(shape[a] for a in axes) < 2:
            return 1
        return math.prod(s for i, s in enumerate(shape) if i not in axes)
    if how[0] == "sort":
        dim = how[1] % len(shape)
        return 1 if shape[dim] < 2 else math.prod(shape) // shape[dim] * (shape[dim] - 1)
    if how[0] == "topk":
        k, axis = how[1], how[2] % len(shape)
        return 1 if k == 0 or k >= shape[axis] else math.prod(shape) // shape[axis]
    if how[0] == "window":
        if math.prod(how[1]) < 2:
            return 1
        return math.prod(_window_shape(shape, *how[1:]))
    return math.prod(np.broadcast_shapes(*shapes)) if shapes else 1


# -- the count primitive ---------------------------------------------------------------------

count_p = core.Primitive("kinkcheck_count")
count_p.multiple_results = True


@count_p.def_effectful_abstract_eval
def _count_abstract(*avals, site, how, near, diff):
    return [], {debugging.debug_effect}


@functools.lru_cache(maxsize=512)
def _eager_counter(how, near):
    return jax.jit(lambda *args: count_vector(how, near, args))


@count_p.def_impl
def _count_impl(*args, site, how, near, diff):
    if not sink.wants(diff):
        return []
    with sink.quiet():
        vec = _eager_counter(how, near)(*args)
    sink.eager(site, evaluations(how, [np.shape(a) for a in args]), vec)
    return []


def _count_jvp(primals, tangents, *, site, how, near, diff):
    """JAX calls this only when an operand has a non-zero tangent: the op is differentiated."""
    return count_p.bind(*primals, site=site, how=how, near=near, diff=True), []


ad.primitive_jvps[count_p] = _count_jvp
ad.primitive_transposes[count_p] = lambda cts, *args, **params: [None] * len(args)


def _count_batch(args, dims, *, site, how, near, diff):
    """Count the whole batch in one go: batch axes to the front, reduction axes shifted."""
    moved = [a if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]
    nd = moved[0].ndim - 1  # the operand's own rank
    if how[0] == "reduce":
        how = (how[0], tuple(a % nd + 1 for a in how[1]), how[2])
    elif how[0] == "sort":
        how = (how[0], how[1] % nd + 1)
    elif how[0] == "topk":
        how = (how[0], how[1], how[2] % nd + 1)
    elif how[0] == "window":  # a window of one along the batch
        _, dims, strides, padding, base, dil = how
        how = (how[0], (1, *dims), (1, *strides), ((0, 0), *padding), (1, *base), (1, *dil))
    elif how[0] == "bound":  # clamp's bounds broadcast against x
        nd = max(jnp.ndim(a) for a in moved)
        moved = [a if jnp.ndim(a) in (0, nd) else jnp.expand_dims(a, 0) for a in moved]
    return count_p.bind(*moved, site=site, how=how, near=near, diff=diff), []


batching.primitive_batchers[count_p] = _count_batch


def _count_fallback(*args, site, how, near, diff):
    """A count the rewrite did not reach: one host callback of its own (none for a count
    the program being lowered does not want)."""
    if not sink.wants(diff):
        return []
    jax_state.CALLBACKS.set()  # a trace's stop now waits for programs to finish (jax._drain)
    with sink.quiet():  # count_vector's own abs and max are not the user's
        vec = count_vector(how, near, args)
        jax.debug.callback(functools.partial(sink.host, (site,), step=False), vec[None])
    return []


mlir.register_lowering(count_p, mlir.lower_fun(_count_fallback, multiple_results=True))


# -- the emit primitive: one host callback with every count of a call ------------------------
# ``emit_p.bind(mat, [pmat], sites=..., step=..., probe=psites)``: the counts matrix and, on a
# probed call, the probe's sums per site of ``psites`` (:mod:`.jax_probe`), in one callback so
# that both belong to the same step

emit_p = core.Primitive("kinkcheck_emit")
emit_p.multiple_results = True
emit_p.def_abstract_eval(lambda *avals, sites, step, probe=(): [])


def _emit_host(sites, step, probe, mat, *pmat):
    sink.host(sites, np.asarray(mat), step, (probe, np.asarray(pmat[0])) if probe else None)


emit_p.def_impl(lambda *mats, sites, step, probe=(): (_emit_host(sites, step, probe, *mats), [])[1])
#: never dead: it has no outputs, but its callback is the point (no JAX effect, so jit's fast
#: C++ dispatch path stays on)
pe.dce_rules[emit_p] = lambda used_outputs, eqn: ([True] * len(eqn.invars), eqn)


def _emit_lowering(ctx, *mats, sites, step, probe=()):
    jax_state.CALLBACKS.set()

    def callback(*ms):
        _emit_host(sites, step, probe, *ms)
        return ()

    sharding = None
    if isinstance(ctx.module_context.axis_context, sharding_impls.ShardingContext):
        sharding = _maximal_sharding()
    _cb.emit_python_callback(ctx, callback, None, list(mats), ctx.avals_in, [], has_side_effect=True,
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


# -- the probe's sums: [||g||^2, ||d||^2, <g, d>, max |d|] per probed site -----------------------

probe_p = core.Primitive("kinkcheck_probe")
probe_p.multiple_results = True


@probe_p.def_effectful_abstract_eval
def _probe_abstract(mat, *, sites):
    return [], {debugging.debug_effect}


@probe_p.def_impl
def _probe_impl(mat, *, sites):
    sink.probe(sites, np.asarray(mat))
    return []


def _probe_fallback(mat, *, sites):
    """Sums the top-level rewrite did not reach (inside a loop): a callback of their own."""
    jax_state.CALLBACKS.set()
    jax.debug.callback(functools.partial(sink.probe, sites), mat)
    return []


def _probe_batch(args, dims, *, sites):
    """Per-example gradients (``vmap(grad(f))``): the batch's gradients side by side, one vector."""
    (mat,), (d,) = args, dims
    if d is not None:
        mat = jnp.moveaxis(mat, d, 0)
        mat = jnp.concatenate([mat[..., :3].sum(0), mat[..., 3:].max(0)], axis=-1)
    return probe_p.bind(mat, sites=sites), []


batching.primitive_batchers[probe_p] = _probe_batch
mlir.register_lowering(probe_p, mlir.lower_fun(_probe_fallback, multiple_results=True))
