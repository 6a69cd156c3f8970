"""The torch side of the subgradient sensitivity probe (:mod:`kinkcheck.trace.probe`).

On a probed step the dispatch mode hands every covered kink op to :meth:`TorchProbe.before`
(which finds the elements exactly at the kink, before an in-place op overwrites its input)
and :meth:`~TorchProbe.after` (which keeps the output, whose ``grad_fn`` is the op's autograd
node once the op returns). When the user's ``backward()`` runs, :func:`around` (called by the
tracer's wrapper of the autograd engine entry, :mod:`.stack`) puts hooks on those nodes and on
the leaves, and runs the user's backward unchanged:

* a leaf hook keeps this pass's gradient ``g`` of each leaf (it returns nothing, so ``.grad``
  is exactly what it would be untraced);
* a node hook sees the upstream gradient ``u`` at the op's output. Swapping the subgradient at
  the hit elements changes the op's input gradient by ``delta = (alt - torch) * u * hit``;
  everything below the op is linear in it, so ``g_alt - g`` is ``delta`` pushed down to the
  leaves: one ``torch.autograd.grad`` from the op's input edges (``retain_graph``: the user's
  pass still needs the graph below, which it has not reached yet). While that correction runs,
  the node hooks of the same site's other evaluations apply their swap to it too, so a site
  evaluated several times (a loop, a shared module) gets the exact ``g_alt``, not a sum of
  first-order terms.
* a change that is 0 but at a few hits (a ReLU's zeros, a max-pool's tied windows) and enters
  a first convolution (whose input needs no gradient) takes no engine pass: it is kept, and
  when the user's pass ends every such change of the convolution is pushed to its weight and
  bias in one batch, from the hits' input patches alone (:class:`.torch_probe_push._FirstConv`;
  on a digits CNN this replaces its two correction passes).

Nothing is patched (hooks are removed in ``finally``), nothing is written to ``.grad``, and no
random number is drawn: the training run is bit-identical with and without the probe. Costs
on a probed step: one comparison per covered kink op in the forward, and per hit evaluation a
backward pass over the graph below it; memory: per hit site one parameter-sized correction
until the step closes, and up to :data:`.torch_probe_buffers.LIMIT` of CPU buffers kept from one
probed step to the next (fresh pages cost a small model's probed step as much as its
correction passes).

Covered ops and the alternative subgradient each takes: :mod:`.torch_probe_rules` (elementwise
ops: relu and its kin, abs, the clamp family, hard activations, shrinks, maximum/minimum) and
:mod:`.torch_probe_pool` (a max-pool window's tie: its last maximum instead of torch's first).
How a correction is pushed down to the leaves (the engine's pass, a first convolution's batch):
:mod:`.torch_probe_push`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch
from torch.autograd.graph import GradientEdge

from kinkcheck.trace.backends import torch_probe_rules as rules
from kinkcheck.trace.backends.stack import pop_own_modes, push_back
from kinkcheck.trace.backends.torch_probe_buffers import FRESH, Alloc, Buffers
from kinkcheck.trace.backends.torch_probe_pool import POOL_RULES
# _vjp is called through this module's name: a test may swap torch_probe._vjp
from kinkcheck.trace.backends.torch_probe_push import _FirstConv, _leaves, _vjp
from kinkcheck.trace.backends.torch_probe_rules import RULES as ELEMENTWISE
from kinkcheck.trace.backends.torch_probe_rules import Sparse
from kinkcheck.trace.backends.torch_probe_stats import StepSums
from kinkcheck.trace.probe import step_result

_local = threading.local()


def _probes() -> list:
    got = getattr(_local, "probes", None)
    if got is None:
        got = _local.probes = []
    return got


#: plain op name -> (rule, the name its autograd node starts with); a pool's rule returns an
#: object with .hits, .bind(out) and .deltas(u) (:mod:`.torch_probe_pool`; it leaves out a
#: change that is exactly 0)
RULES: dict[str, tuple[Callable, str]] = {**ELEMENTWISE, **POOL_RULES}


class _Rec:
    """One evaluation of a covered op hit exactly on a probed step."""

    __slots__ = ("alloc", "fired", "hits", "node_name", "out", "parts", "site", "swap", "version")

    def __init__(self, site, hits, parts, node_name, swap=None, alloc: Alloc = FRESH):
        self.site, self.hits, self.parts, self.node_name = site, hits, parts, node_name
        self.alloc = alloc
        self.swap = swap  # a rule's own object for non-elementwise ops (max-pool ties)
        self.out = None
        self.version = -1
        self.fired = False

    def node(self):
        out = self.out
        if out is None or out._version != self.version:
            return None  # changed in place since: its grad_fn is another op's
        fn = out.grad_fn
        if fn is None or not fn.name().startswith(self.node_name):
            return None  # an in-place op on a view (CopySlices), or no graph
        return fn

    def deltas(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """The change of each input edge's gradient for the upstream gradient ``u``; an edge
        whose change is exactly 0 is left out (see :meth:`TorchProbe._correct`)."""
        return [(edge, d) for edge, d, _ in self.changes(u)]

    def changes(self, u: torch.Tensor) -> list[tuple[int, torch.Tensor, tuple[np.ndarray, ...] | None]]:
        """:meth:`deltas`, each with the flat indices outside which its change is exactly 0
        (a list of hits stored into zeros), or None (a dense change)."""
        if self.swap is not None:
            return self.swap.changes(u)
        out: list[tuple[int, torch.Tensor, tuple[np.ndarray, ...] | None]] = []
        for edge, change, shape, dtype in self.parts:
            if isinstance(change, Sparse):
                sd = change.delta(u, shape, dtype, self.alloc)
                if sd is not None:
                    out.append((edge, sd, (change.idx,) if change.stored(u, shape, dtype) else None))
                continue
            # torch.broadcast_shapes goes through symbolic-shape checks: ~0.5 ms a call
            at = u.shape if u.shape == change.shape else torch.broadcast_shapes(u.shape, change.shape)
            d = torch.mul(u, change, out=self.alloc(at, torch.result_type(u, change), u.device))
            if tuple(d.shape) != shape:
                d = d.sum_to_size(shape)
            d = d.to(dtype)
            if rules.nonzero(d):
                out.append((edge, d, None))
        return out


class TorchProbe:
    """One trace's probe in one thread (made by the torch backend when ``probe=`` is set)."""

    def __init__(self, backend):
        self.backend = backend
        self.tracer = backend.tracer
        self.options = self.tracer.probe
        self.pending: list[_Rec] = []
        self.uncovered: dict = {}  # site -> why its hits are not swapped, on this step
        self.step_backward = False
        self.in_backward = False
        self.correcting = None  # the site whose correction runs now
        self.g: dict[int, list] = {}  # id(leaf) -> [leaf, gradient sum]
        self.corr: dict = {}  # site -> {id(leaf): correction sum}
        self.hits: dict = {}  # site -> exact hits swapped this step
        self.failed: dict = {}  # site -> why its correction could not be computed
        self.buffers = Buffers()  # reused CPU buffers of probed steps, dropped at stop
        self.first_convs: dict = {}  # conv node -> its changes of this pass (_FirstConv)
        self.conv_batches = 0  # batches pushed this step (each its own buffers)

    # -- lifecycle --

    def start(self) -> None:
        _probes().append(self)
        self.tracer.step_hooks.append(self.finish)

    def stop(self) -> None:
        try:
            self.finish()
        finally:
            if self in _probes():
                _probes().remove(self)
            if self.finish in self.tracer.step_hooks:
                self.tracer.step_hooks.remove(self.finish)
            self._clear()
            self.buffers.clear()

    @property
    def on(self) -> bool:
        tr = self.tracer
        return tr.counting and self.options.probes(tr.step_count)

    # -- forward --

    def before(self, spec, site, func, args, kwargs):
        """The hits of a kink op about to run on a probed step (None: nothing to swap)."""
        got = RULES.get(spec.plain or "")
        if got is None:
            self.uncovered.setdefault(site, f"{spec.op}: no alternative subgradient for this op")
            return None
        if any(a.is_out for a in func._schema.arguments):
            return None
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            return None
        rule, node_name = got
        alloc = self.buffers.alloc(site)
        res = rule(args, kwargs, alloc)
        if res is None:
            return None
        if isinstance(res, str):  # this call cannot be probed
            self.uncovered.setdefault(site, f"{spec.op}: {res}")
            return None
        if not isinstance(res, tuple):  # an object of its own (max-pool ties): hits found from the output
            res.zero_harmless = self.backend.from_relu(x)
            return _Rec(site, 0, [], node_name, res, alloc)
        m, parts = res
        if isinstance(m, int):
            hits = m
        else:  # a sync on a GPU: probed steps only; float32 sums of 0/1 are exact below 2**24
            hits = int(m.sum(dtype=torch.float64) if m.numel() >= 1 << 24 else m.sum())
        if not hits:
            return None
        # keep the inputs' shapes, not the inputs (they may not be saved for backward)
        parts = [(edge, change, tuple(inp.shape), inp.dtype) for edge, change, inp in parts]
        return _Rec(site, hits, parts, node_name, alloc=alloc)

    def after(self, rec: _Rec, func, out) -> None:
        if rec.swap is not None:
            if not isinstance(out, (tuple, list)):
                return
            rec.swap.bind(out, self.backend.window_hint)
            rec.hits = rec.swap.hits
            if not rec.hits:
                return
            out = out[0]
        if not isinstance(out, torch.Tensor):
            return
        rec.out = out
        # an in-place op's version is bumped after it returns from the dispatch mode
        rec.version = out._version + (1 if func._schema.name.endswith("_") else 0)
        self.pending.append(rec)

    # -- backward --

    def backward(self, orig, args, kwargs):
        """Run the user's backward pass (unchanged), computing each hit site's correction."""
        named = dict(zip(("t_outputs", "grad_tensors", "keep_graph", "create_graph", "inputs",
                          "allow_unreachable", "accumulate_grad"), args))
        named.update(kwargs)
        if not named.get("accumulate_grad") or named.get("create_graph"):
            return orig(*args, **kwargs)  # autograd.grad, or a pass that builds a graph: not the step's gradient
        self.step_backward = True
        # every pass of a probed step adds to g (micro-batches), hit or not
        recs = []
        for r in self.pending:
            if not r.fired:
                n = r.node()
                if n is not None:
                    recs.append((r, n))
                else:
                    self.failed.setdefault(r.site, "its autograd node is gone: the output was changed in place "
                                                   "afterwards, or written in place into a view")
        leaves = _leaves(named.get("t_outputs"), named.get("inputs"))
        if not leaves:
            return orig(*args, **kwargs)
        handles = []
        self.in_backward = True
        try:
            for leaf in leaves:
                handles.append(leaf.register_hook(self._leaf_hook(leaf)))
            for rec, node in recs:
                handles.append(node.register_hook(self._node_hook(rec, node, leaves)))
            return orig(*args, **kwargs)
        finally:
            self.in_backward = False
            self.correcting = None
            for h in handles:
                h.remove()
            self.pending = [r for r in self.pending if not r.fired]
            self._flush(leaves)

    def _leaf_hook(self, leaf):
        def hook(grad):
            if self.correcting is None and grad is not None:
                slot = self.g.get(id(leaf))
                if slot is None:
                    keep = grad.detach()
                    if keep.layout == torch.strided:  # into a reused buffer (the step's sums read it)
                        keep = self.buffers.get(("g", id(leaf)), keep.shape, keep.dtype, keep.device).copy_(keep)
                    else:
                        keep = keep.clone()
                    self.g[id(leaf)] = [leaf, keep]
                else:
                    slot[1] = slot[1] + grad.detach()
            return None
        return hook

    def _node_hook(self, rec: _Rec, node, leaves):
        def hook(grad_inputs, grad_outputs):
            u = grad_outputs[0] if grad_outputs else None
            if u is None:
                return None
            if self.correcting is not None:  # a correction passing through this evaluation
                if self.correcting is not rec.site:
                    return None
                new = list(grad_inputs)
                for edge, d in rec.deltas(u):
                    if edge < len(new):
                        new[edge] = d if new[edge] is None else new[edge] + d
                return tuple(new)
            rec.fired = True
            try:
                self._correct(rec, node, u, leaves)
            except Exception as err:  # noqa: BLE001 - the probe must never break the user's backward
                self.failed[rec.site] = f"{type(err).__name__}: {err}"[:200]
            finally:
                self.correcting = None
            return None
        return hook

    def _correct(self, rec: _Rec, node, u: torch.Tensor, leaves) -> None:
        """Push this evaluation's change of subgradient from the op's input edges to the leaves.
        An edge whose change is exactly 0 is not pushed (:meth:`_Rec.deltas` leaves it out): the
        hits that the upstream gradient does not reach (a ReLU zero that max-pooling passes
        over) change nothing, and a pass of zeros would cost a backward for it. The backward
        below an edge is linear in what enters it, so the site's row reads as the full pass's
        would (rel 0, cos 1, max 0); the one difference, a graph below that multiplies by an
        inf or NaN, where the full pass would make NaN of the zeros (the step's own gradient
        has met the same factor)."""
        self.hits[rec.site] = self.hits.get(rec.site, 0) + rec.hits
        edges, grads, where = [], [], []
        for edge, d, at in rec.changes(u):
            nxt = node.next_functions[edge] if edge < len(node.next_functions) else (None, 0)
            if nxt[0] is not None and rec.swap is not None:
                nxt = rec.swap.start(nxt)  # a max-pool's change may start below the ReLU it read
            if nxt[0] is not None:
                edges.append(GradientEdge(nxt[0], nxt[1]))
                grads.append(d)
                where.append(at)
        self.corr.setdefault(rec.site, {})
        if not edges:
            return
        if len(edges) == 1 and where[0] is not None:  # a few hits entering a first convolution
            fn = edges[0].node
            batch = self.first_convs.get(fn)
            if batch is None:
                batch = _FirstConv.plan(edges[0], grads[0], leaves)
                if batch is not None:
                    self.first_convs[fn] = batch
                    # pushed when the user's pass reaches the convolution (numpy's code still warm
                    # from the changes), or else when the pass ends
                    batch.hook = fn.register_prehook(self._conv_prehook(fn, leaves))
            if batch is not None and batch.add(rec.site, grads[0], where[0]):
                return
        self.correcting = rec.site
        got = _vjp(edges, grads, leaves)
        self.correcting = None
        self._add(rec.site, leaves, got)

    def _add(self, site, leaves: list, got) -> None:
        sums = self.corr.setdefault(site, {})
        for leaf, c in zip(leaves, got):
            if c is not None:
                cur = sums.get(id(leaf))
                sums[id(leaf)] = c if cur is None else cur + c

    def _conv_prehook(self, fn, leaves: list):
        def hook(grad_outputs):
            if self.correcting is None:  # the user's pass (a correction through it: not yet)
                self._flush(leaves, fn)
            return None
        return hook

    def _flush(self, leaves: list, fn=None) -> None:
        """The first convolutions' changes of this pass (:class:`_FirstConv`), one batch each
        (``fn``'s alone, when given)."""
        if fn is None:
            batches, self.first_convs = list(self.first_convs.values()), {}
        else:
            one = self.first_convs.pop(fn, None)
            batches = [] if one is None else [one]
        for batch in batches:
            if batch.hook is not None:
                batch.hook.remove()
            if not batch.items:
                continue
            try:
                got = batch.changes(len(leaves), self.buffers, ("first conv", self.conv_batches))
                self.conv_batches += 1
                for (site, _, _), g in zip(batch.items, got, strict=True):
                    self._add(site, leaves, g)
            except Exception as err:  # noqa: BLE001 - the probe must never break the user's backward
                for site, _, _ in batch.items:
                    self.failed[site] = f"{type(err).__name__}: {err}"[:200]

    # -- the step's results --

    def finish(self) -> None:
        """Fold this step's corrections into the sites' probe results (at the step's close,
        with the trace's dispatch modes off: the sums are the probe's, not the user's ops)."""
        tr = self.tracer
        popped = pop_own_modes()
        try:
            if self.step_backward:
                tr.probe_steps += 1
            for site, why in self.uncovered.items():
                sp = tr.probe_site(site)
                sp.uncovered = sp.uncovered or why
            for site, why in self.failed.items():
                sp = tr.probe_site(site)
                sp.uncovered = sp.uncovered or f"the correction failed ({why})"
                self.corr.pop(site, None)
            step = StepSums(self.g) if self.corr else None
            for site, sums in self.corr.items():
                assert step is not None
                dd, gd, dmax = step.site(sums)
                tr.probe_site(site).add(step_result(tr.step_count, self.hits.get(site, 0), step.gg, dd, gd, dmax),
                                        self.options.threshold)
        finally:
            push_back(popped)
            self._clear()

    def _clear(self) -> None:
        self.pending.clear()
        self.uncovered.clear()
        self.g.clear()
        self.corr.clear()
        self.hits.clear()
        self.failed.clear()
        for batch in self.first_convs.values():
            if batch.hook is not None:
                batch.hook.remove()
        self.first_convs.clear()
        self.conv_batches = 0
        self.buffers.step_done()
        self.step_backward = False


def around(orig, args, kwargs):
    """Around every backward pass while a trace runs (:data:`.stack.lean_backward`): a
    probed step's pass in this thread gets :meth:`TorchProbe.backward`; any other (a
    correction, another thread, an unprobed step) just runs."""
    for probe in reversed(_probes()):
        if probe.in_backward:
            break  # a correction (or a user's pass inside a hook): run it as it is
        if probe.on:
            return probe.backward(orig, args, kwargs)
    return orig(*args, **kwargs)
