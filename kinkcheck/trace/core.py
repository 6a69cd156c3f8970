"""The tracer: options, steps, the sites' table, and the ``with`` / decorator protocol.

Backends (torch, numpy, jax: :mod:`kinkcheck.trace.backends` registers them by name) find
kink ops, compute how far each element is from the kink and hand the counts to a
:class:`~kinkcheck.trace.site.Site` (its own module: the counters and their steps).
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from kinkcheck.trace import backends as _backends
from kinkcheck.trace import steps
from kinkcheck.trace.counts import VEC_LEN
from kinkcheck.trace.near import Near, histogram_dict
from kinkcheck.trace.site import Site, _to_host

if TYPE_CHECKING:
    from kinkcheck.trace.attribution import Attributor
    from kinkcheck.trace.probe import Probe, SiteProbe

__all__ = ["Site", "Trace", "trace"]


class Trace:
    """A tracing session; see :func:`trace` for the options."""

    def __init__(
        self,
        *,
        near: Near | float | dict | None = None,
        rules: Iterable[str] | str | None = None,
        ignore: Iterable[str] | str | None = None,
        backends: Iterable[str] | str | None = None,
        every_step: int = 1,
        every_op: int = 1,
        output: str | os.PathLike | None = None,
        root: str | os.PathLike | None = None,
        modules: bool = True,
        counting: str = "auto",
        catalog=None,
        only_differentiated: bool = True,
        probe: Probe | bool | int | None = None,
    ):
        from kinkcheck import catalog as _catalog
        from kinkcheck.trace.probe import Probe

        if isinstance(near, (int, float)) and not isinstance(near, bool):
            near = Near(ulps=float(near))
        elif isinstance(near, dict):
            near = Near(**near)
        self.near: Near = near if isinstance(near, Near) else Near()
        if int(every_step) < 1 or int(every_op) < 1:
            raise ValueError("every_step and every_op must be integers >= 1")
        self.every_step = int(every_step)
        self.every_op = int(every_op)
        self.output = output
        self.root = os.path.abspath(str(root) if root is not None else os.getcwd())
        self.modules = modules
        if counting not in ("auto", "host", "device", "fused"):
            raise ValueError("counting must be one of auto, host, device, fused")
        self.counting_mode = counting
        #: count only ops autograd differentiates (False: inference and constants too)
        self.only_differentiated = bool(only_differentiated)
        self.catalog = catalog if catalog is not None else _catalog.load()
        selected = self.catalog.select([rules] if isinstance(rules, str) else rules) if rules else self.catalog.default_codes()
        if ignore:
            selected -= self.catalog.select([ignore] if isinstance(ignore, str) else ignore)
        self.codes = frozenset(c for c in selected if self.catalog[c].runtime is not None)
        if backends is None:
            backends = _backends.default_backends()
        elif isinstance(backends, str):
            backends = [backends]
        for b in backends:
            if b not in _backends.REGISTRY:
                raise ValueError(f"unknown trace backend {b!r} (expected one of {', '.join(_backends.REGISTRY)})")
        self.backend_names = tuple(backends)
        self.sites: dict[tuple, Site] = {}
        self.frameworks: dict[str, str] = {}
        #: backend -> what it counts (say, only differentiated ops): the file's ``counted``
        self.counted: dict[str, str] = {}
        self.step_count = 0
        self.counting = True  # False on steps skipped by every_step
        self.in_optimizer = False
        self.thread_id: int | None = None  # the thread that entered first
        self.active = False  # some thread is inside the block
        #: guards the entries, the sites' counters and the steps: several threads may be
        #: inside one trace at once (a decorated function called from two threads)
        self.lock = threading.RLock()
        self._entries: dict[int, list] = {}  # thread id -> the backends running for it
        self._attributor: Attributor | None = None
        #: the subgradient sensitivity probe (kinkcheck.trace.probe), None when off
        self.probe: Probe | None = Probe.parse(probe)
        self.probe_sites: dict[Site, SiteProbe] = {}
        self.probe_steps = 0  # probed steps that ran a backward pass
        #: called (under the lock) when a step closes, before its counts are folded
        self.step_hooks: list = []

    # -- the with / decorator protocol -------------------------------------------------

    def __enter__(self) -> Trace:  # noqa: PYI034 - Self needs 3.11; this package supports 3.10
        """Start tracing this thread. Other threads may enter the same trace while it runs
        (their counts add up in it); one thread cannot enter it twice."""
        tid = threading.get_ident()
        with self.lock:
            if tid in self._entries:
                raise RuntimeError("this kinkcheck.trace() is already active; nest a new kinkcheck.trace() instead")
            if not self._entries:
                from kinkcheck.trace.attribution import Attributor

                self.thread_id = tid
                self._attributor = Attributor(self.root)
                self.counting = self.step_count % self.every_step == 0
            self._entries[tid] = []
            self.active = True
        try:
            started = self._start_backends()
        except BaseException:
            with self.lock:
                del self._entries[tid]
                self.active = bool(self._entries)
            raise
        with self.lock:
            self._entries[tid] = started
        return self

    def _start_backends(self) -> list:
        started = []
        try:
            for name in self.backend_names:
                backend = _backends.backend_class(name)(self)
                backend.start()
                started.append(backend)
        except BaseException:
            _stop_backends(started)
            raise
        return started

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        """Stop tracing this thread (in any order: what its backends patched goes back as it
        was); the last thread out closes the step and writes ``output``."""
        tid = threading.get_ident()
        with self.lock:
            if tid not in self._entries:
                raise RuntimeError("this kinkcheck.trace() was not entered in this thread")
            backends = self._entries.pop(tid)
        try:
            _stop_backends(backends)
        finally:
            with self.lock:
                last = not self._entries
                if last:
                    self.active = False
                    self.in_optimizer = False
        if not last:
            return False
        self._close_step()
        if self.output is not None:
            try:
                self.save(self.output)
            except Exception as err:
                if exc_type is None:
                    raise
                warnings.warn(f"kinkcheck.trace: could not save {self.output}: {err}", RuntimeWarning, stacklevel=2)
        return False

    def __call__(self, func):
        """Use as a decorator: every call of ``func`` runs traced (counts accumulate). A call
        made while this thread is already inside the trace (recursion) just runs; calls from
        several threads at once are each traced."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if threading.get_ident() in self._entries:
                return func(*args, **kwargs)
            with self:
                return func(*args, **kwargs)

        return wrapper

    # -- steps -----------------------------------------------------------------------

    def step(self) -> int:
        """Advance the step counter (done automatically after every ``optimizer.step()``)."""
        with self.lock:
            self._close_step()
            self.step_count += 1
            self.counting = self.step_count % self.every_step == 0
            return self.step_count

    def _close_step(self):
        with self.lock:
            for hook in list(self.step_hooks):
                hook()
            for site in self.sites.values():
                if site.touched:
                    site.close_step(self.step_count)

    # -- sites -----------------------------------------------------------------------

    def site(self, key: tuple, make) -> Site:
        """The site for ``key``, made on first use (once, whichever thread gets there first)."""
        site = self.sites.get(key)
        if site is None:
            with self.lock:
                site = self.sites.get(key)
                if site is None:
                    site = self.sites[key] = make()
        return site

    def probe_site(self, site: Site) -> SiteProbe:
        """The probe results of ``site`` (made on first use)."""
        with self.lock:
            got = self.probe_sites.get(site)
            if got is None:
                from kinkcheck.trace.probe import SiteProbe

                got = self.probe_sites[site] = SiteProbe()
            return got

    def record(self, site: Site, evaluations: int, vec) -> None:
        """Add one op's counts to ``site`` (see :meth:`Site.add`), safely across threads."""
        with self.lock:
            site.add(evaluations, vec)

    # -- output ----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The trace as a version-1 trace-file dict (reads device counters: one sync)."""
        from kinkcheck import __version__
        from kinkcheck.trace import tracefile

        with self.lock:
            if not self.active:
                self._close_step()
            width = steps.width_for(self.step_count)
            sites = [self._site_dict(site, width) for site in list(self.sites.values())
                     if site.evaluations or site.step_evals or site.rows]  # else: nothing to measure (x ** 2)
            steps_seen = self.step_count + (1 if any(s.last_step == self.step_count for s in self.sites.values()) else 0)
        out = {
            "format": tracefile.FORMAT,
            "version": tracefile.VERSION,
            "kinkcheck": __version__,
            "created": tracefile.now_iso(),
            "root": self.root,
            "frameworks": dict(self.frameworks),
            "counted": dict(self.counted),
            "ranks": [self.rank()],
            "steps": steps_seen,
            "near": self.near.to_dict(),
            "sampling": {"every_step": self.every_step, "every_op": self.every_op},
            "per_step_blocks": steps.describe(width),
            "rules": sorted(self.codes),
            "backends": list(self.backend_names),
            "sites": sorted(sites, key=tracefile.sort_key),
        }
        if self.probe is not None:
            out["probe"] = {**self.probe.to_dict(), "steps": self.probe_steps}
        return out

    def _site_dict(self, site: Site, width: int) -> dict:
        d = site.to_dict()
        if self.active and site.touched:  # include the running step without closing it
            vec = site.cur_host.copy() if site.cur_host is not None else np.zeros(VEC_LEN, np.int64)
            if site.cur_dev is not None:
                vec = vec + _to_host(site.backend, [site.cur_dev])[0]
            d["evaluations"] += site.step_evals
            for i, k in ((0, "exact"), (1, "near"), (2, "harmless")):
                d[k] += int(vec[i])
            tot = site.totals() + vec
            d["histogram"] = histogram_dict(int(tot[0]), tot[3:])
            d["per_step"].append([self.step_count, site.step_evals, int(vec[0]), int(vec[1])])
        d["per_step"] = steps.rebucket(d["per_step"], width)
        probed = self.probe_sites.get(site)
        if probed is not None:
            d["probe"] = probed.to_dict()
        return d

    def rank(self) -> int:
        try:
            import sys

            dist = sys.modules.get("torch.distributed")
            if dist is not None and dist.is_available() and dist.is_initialized():
                return int(dist.get_rank())
        except (RuntimeError, ValueError):  # pragma: no cover - a half-initialised process group
            pass
        from kinkcheck.trace.tracefile import env_rank

        return env_rank()  # RANK=abc warns and reads 0: the trace is still saved

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the trace file (atomically); ``{rank}`` in the path becomes this process's rank."""
        from kinkcheck.trace import tracefile

        path = path if path is not None else self.output
        if path is None:
            raise ValueError("no path given and the trace has no output=")
        path = Path(str(path).replace("{rank}", str(self.rank())))
        return tracefile.dump(self.to_dict(), path)

    def summary(self, *, print_: bool = True, top: int | None = None):
        """Print (and return) the rich table of sites: evaluations, exact and near hits."""
        from kinkcheck.trace.show import render

        table = render(self.to_dict(), top=top)
        if print_:  # fitted to a terminal; at full width into a file or pipe (nothing cut)
            from kinkcheck.output.terminal import print_rich

            print_rich(table)
        return table

    def __repr__(self):
        state = "active" if self.active else "inactive"
        return f"<kinkcheck.Trace {state}, {len(self.sites)} sites, step {self.step_count}>"


