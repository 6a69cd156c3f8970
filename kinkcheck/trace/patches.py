"""Attribute patches shared by every running trace: one wrapper per attribute, installed by the
first trace that needs it and put back, as the very object it replaced, by the last.

Each trace patching ``np.abs`` on its own would save whatever it found there (another trace's
wrapper, when traces overlap) and put that back on exit: traces that exit out of order, or in
other threads, would leave a wrapper behind for good. Here the original is saved once, traces
only join and leave a slot's listeners, and the slot is reference-counted under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_slots: dict[tuple[int, str], Slot] = {}


class Slot:
    """One patched attribute: the original, what was installed, and who is listening.

    ``listeners`` is a tuple, replaced (never mutated) on every change, so a wrapper reads it
    without taking the lock."""

    __slots__ = ("attr", "installed", "listeners", "orig", "owner")

    def __init__(self, owner: object, attr: str, orig: Any):
        self.owner, self.attr, self.orig = owner, attr, orig
        self.installed: Any = None
        self.listeners: tuple = ()


def join(owner: object, attr: str, make: Callable[[Any, Slot], Any], listener: object) -> Slot:
    """Add ``listener`` to the patch of ``owner.attr``; the first listener installs
    ``make(original, slot)`` in place of the attribute."""
    with _lock:
        key = (id(owner), attr)
        slot = _slots.get(key)
        if slot is None:
            slot = Slot(owner, attr, getattr(owner, attr))
            slot.installed = make(slot.orig, slot)
            setattr(owner, attr, slot.installed)
            _slots[key] = slot
        slot.listeners = (*slot.listeners, listener)
        return slot


def leave(slot: Slot, listener: object) -> None:
    """Remove ``listener``; the last one puts the original back (unless someone else has
    replaced our wrapper since: theirs stays, and ours, inside it, just calls through)."""
    with _lock:
        slot.listeners = tuple(x for x in slot.listeners if x is not listener)
        if slot.listeners:
            return
        key = (id(slot.owner), slot.attr)
        if _slots.get(key) is slot:
            del _slots[key]
        if getattr(slot.owner, slot.attr, None) is slot.installed:
            setattr(slot.owner, slot.attr, slot.orig)


def active() -> list[str]:
    """``module.attr`` of every attribute patched right now (for tests and debugging)."""
    with _lock:
        return sorted(f"{getattr(s.owner, '__name__', s.owner)}.{s.attr}" for s in _slots.values())
