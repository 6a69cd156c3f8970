"""PyTorch backend: a TorchDispatchMode that sees every aten op, however it was called.

The op table comes from the catalog (:mod:`.torch_mode`): each rule's ``[runtime] aten``
overloads map to the rule's code and kind. For each kind (and a few ops with their own kink
location) a *locator* (:mod:`.torch_locate`, :mod:`.torch_windows`) turns the op's arguments
into distances to the kink plus the scale "near" is measured against; the counting functions
(:mod:`.torch_count`) turn distances into [exact, near, harmless, decade histogram]. Nothing
here writes to the user's tensors, and nothing syncs the device.

Only what autograd differentiates is counted by default (grad enabled and an input that
requires grad): ``no_grad``, ``inference_mode`` and constants are not kinks of the loss.

Speed: non-kink ops cost one dict lookup; backward passes and ``optimizer.step()`` run with
the mode off the dispatch stack (nothing is counted there), so their ops never enter
Python; module names are read from the stack only at a kink op (no module hooks). On the
CPU, counting uses reused buffers, float ops only (bool kernels are slow there), one
block-wise min-reduction to find the few elements near a kink, and numpy for those.
"""

from __future__ import annotations

import collections
import math
import sys
import threading
import warnings
import weakref

import numpy as np
import torch

from kinkcheck.trace import patches
from kinkcheck.trace.backends import _tls
from kinkcheck.trace.backends.stack import (
    enter_mode,
    exit_mode,
    lean_backward,
    max_pool1d_guard,
    on_stack,
    pop_own_modes,
    push_back,
)
from kinkcheck.trace.backends.torch_compiled import _dynamo_stats, _fused_ok, compiled
from kinkcheck.trace.backends.torch_count import (
    RAW_LEN,
    Whole,
    count_device,
    count_host,
    count_host_rel,
    raw_to_vec,
)
from kinkcheck.trace.backends.torch_observe import observe
from kinkcheck.trace.backends.torch_mode import (
    COUNTED,
    COUNTED_ALL,
    _differentiated,
    _grad_enabled,
    _has_data,
    _Mode,
    build_table,
    resolve,
)
from kinkcheck.trace.site import VEC_LEN, Site

__all__ = ["TorchBackend", "_Mode", "build_table", "count_device", "count_host", "raw_to_vec", "resolve"]

_warned: set[str] = set()
#: site -> the gradient observed at its first hit, once per process (TorchBackend._observe)
_OBSERVED: dict[tuple, dict] = {}


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


_running = threading.local()


def _thread_backends() -> list:
    got = getattr(_running, "backends", None)
    if got is None:
        got = _running.backends = []
    return got


def _new_site(path, line, fn, spec, module, dtype) -> Site:
    site = Site(path, line, fn, spec.code, spec.name, spec.op, module, str(dtype).replace("torch.", ""),
                spec.kind, "torch", None)
    site.extra["near_scale"] = spec.near
    return site


