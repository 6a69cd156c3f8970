"""What the JAX backend's patches, its counting and its probe share: the trace's setting as
jit's cache key sees it, the process-wide site descriptors, and which traces run where.

The trace's setting (its rules, near tolerance and ``only_differentiated``) is a thread-local
JAX config option, :data:`STATE`, that is part of jit's cache key: inside a trace jitted
functions are traced and compiled afresh with counting (once per setting, then cached), and
outside it the very programs compiled before run as they were. While one of jax's own jitted
functions is traced for a calling line (:mod:`.jax_patches`), the value is ``(setting, line)``.
"""

from __future__ import annotations

import contextlib
import threading
import warnings

import jax
from jax._src import config as _config
from jax._src import core


def _state():
    got = _config.config_states.get("kinkcheck_trace")
    if got is None:
        got = _config.State("kinkcheck_trace", None, "kinkcheck.trace() is counting kinks in this thread "
                            "(part of jit's cache key)", include_in_jit_key=True, include_in_trace_context=True)
    return got


#: this thread's setting (an int from :func:`setting_id`), or None outside any trace
STATE = _state()


class SiteTable:
    """Process-wide site descriptors ``(code object, line, rule, op, dtype)``: compiled programs
    outlive a trace (jit's cache), so the sites baked into them are numbered once per process
    and each trace maps them to its own."""

    def __init__(self):
        self.lock = threading.Lock()
        self.index: dict[tuple, int] = {}
        self.items: list[tuple] = []

    def slot(self, key: tuple) -> int:
        got = self.index.get(key)
        if got is None:
            with self.lock:
                got = self.index.get(key)
                if got is None:
                    got = self.index[key] = len(self.items)
                    self.items.append(key)
        return got


SITES = SiteTable()
#: set once this process has lowered a program that hands counts to the host through a
#: callback: a trace's stop must then wait for every dispatched program (otherwise the
#: counts arrive with the program's outputs, :mod:`.jax_dispatch`)
CALLBACKS = threading.Event()
_settings: dict[tuple, int] = {}
_settings_lock = threading.Lock()
#: setting id -> does it count only differentiated evaluations?
_only_diff: dict[int, bool] = {}


def setting_id(setting: tuple, only_diff: bool) -> int:
    """A small int for a setting (jit compares its context on every call), one per process."""
    with _settings_lock:
        got = _settings.setdefault((setting, only_diff), len(_settings) + 1)
        _only_diff[got] = only_diff
        return got


def current_setting():
    """The setting this thread traces under now (a probe's own, during a probed call)."""
    value = STATE.value
    return value[0] if isinstance(value, tuple) else value


def wants(diff: bool) -> bool:
    """Is a count with this ``diff`` counted by the program traced or lowered now (in this
    thread, under this trace's setting)? Outside any trace: yes (nobody receives it)."""
    if diff:
        return True
    return not _only_diff.get(current_setting(), False)


#: this thread's .backends (its running traces' backends), .depth (1 while the tracer's own
#: ops are bound), .prev (the state before the first trace), .jit_depth (nested jit tracing)
local = threading.local()
_running: tuple = ()  # every running JaxBackend, any thread (host callbacks arrive on XLA's threads)
_running_lock = threading.Lock()


@contextlib.contextmanager
def quiet():
    """The counting code's own kinked ops (count_vector's abs and max) are not the user's."""
    prev = getattr(local, "depth", 0)
    local.depth = 1
    try:
        yield
    finally:
        local.depth = prev


def depth() -> int:
    return int(getattr(local, "depth", 0))


def thread_backends() -> list:
    got = getattr(local, "backends", None)
    if got is None:
        got = local.backends = []
    return got


def running() -> tuple:
    """Every running backend, in any thread."""
    return _running


def set_running(backend, on: bool) -> None:
    global _running
    with _running_lock:
        _running = tuple(b for b in _running if b is not backend) + ((backend,) if on else ())


def has_tracers(args) -> bool:
    return any(isinstance(x, core.Tracer) for x in jax.tree_util.tree_leaves(args))


def top_level(args) -> bool:
    """A call that runs as it is: not traced inside another jit, nor transformed."""
    return not getattr(local, "jit_depth", 0) and not has_tracers(args)


_warned: set[str] = set()


def warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
