"""Runtime kink tracer: ``with kinkcheck.trace() as t:`` counts, per source line and rule, how
often training evaluates each kink op exactly at and near its non-differentiable point.

``kinkcheck.trace`` is both this package and the function that starts a trace: the module
object is callable, so ``import kinkcheck.trace`` does not shadow ``kinkcheck.trace(...)``.
"""

from __future__ import annotations

import sys
import types

from kinkcheck.trace.core import Site, Trace, trace
from kinkcheck.trace.near import Near
from kinkcheck.trace.tracefile import TraceFileError

__all__ = ["Near", "Site", "Trace", "TraceFileError", "trace"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return trace(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
