"""The top-level rewrite: every count in a jitted program summed on the device, read once per call.

While a trace runs, ``jit`` traces its function afresh (the trace's setting is part of jit's
cache key: :mod:`kinkcheck.trace.backends.jax_state`), and the jaxpr it made goes through
:func:`rewrite` before it is compiled. The rewrite re-traces the jaxpr equation by equation
(same primitives, same parameters, same source information) and replaces each
``kinkcheck_count`` equation with its count vector, summed per site. Counts inside ``scan``
and ``while_loop`` bodies ride along as extra loop carries, ``cond`` branches return theirs,
nested ``jit`` and ``custom_jvp``/``custom_vjp`` calls are inlined (the program is final:
nothing differentiates it any more). A plain call's program returns one count vector per
site after its own outputs (:class:`Rewrite`, :mod:`.jax_dispatch`); otherwise one
``kinkcheck_emit`` at the end hands the [sites x counts] matrix to the host: one callback per
call, not one per op. A count the rewrite does not reach (a ``while`` condition, an unknown
higher-order primitive) keeps its own callback.
A count of an evaluation that is not differentiated (``diff=False``) is dropped here when the
trace counts only what is differentiated (the default), and so is one whose kink its now
constant operands cannot reach (a jnp function's denominator, a literal once inlined).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax._src import core, source_info_util
from jax._src import linear_util as lu
from jax._src.interpreters import partial_eval as pe

from kinkcheck.trace.backends import jax_ops
from kinkcheck.trace.backends.jax_count import RAW_LEN, count_p, count_parts, emit_p, probe_p, sink

_INLINE = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "checkpoint", "remat")


def subjaxprs(eqn):
    """The jaxprs an equation holds (a jit's body, a loop's, a branch's)."""
    for v in eqn.params.values():
        if isinstance(v, core.ClosedJaxpr):
            yield v.jaxpr
        elif isinstance(v, core.Jaxpr):
            yield v
        elif isinstance(v, (tuple, list)):
            for w in v:
                if isinstance(w, core.ClosedJaxpr):
                    yield w.jaxpr
                elif isinstance(w, core.Jaxpr):
                    yield w


def sites_in(jaxpr: core.Jaxpr, memo: dict | None = None) -> tuple[int, ...]:
    """The sites counted anywhere in ``jaxpr`` (sorted, without repeats): the counts the
    program being traced wants (:attr:`Sink.wants`: only differentiated ones, by default)."""
    memo = {} if memo is None else memo
    got = memo.get(id(jaxpr))
    if got is not None:
        return got
    out: set[int] = set()
    for eqn in jaxpr.eqns:
        if eqn.primitive is count_p:
            if sink.wants(eqn.params["diff"]):
                out.add(eqn.params["site"])
        else:
            for sub in subjaxprs(eqn):
                out.update(sites_in(sub, memo))
    got = memo[id(jaxpr)] = tuple(sorted(out))
    return got


def is_gradient(jaxpr: core.Jaxpr) -> bool:
    """Does the program compute a gradient (a transposed equation)? Each call is then a step."""
    for eqn in jaxpr.eqns:
        if "transpose(" in str(eqn.source_info.name_stack):
            return True
        if any(is_gradient(sub) for sub in subjaxprs(eqn)):
            return True
    return False


class _Acc:
    """Count vectors summed per site while re-tracing (tracers of the current level)."""

    def __init__(self, top: bool = False):
        self.rows: dict[int, jax.Array] = {}
        #: evaluations per site, known while tracing (None: not known, a loop or a branch
        #: decides them at run time)
        self.evals: dict[int, int] | None = {}
        #: the program's own level (not a loop body or a branch): the probe's sums are kept
        #: only there; elsewhere they keep their own callback
        self.top = top
        #: the probe's sums per site (:mod:`.jax_probe`): [||g||^2, ||d||^2, <g, d>, max |d|]
        self.probe: dict[int, jax.Array] = {}

    def add_probe(self, sites: tuple[int, ...], mat) -> None:
        """Sums of several differentiated calls in one program: the first three add up (the
        calls' gradients side by side), the largest change is the larger."""
        for i, s in enumerate(sites):
            cur = self.probe.get(s)
            row = mat[i].astype(jnp.float32) if mat.dtype != jnp.float64 else mat[i]
            self.probe[s] = row if cur is None else jnp.concatenate([cur[:3] + row[:3], jnp.maximum(cur[3:], row[3:])])

    def add(self, site: int, vec, evals: int | None = None) -> None:
        cur = self.rows.get(site)
        self.rows[site] = vec if cur is None else cur + vec
        if self.evals is not None:
            if evals is None:
                self.evals = None
            else:
                self.evals[site] = self.evals.get(site, 0) + evals

    def matrix(self, sites: tuple[int, ...]):
        zero = jnp.zeros(RAW_LEN, jnp.int32)
        return jnp.stack([self.rows.get(s, zero) for s in sites]) if sites else jnp.zeros((0, RAW_LEN), jnp.int32)

    def merge(self, sites: tuple[int, ...], mat, inner: _Acc | None = None, times: int = 1) -> None:
        """Add a loop's or a branch's counts; ``inner``: its evaluations per iteration (run
        ``times`` times), None when they are decided at run time."""
        known = inner.evals if inner is not None else None
        for i, s in enumerate(sites):
            self.add(s, mat[i], None if known is None else known.get(s, 0) * times)


def run(jaxpr: core.Jaxpr, consts, args, acc: _Acc, memo: dict):
    """Evaluate ``jaxpr`` in the current trace, counts into ``acc``; returns its outputs."""
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, core.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        name_stack = source_info_util.current_name_stack() + eqn.source_info.name_stack
        with source_info_util.user_context(eqn.source_info.traceback, name_stack=name_stack), eqn.ctx.manager:
            outs = _eqn(eqn, invals, acc, memo)
        if eqn.primitive.multiple_results:
            for v, x in zip(eqn.outvars, outs):
                env[v] = x
        else:
            env[eqn.outvars[0]] = outs
    return [read(v) for v in jaxpr.outvars]


def _bind(eqn, invals):
    return eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))  # as core.eval_jaxpr