def _stop_backends(backends: list) -> None:
    """Stop every backend, newest first, even when one fails (the first error is raised)."""
    errors = []
    while backends:
        backend = backends.pop()
        try:
            backend.stop()
        except Exception as err:  # noqa: BLE001 - keep restoring the others
            errors.append(err)
    if errors:
        raise errors[0]


def trace(
    *,
    near: Near | float | dict | None = None,
    rules: Iterable[str] | str | None = None,
    ignore: Iterable[str] | str | None = None,
    backends: Iterable[str] | str | None = None,
    every_step: int = 1,
    every_op: int = 1,
    output: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    modules: bool = True,
    counting: str = "auto",
    only_differentiated: bool = True,
    probe: Probe | bool | int | None = None,
) -> Trace:
    """Trace kink ops while the block (or decorated function) runs.

    near: a :class:`Near` (``ulps``, ``abs``), a number of ULPs, or a dict; default 4 ULPs
        of the operand's scale plus 1e-30 (see :mod:`kinkcheck.trace.near`).
    rules / ignore: rule codes, prefixes or names (``"KC1"``, ``"relu-at-zero"``).
    backends: ``"torch"``, ``"numpy"``, ``"jax"``; default torch and numpy when installed, and
        jax when the program has imported it.
    every_step: count only every Nth step (steps advance on ``optimizer.step()`` or ``t.step()``).
    every_op: count only every Nth call of each site (the counts are then a sample).
    output: write the trace file here on exit; ``{rank}`` becomes the distributed rank.
    root: paths are written relative to it (default: the working directory).
    modules: also record the nn.Module path of each op (read from the running
        ``Module._call_impl`` frames; no module hooks).
    counting: ``auto`` (host counting on CPU; on GPUs sync-free device counting with a
        torch.compile'd max-pool window check), ``host``, ``device``, ``fused`` (compiled window check anywhere).
    only_differentiated: count only what autograd differentiates (torch: grad enabled and an
        input that requires grad; jax: under ``grad``/``value_and_grad``/``vjp``/``jvp``, an
        operand that depends on the differentiated inputs); False also counts inference
        (a forward ``jit`` call), ``no_grad`` and constants.
    probe: the subgradient sensitivity probe (torch, JAX): ``True``, an integer N (every Nth step)
        or ``Probe(every=50, threshold=2**-10)``. On probed steps each site hit exactly gets
        the step's gradient recomputed with the other valid subgradient at its hits, and
        records how far that moves it (:mod:`kinkcheck.trace.probe`). Training is unchanged.
    """
    return Trace(
        near=near, rules=rules, ignore=ignore, backends=backends, every_step=every_step,
        every_op=every_op, output=output, root=root, modules=modules, counting=counting,
        only_differentiated=only_differentiated, probe=probe,
    )