class TorchBackend:
    """Pushes the dispatch mode and installs the module and optimizer hooks for one trace."""

    def __init__(self, tracer):
        self.tracer = tracer
        self.table, self.missing = build_table(tracer.catalog, tracer.codes, self)
        self.mode = _Mode(self)
        self._handles = []
        self.modules = None
        self._relu_outs: collections.OrderedDict = collections.OrderedDict()
        #: (id(code), line, module, op, dtype) -> (code, site): a site found again without hashing
        #: the code object (CPython hashes its constants every time)
        self._site_ids: dict = {}
        self._graph_task = torch._C._current_graph_task_id
        self._compiling = getattr(torch.compiler, "is_compiling", lambda: False)
        mode = tracer.counting_mode
        self._fused_forced = mode == "fused"
        self._count = {"host": count_host, "device": count_device}.get(mode)
        self._factors: dict = {}
        self._lean = False
        self._opt_popped: list = []
        self._opt_frame = None
        self.in_optimizer = False
        self.thread_id = threading.get_ident()
        self._guard = None
        self._only_diff = getattr(tracer, "only_differentiated", True)
        #: the subgradient sensitivity probe (kinkcheck.trace.backends.torch_probe), if asked for
        self.probe = None
        #: (input, kernel, ReluWindows) of the max-pool just counted, while a probed op runs:
        #: the probe finds its ties from the runner-up the count made (torch_probe_pool)
        self.window_hint = None

    # -- device counters (the Backend protocol: kinkcheck.trace.backends) --

    @staticmethod
    def counters_to_host(counters) -> list:
        return [raw_to_vec(r) for r in torch.stack(list(counters)).cpu().numpy()]

    @staticmethod
    def counter_add(total, more):
        return total.add_(more)

    @staticmethod
    def counter_copy(counter):
        return counter.clone()

    # -- lifecycle --

    def start(self):
        tr = self.tracer
        tr.frameworks["torch"] = torch.__version__.split("+")[0]
        tr.counted["torch"] = COUNTED if self._only_diff else COUNTED_ALL
        stats = _dynamo_stats()
        if stats is not None and stats["unique_graphs"] - compiled.graphs > 0:
                _warn_once("compile", "kinkcheck.trace: torch.compile'd code runs eagerly (uncompiled) inside the "
                           "trace block, so its kink ops are counted; rounding can differ from the compiled run")
        from torch.optim import optimizer as _opt

        tid = self.thread_id

        # The hooks run inside torch's step wrapper (frame 1). An optimizer subclass whose
        # step() calls super().step() runs a second wrapper inside the first once the parent
        # class has been patched too: only the outermost step counts, and a wrapper frame
        # that is no longer on the stack is a step that raised.
        def pre(opt, args, kwargs):
            if threading.get_ident() != tid:
                return
            outer = self._opt_frame
            if outer is not None and on_stack(outer, sys._getframe(2)):
                return
            self.in_optimizer = True
            # nothing inside optimizer.step() is counted: step off the dispatch stack
            # for its ops too (a leftover from a step that raised goes back first)
            push_back(self._opt_popped)
            self._opt_popped = pop_own_modes()
            self._opt_frame = sys._getframe(1)

        def post(opt, args, kwargs):
            if threading.get_ident() != tid or sys._getframe(1) is not self._opt_frame:
                return
            self._opt_frame = None
            popped, self._opt_popped = self._opt_popped, []
            push_back(popped)
            self.in_optimizer = False
            tr.step()

        self._handles.append(_opt.register_optimizer_step_pre_hook(pre))
        try:
            self._handles.append(_opt.register_optimizer_step_post_hook(post))
            if tr.modules:
                from kinkcheck.trace.attribution import ModuleStack

                self.modules = ModuleStack(tid)
                self.modules.install()
            self._guard = patches.join(torch, "max_pool1d", max_pool1d_guard, self)
            enter_mode(self.mode)
        except BaseException:
            self.stop(mode=False)
            raise
        _thread_backends().append(self)
        lean_backward.acquire()
        self._lean = True
        if getattr(tr, "probe", None) is not None:
            self._start_probe()

    def _start_probe(self) -> None:
        from kinkcheck.trace.backends import torch_probe

        if not lean_backward.probing(torch_probe.around):
            _warn_once("probe", "kinkcheck.trace: the probe needs torch.autograd's engine entry, which another "
                       "library has replaced; no step is probed")
            return
        self.probe = torch_probe.TorchProbe(self)
        self.probe.start()

    def stop(self, mode: bool = True):
        """Undo what :meth:`start` did, whatever other traces started or stopped meanwhile."""
        probe, self.probe = self.probe, None
        if probe is not None:
            try:
                probe.stop()
            finally:
                lean_backward.probing(None)
        if self._lean:
            self._lean = False
            lean_backward.release()
        running = _thread_backends()
        if self in running:
            running.remove(self)
        self._release_failed_step(force=True)  # our post hook will not run any more
        for backend in running:  # a step that raised left modes off the stack
            backend._release_failed_step()
        try:
            if mode:
                exit_mode(self.mode)
        finally:
            self.mode.live = False
            while self._handles:
                self._handles.pop().remove()
            if self._guard is not None:
                patches.leave(self._guard, self)
                self._guard = None
            if self.modules is not None:
                self.modules.remove()
                self.modules = None
            self._relu_outs.clear()

    def _release_failed_step(self, force: bool = False) -> None:
        """An optimizer step whose post hook never ran (it raised) took the modes off the
        stack: put them back now (a step still running keeps them, unless ``force``)."""
        frame = self._opt_frame
        if frame is None or (not force and on_stack(frame, sys._getframe(1))):
            return
        popped, self._opt_popped = self._opt_popped, []
        self._opt_frame = None
        self.in_optimizer = False
        push_back(popped)

    # -- relu outputs, for harmless max-pool ties --

    def from_relu(self, x) -> bool:
        ent = self._relu_outs.get(id(x))
        return ent is not None and ent[0]() is x and ent[1] == x._version

    def _remember_relu(self, out):
        if out.is_inference():  # no version counter to tell a later in-place change
            return
        outs = self._relu_outs
        outs[id(out)] = (weakref.ref(out), out._version)
        if len(outs) > 256:
            outs.popitem(last=False)

    # -- the per-op path --

    def handle(self, spec, func, args, kwargs):
        tr = self.tracer
        if (
            not tr.counting
            or self.in_optimizer
            or getattr(_tls, "busy", False)
            or self._graph_task() != -1
        ):
            return func(*args, **kwargs)
        if spec.code is None:  # relu watched only for max-pool harmlessness
            out = func(*args, **kwargs)
            self._remember_relu(out)
            return out
        x0 = args[0] if args else None
        if not isinstance(x0, torch.Tensor) or not (x0.is_floating_point() or x0.is_complex()):
            if not (len(args) > 1 and isinstance(args[1], torch.Tensor) and args[1].is_floating_point()):
                return func(*args, **kwargs)
            x0 = args[1]
        if x0.numel() == 0 or not _has_data(args):
            return func(*args, **kwargs)
        if self._only_diff and not (_grad_enabled() and _differentiated(args)):
            # no_grad / inference_mode, or no input requires grad: not a kink of the loss
            return func(*args, **kwargs)
        if self._compiling() or type(x0).__name__ == "FakeTensor":
            _warn_once("fake", "kinkcheck.trace: ops traced by torch.compile are not counted")
            return func(*args, **kwargs)
        site = self._site(spec, x0)
        site.calls += 1
        probe = self.probe
        if probe is not None and probe.on:
            rec = probe.before(spec, site, func, args, kwargs)
            self.window_hint = None
            try:
                out = self._count_op(spec, site, func, args, kwargs)
                if rec is not None:
                    probe.after(rec, func, out)
            finally:
                self.window_hint = None
            return out
        return self._count_op(spec, site, func, args, kwargs)

    def _count_op(self, spec, site, func, args, kwargs):
        tr = self.tracer
        if tr.every_op > 1 and (site.calls - 1) % tr.every_op:
            out = func(*args, **kwargs)
            if spec.relu_out:
                self._remember_relu(out)
            return out
        if spec.post:
            out = func(*args, **kwargs)
            self._measure(spec, site, args, kwargs, out, func)
        else:
            self._measure(spec, site, args, kwargs, None, func)  # before: in-place ops overwrite the input
            out = func(*args, **kwargs)
        if spec.relu_out:
            self._remember_relu(out)
        return out

    def _site(self, spec, x0) -> Site:
        tr = self.tracer
        att = tr._attributor
        if self.modules is not None:  # the user's line and the module, from one walk of the stack
            f, module = self.modules.locate(att, 3)
        else:
            f, module = att.frame(3), None
        if f is None:
            code_obj, line = None, 0
        else:
            code_obj, line = f.f_code, f.f_lineno
        dtype = x0.dtype
        fast = (id(code_obj), line, module, spec.op, dtype)
        got = self._site_ids.get(fast)
        if got is not None and got[0] is code_obj:
            return got[1]
        key = (code_obj, line, module, spec.op, dtype)
        site = tr.sites.get(key)
        if site is None:
            if code_obj is None:
                path, fn = "<torch>", "<internal>"
            else:
                path, fn = att.describe(code_obj)
            site = tr.site(key, lambda: _new_site(path, line, fn, spec, module, dtype))
        self._site_ids[fast] = (code_obj, site)
        return site

    def _measure(self, spec, site, args, kwargs, out, func=None):
        _tls.busy = True
        try:
            try:
                res = spec.locate(args, kwargs, out)
            except Exception as err:  # noqa: BLE001 - an unexpected signature must not break training
                _warn_once(f"locate:{spec.op}", f"kinkcheck.trace: cannot measure {spec.op} ({type(err).__name__}: {err}); "
                           "counting its evaluations only")
                res = (None, None, getattr(args[0], "numel", lambda: 0)(), None)
            if res is None:
                return
            d, scale, evals, harmless = res
            vec = None
            if isinstance(d, Whole):  # a big CPU tensor, counted in fewer passes (torch_count)
                got = d.count(self._factor(d.x.dtype), self.tracer.near.abs) if self._counter(d.x) is count_host else None
                if got is None:  # a NaN in |x|, or counting="device": the dense way
                    d, scale, harmless = d.dense()
                else:
                    vec, h = got
                    if h:
                        vec = np.zeros(VEC_LEN, dtype=np.int64) if vec is None else vec
                        vec[2] += h
                    d = d.distance if vec is not None and vec[0] else None  # made only to observe a hit
            if isinstance(d, torch.Tensor) and d.numel():
                if d.is_complex():
                    d = d.abs()
                fac = self._factor(d.dtype)
                absf = self.tracer.near.abs
                counter = self._counter(d)
                per_element = isinstance(scale, torch.Tensor) and scale.dim() > 0 and scale.numel() > 1
                if spec.near == "own" or scale is None:  # near on the value's own magnitude
                    vec = counter(d, self._own_tol(d.dtype))
                elif per_element and spec.near == "element":
                    vec = count_host_rel(d, scale, fac, absf) if counter is count_host else counter(d, scale * fac + absf)
                else:
                    if per_element:
                        scale = scale.amax()
                    if counter is count_host:  # CPU: plain floats (reading a CPU scalar costs no sync)
                        tol = float(scale) * fac + absf
                        if math.isnan(tol):  # a NaN in the operand: take the scale of the rest
                            finite = d[~torch.isnan(d)]
                            tol = (float(finite.amax()) if finite.numel() else 0.0) * fac + absf
                    else:
                        tol = scale * fac + absf
                        if isinstance(tol, torch.Tensor):
                            tol = torch.nan_to_num(tol, nan=absf)
                    vec = counter(d, tol)
            if harmless is not None:
                if isinstance(vec, np.ndarray) or (vec is None and self._counter(harmless) is count_host):
                    h = int(harmless)
                    if h:
                        if vec is None:
                            vec = np.zeros(VEC_LEN, dtype=np.int64)
                        vec[2] += h
                else:
                    if vec is None:
                        vec = torch.zeros(RAW_LEN, dtype=torch.float64, device=harmless.device)
                    vec[:1].add_(harmless)
            self.tracer.record(site, evals, vec)
            if func is not None and isinstance(vec, np.ndarray) and vec[0] and "observed" not in site.extra:
                self._observe(site, func, args, kwargs, d, spec.kind)
        finally:
            _tls.busy = False

    def _observe(self, site, func, args, kwargs, d, kind) -> None:
        """The gradient torch returns at this site's first hit (:mod:`.torch_observe`). A
        reduction or pool runs its whole op again, so that observation is kept per site for
        the process: a trace entered every step (a bench, a decorated loss) pays it once.
        ``d``: the distances, or what makes them (a :class:`Whole`'s ``distance``: dense
        distances cost passes over the tensor, made only when the observation is not kept)."""
        key = (site.path, site.line, site.function, site.op, site.module, site.dtype)
        obs = _OBSERVED.get(key)
        if obs is None:
            obs = observe(func, args, kwargs, d() if callable(d) else d, kind)
            if obs is None:
                return
            obs["step"] = self.tracer.step_count
            if len(_OBSERVED) < 4096:
                _OBSERVED[key] = obs
        site.extra["observed"] = dict(obs)

    def _factor(self, dtype) -> float:
        """Near's relative tolerance for ``dtype`` (:meth:`kinkcheck.trace.near.Near.factor`)."""
        fac = self._factors.get(dtype)
        if fac is None:
            fac = self._factors[dtype] = self.tracer.near.factor(str(dtype).replace("torch.", ""))
        return fac

    def _own_tol(self, dtype) -> float:
        """Near on a value's own magnitude: ``ulps`` smallest normal numbers (+ abs)."""
        tol = self._factors.get(("own", dtype))
        if tol is None:
            tiny = torch.finfo(dtype).tiny if dtype.is_floating_point or dtype.is_complex else 0.0
            tol = self._factors[("own", dtype)] = self.tracer.near.ulps * tiny + self.tracer.near.abs
        return tol

    def fused(self, x) -> bool:
        """Use the compiled window check for this tensor? (CUDA with triton, or counting="fused")."""
        if self._fused_forced:
            return True
        return x.device.type == "cuda" and _fused_ok() and not compiled.broken

    def _counter(self, d):
        if self._count is not None:
            return self._count
        if d.device.type == "cpu":
            return count_host
        return count_device
