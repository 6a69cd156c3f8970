"""The tracer's dispatch modes on torch's mode stack: on, off and back, in any order.

Each torch trace pushes one :class:`KinkMode` on the entering thread's dispatch stack. Traces
may exit in any order (nested blocks closed out of order, a decorated function in several
threads), so a mode is taken out from wherever it sits, never by popping whatever is on top.
Torch also keeps three *process-wide* flags ("some dispatch mode is active"; Dynamo does not
compile while they are set) that each mode saves on entry and restores on exit, which is only
right for one thread exiting in order: :class:`_Flags` keeps them set while any kinkcheck mode
lives and puts them back as they were when the last one exits.
"""

from __future__ import annotations

import functools
import sys
import threading

import torch
from torch.utils import _python_dispatch as pd
from torch.utils._python_dispatch import TorchDispatchMode


class KinkMode(TorchDispatchMode):
    """Base of the tracer's modes: ``live`` turns False once its trace stopped, and a mode
    that is not live is never put back on the stack."""

    def __init__(self):
        super().__init__()
        self.live = True


def pop_own_modes() -> list:
    """Pop the kinkcheck modes at the top of this thread's dispatch-mode stack (only those:
    a user's mode above them keeps them where they are); returns them, top first."""
    popped = []
    n = torch._C._len_torch_dispatch_stack()
    while n and isinstance(torch._C._get_dispatch_stack_at(n - 1), KinkMode):
        popped.append(torch._C._pop_torch_dispatch_stack(None))
        n -= 1
    return popped


def push_back(popped: list) -> None:
    """Put popped modes back (``popped`` top first); a kinkcheck mode whose trace has
    stopped meanwhile stays off."""
    for mode in reversed(popped):
        if getattr(mode, "live", True):
            torch._C._push_on_torch_dispatch_stack(mode)


def on_stack(frame, start) -> bool:
    """Is ``frame`` one of the callers of ``start``?"""
    f = start
    while f is not None:
        if f is frame:
            return True
        f = f.f_back
    return False


# -- torch's mode flags -----------------------------------------------------------------

#: what TorchDispatchMode.__enter__ saves per mode (torch >= 2.5): the flags as they were
#: before the mode was entered
_FLAG_LISTS = ("old_dispatch_mode_flags", "old_non_infra_dispatch_mode_flags",
               "old_without_ignore_compile_internals_dispatch_mode_flags")
_FLAG_NAMES = ("_is_in_torch_dispatch_mode", "_is_in_non_infra_torch_dispatch_mode",
               "_is_in_any_mode_without_ignore_compile_internals")


def _read_flags() -> list | None:
    if not all(hasattr(pd, name) for name in _FLAG_NAMES):
        return None  # another torch: nothing to keep
    return [bool(getattr(pd, name)) for name in _FLAG_NAMES]


def _write_flags(flags) -> None:
    for name, value in zip(_FLAG_NAMES, flags):
        setattr(pd, name, value)
    setter = getattr(pd, "set_is_in_mode_without_ignore_compile_internals", None)
    if setter is not None:
        setter(flags[2])


def _with_mode(flags: list, mode) -> list:
    """The flags once ``mode`` is entered on top of ``flags`` (as TorchDispatchMode.__enter__)."""
    infra = getattr(mode, "is_infra_mode", lambda: False)()
    ignores = getattr(mode, "ignore_compile_internals", lambda: False)()
    return [True, flags[1] or not infra, flags[2] or not ignores]


class _Flags:
    """Process-wide: how many kinkcheck modes are entered, and the flags before the first."""

    def __init__(self):
        self.lock = threading.Lock()
        self.live = 0
        self.before: list | None = None

    def entered(self, mode) -> None:
        with self.lock:
            if self.live == 0:
                saved: list[list] = [getattr(mode, name, None) or [] for name in _FLAG_LISTS]
                self.before = [bool(lst[-1]) for lst in saved] if all(saved) else _read_flags()
            self.live += 1

    def exited(self) -> None:
        """After a mode's exit: flags set while another kinkcheck mode lives (in any thread);
        after the last, as they were before the first, plus what this thread's stack holds."""
        with self.lock:
            self.live -= 1
            if _read_flags() is None:
                return
            if self.live:
                _write_flags([True, True, True])
                return
            flags = list(self.before or [False, False, False])
            for i in range(torch._C._len_torch_dispatch_stack()):
                flags = _with_mode(flags, torch._C._get_dispatch_stack_at(i))
            _write_flags(flags)
            self.before = None


_flags = _Flags()


def enter_mode(mode: KinkMode) -> None:
    mode.__enter__()
    _flags.entered(mode)


