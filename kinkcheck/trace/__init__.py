"""Runtime kink tracer: ``with kinkcheck.trace() as t:`` counts, per source line and rule, how
often training evaluates each kink op exactly at and near its non-differentiable point.

``kinkcheck.trace`` is both this package and the function that starts a trace: the module
object is callable, so ``import kinkcheck.trace`` does not shadow ``kinkcheck.trace(...)``.

Memory stays bounded however long training runs: each site keeps one per-step row for the
first 1,024 steps, then sums later steps into aligned blocks of ``width`` steps (a power of two
that doubles so that at most 1,024 blocks remain), so a site never holds more than 2,048 rows
and its rows always add up to its totals (:mod:`kinkcheck.trace.steps`; the trace file's
``per_step_blocks`` says how to read them).

Whatever is patched while a trace runs (numpy callables, ``torch.max_pool1d``, the autograd
engine entry, the dispatch mode) goes back as the very object it replaced, in whatever order
traces exit and in whichever threads (:mod:`kinkcheck.trace.patches`,
:mod:`kinkcheck.trace.backends.stack`).
"""

from __future__ import annotations

import sys
import types

from kinkcheck.trace.core import Site, Trace, trace
from kinkcheck.trace.near import Near
from kinkcheck.trace.probe import Probe
from kinkcheck.trace.tracefile import TraceFileError

__all__ = ["Near", "Probe", "Site", "Trace", "TraceFileError", "trace"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return trace(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