def _eqn(eqn, invals, acc: _Acc, memo: dict):
    prim = eqn.primitive
    if prim is probe_p and acc.top:
        acc.add_probe(eqn.params["sites"], invals[0])
        return []
    if prim is count_p:
        p = eqn.params
        if sink.wants(p["diff"]) and jax_ops.reachable(p["how"], invals):
            evals, vec = count_parts(p["how"], p["near"], invals)
            acc.add(p["site"], vec, evals)
        return []
    if not any(sites_in(sub, memo) for sub in subjaxprs(eqn)):
        return _bind(eqn, invals)
    name = prim.name
    if name in _INLINE:
        return _inline(eqn, invals, acc, memo)
    if name == "scan":
        return _scan(eqn, invals, acc, memo)
    if name == "while" and not sites_in(_closed(eqn.params["cond_jaxpr"])[0], memo):
        return _while(eqn, invals, acc, memo)
    if name == "cond":
        return _cond(eqn, invals, acc, memo)
    return _bind(eqn, invals)  # its counts keep their own callbacks


def _closed(p):
    return (p.jaxpr, p.consts) if isinstance(p, core.ClosedJaxpr) else (p, ())


def _inline(eqn, invals, acc, memo):
    key = next(k for k in ("jaxpr", "call_jaxpr", "fun_jaxpr") if k in eqn.params)
    jaxpr, consts = _closed(eqn.params[key])
    if eqn.primitive.name == "custom_jvp_call":
        invals = invals[: len(jaxpr.invars)]
    return run(jaxpr, consts, invals, acc, memo)


def _scan(eqn, invals, acc, memo):
    p = eqn.params
    body, body_consts = _closed(p["jaxpr"])
    nc, ncarry = p["num_consts"], p["num_carry"]
    consts, init, xs = invals[:nc], invals[nc:nc + ncarry], invals[nc + ncarry:]
    sites = sites_in(body, memo)
    traced: list[_Acc] = []

    def step(carry, x):
        c, counts = carry
        inner = _Acc()
        traced.append(inner)
        outs = run(body, body_consts, [*consts, *c, *x], inner, memo)
        return (outs[:ncarry], counts + inner.matrix(sites)), outs[ncarry:]

    zero = jnp.zeros((len(sites), RAW_LEN), jnp.int32)
    (final, counts), ys = lax.scan(step, (list(init), zero), list(xs), length=p["length"],
                                   reverse=p["reverse"], unroll=p["unroll"])
    same = all(t.evals == traced[0].evals for t in traced)  # (traced once, or alike)
    acc.merge(sites, counts, traced[0] if traced and same else None, int(p["length"]))
    return [*final, *ys]