def exit_mode(mode: KinkMode) -> None:
    """Take ``mode`` off this thread's dispatch stack wherever it is: the modes above it come
    off and go back on, and the flags they saved on entry are rewritten as if ``mode`` had
    never been entered (so their own exits restore the right values)."""
    mode.live = False
    try:
        n = torch._C._len_torch_dispatch_stack()
        at = next((i for i in range(n - 1, -1, -1) if torch._C._get_dispatch_stack_at(i) is mode), None)
        if at is None:
            # held off the stack by a step or backward pass running right now: it stays off
            # (not live); drop its saved flags so its lists stay balanced
            for name in _FLAG_LISTS:
                saved = getattr(mode, name, None)
                if saved:
                    saved.pop()
            return
        above = [torch._C._pop_torch_dispatch_stack(None) for _ in range(n - 1 - at)]  # top first
        try:
            _rebase_flags(mode, above[::-1])
            mode.__exit__(None, None, None)
        finally:
            push_back(above)
    finally:
        _flags.exited()


def _rebase_flags(mode, above: list) -> None:
    """Rewrite the flags each mode in ``above`` (bottom first) saved on entry as if ``mode``,
    under them, had never been entered."""
    saved: list[list] = [getattr(mode, name, None) or [] for name in _FLAG_LISTS]
    if not above or not all(saved):
        return
    cur = [lst[-1] for lst in saved]
    for m in above:
        lists: list[list] = [getattr(m, name, None) or [] for name in _FLAG_LISTS]
        if all(lists):
            for lst, value in zip(lists, cur):
                lst[-1] = value
        cur = _with_mode(cur, m)


# -- around backward and max_pool1d -------------------------------------------------------


class _LeanBackward:
    """While the autograd engine runs a backward pass, kinkcheck's modes step off the stack.

    Nothing is counted inside backward anyway (``handle`` skips ops while a graph task
    runs), but every backward op (a CNN step has ~4x more of them than forward ops) would
    still pay for a trip through Python. Wraps ``torch.autograd._engine_run_backward`` (the
    one entry of ``backward()`` and ``autograd.grad()``) while any trace is active;
    reference-counted across traces and threads, restored when the last one stops.
    """

    NAMES = ("torch.autograd.graph", "torch.autograd")

    def __init__(self):
        self.lock = threading.Lock()
        self.users = 0
        self.orig = None
        self.wrapper = None
        #: ``around(orig, args, kwargs)`` runs each backward pass while a probe is on
        #: (:mod:`.torch_probe`); reference-counted by :meth:`probing`
        self.around = None
        self.probes = 0

    def acquire(self):
        with self.lock:
            self.users += 1
            if self.users > 1:
                return
            mods = [sys.modules.get(n) for n in self.NAMES]
            orig = getattr(mods[0], "_engine_run_backward", None)
            if orig is None or any(getattr(m, "_engine_run_backward", None) is not orig for m in mods):
                return  # another torch layout, or someone else's patch: leave it alone

            def run_backward(*args, **kwargs):
                popped = pop_own_modes()
                try:
                    around = self.around
                    if around is not None:
                        return around(orig, args, kwargs)
                    return orig(*args, **kwargs)
                finally:
                    push_back(popped)

            self.orig, self.wrapper = orig, run_backward
            for m in mods:
                m._engine_run_backward = run_backward

    def probing(self, around) -> bool:
        """Start (``around``) or stop (None) one probe's use of the wrapper; False when the
        wrapper is not installed (someone else's patch of the engine entry)."""
        with self.lock:
            if around is None:
                self.probes = max(0, self.probes - 1)
                if not self.probes:
                    self.around = None
                return True
            if self.orig is None:
                return False
            self.probes += 1
            self.around = around
            return True

    def release(self):
        with self.lock:
            self.users -= 1
            if self.users or self.orig is None:
                return
            for n in self.NAMES:
                m = sys.modules.get(n)
                if getattr(m, "_engine_run_backward", None) is self.wrapper:
                    m._engine_run_backward = self.orig
            self.orig = self.wrapper = None


lean_backward = _LeanBackward()


def max_pool1d_guard(orig, slot):
    """``torch.max_pool1d`` without any dispatch mode takes a CPU fast path that refuses
    integer tensors; under a mode (ours) it goes through ``max_pool1d_with_indices``, which
    accepts them. For such inputs (nothing is counted for them anyway) the call runs with our
    modes off the stack, so it fails exactly as it does untraced. Installed through
    :mod:`kinkcheck.trace.patches` (``slot`` is unused: the guard is the same for all)."""

    @functools.wraps(orig)
    def max_pool1d(input, *args, **kwargs):
        if isinstance(input, torch.Tensor) and not input.is_floating_point() and input.device.type == "cpu":
            popped = pop_own_modes()
            try:
                return orig(input, *args, **kwargs)
            finally:
                push_back(popped)
        return orig(input, *args, **kwargs)

    return max_pool1d
