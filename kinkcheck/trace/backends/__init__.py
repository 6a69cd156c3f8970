"""Tracer backends and their registry: ``torch`` (a TorchDispatchMode at the aten level),
``numpy`` (patches) and ``jax`` (lax primitives, counted inside the compiled program).

The core (:mod:`kinkcheck.trace.core`) knows backends only by name, through :data:`REGISTRY`
and the :class:`Backend` protocol; backend modules import the core, never the reverse, so
there is no import cycle and a backend's framework is imported only when a trace uses it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

#: ``_tls.busy`` is set while a backend measures an op: the tracer's own counting (torch's
#: host path uses numpy) must never be counted by another backend as the user's kink.
_tls = threading.local()


class Backend(Protocol):
    """What the core needs from a backend: start and stop it for one trace in one thread,
    and read the device counters it handed to :meth:`Site.add <kinkcheck.trace.site.Site.add>`."""

    def __init__(self, tracer: Any) -> None: ...

    def start(self) -> None:
        """Begin counting for the tracer in the calling thread (undo everything on failure)."""

    def stop(self) -> None:
        """Undo what :meth:`start` did, whatever other traces did meanwhile."""

    @staticmethod
    def counters_to_host(counters: Sequence[Any]) -> list[np.ndarray]:
        """Device counters as host vectors (:mod:`kinkcheck.trace.counts`), read in one transfer."""

    @staticmethod
    def counter_add(total: Any, more: Any) -> Any:
        """``total + more`` for two device counters (in place where the framework allows)."""

    @staticmethod
    def counter_copy(counter: Any) -> Any:
        """A counter that later in-place adds to the original do not change."""


#: backend name -> "module:Class"
REGISTRY: dict[str, str] = {
    "torch": "kinkcheck.trace.backends.torch:TorchBackend",
    "numpy": "kinkcheck.trace.backends.numpy:NumpyBackend",
    "jax": "kinkcheck.trace.backends.jax:JaxBackend",
}

#: backends started by default: torch and numpy when installed, jax once the program imported it
#: (importing jax costs a second; a torch user with jax installed should not pay it)
DEFAULT_WHEN = {"torch": "installed", "numpy": "installed", "jax": "imported"}


_classes: dict[str, type] = {}


def backend_class(name: str) -> type[Backend]:
    """The class registered for ``name`` (imports its module and framework on first use)."""
    got = _classes.get(name)
    if got is not None:
        return got
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown trace backend {name!r} (expected one of {', '.join(REGISTRY)})") from None
    module, _, cls = target.partition(":")
    got = _classes[name] = getattr(importlib.import_module(module), cls)
    return got


def default_backends() -> list[str]:
    """The backends a trace starts when none are named."""
    out = []
    for name in REGISTRY:
        if DEFAULT_WHEN.get(name) == "imported":
            if name in sys.modules:
                out.append(name)
        elif importlib.util.find_spec(name) is not None:
            out.append(name)
    return out