def _while(eqn, invals, acc, memo):
    p = eqn.params
    cond, cond_consts = _closed(p["cond_jaxpr"])
    body, body_consts = _closed(p["body_jaxpr"])
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, init = invals[:cn], invals[cn:cn + bn], invals[cn + bn:]
    sites = sites_in(body, memo)

    def cond_fun(carry):
        (out,) = run(cond, cond_consts, [*cconsts, *carry[0]], _Acc(), memo)
        return out

    def body_fun(carry):
        c, counts = carry
        inner = _Acc()
        outs = run(body, body_consts, [*bconsts, *c], inner, memo)
        return list(outs), counts + inner.matrix(sites)

    zero = jnp.zeros((len(sites), RAW_LEN), jnp.int32)
    final, counts = lax.while_loop(cond_fun, body_fun, (list(init), zero))
    acc.merge(sites, counts)
    return final


def _cond(eqn, invals, acc, memo):
    branches = eqn.params["branches"]
    index, ops = invals[0], invals[1:]
    sites = tuple(sorted({s for b in branches for s in sites_in(b.jaxpr, memo)}))

    def branch(closed):
        def fn(*xs):
            inner = _Acc()
            outs = run(closed.jaxpr, closed.consts, list(xs), inner, memo)
            return list(outs), inner.matrix(sites)

        return fn

    outs, counts = lax.switch(index, [branch(b) for b in branches], *ops)
    acc.merge(sites, counts)
    return outs


class Rewrite:
    """A top-level program's rewrites: :attr:`emit` hands its counts to the host in one
    callback (what ``jit(f).lower`` and a call from inside a transformation get);
    :meth:`outputs` returns them as extra outputs, one count vector per site (a plain
    call's program, :mod:`.jax_dispatch`): a Python callback makes XLA:CPU run the whole
    program before the call returns (no asynchronous dispatch) and costs a thread handoff
    per step. Only for a program whose evaluations are all known while tracing (no count
    inside a ``while_loop`` or a ``cond`` branch) and that carries no probe sums."""

    def __init__(self, closed: core.ClosedJaxpr):
        self.closed = closed
        self.memo: dict = {}
        self.step = is_gradient(closed.jaxpr)
        self.emit, self.sites, self.evals = self._trace(emit=True)
        self._outputs: core.ClosedJaxpr | None = None

    def _trace(self, emit: bool):
        jaxpr, memo, step = self.closed.jaxpr, self.memo, self.step
        found: list = []

        def fn(*args):
            acc = _Acc(top=True)
            outs = run(jaxpr, self.closed.consts, args, acc, memo)
            sites = tuple(sorted(acc.rows))
            psites = tuple(sorted(acc.probe))
            evals = None if acc.evals is None or psites else tuple(acc.evals.get(s, 0) for s in sites)
            found[:] = [sites, evals]
            if not emit:
                return [*outs, *(acc.rows[s] for s in sites)]
            if psites:
                pmat = jnp.stack([acc.probe[s].astype(acc.probe[psites[0]].dtype) for s in psites])
                emit_p.bind(acc.matrix(sites), pmat, sites=sites, step=step, probe=psites)
            elif sites:
                emit_p.bind(acc.matrix(sites), sites=sites, step=step)
            return outs

        in_avals = [v.aval for v in jaxpr.invars]
        new, _, consts = pe.trace_to_jaxpr_dynamic(lu.wrap_init(fn, debug_info=jaxpr.debug_info), in_avals)
        return core.ClosedJaxpr(new, consts), found[0], found[1]

    def outputs(self) -> core.ClosedJaxpr | None:
        """The program with its count vectors as extra outputs (traced on first use), or None."""
        if self.evals is None or not self.sites:
            return None
        if self._outputs is None:
            got, sites, evals = self._trace(emit=False)
            if sites != self.sites or evals != self.evals:
                self.evals = None  # (never seen: the same jaxpr traced twice alike)
                return None
            self._outputs = got
        return self._outputs


def rewrite(closed: core.ClosedJaxpr) -> Rewrite:
    """``closed`` with its counts summed on the device (see module doc and :class:`Rewrite`)."""
    return Rewrite(closed)
