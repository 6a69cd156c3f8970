"""Run a per-file step again with room for deep nesting, so a file the parser accepts is
analysed instead of silently skipped.

The stdlib ``ast`` and the analyzer's walks recurse once per nesting level: a 1,000-branch
``elif`` chain (each ``elif`` is an ``If`` in the previous one's ``orelse``) or a
2,990-term sum exceeds CPython's default limit of 1,000. Most files never come close, so
a step first runs as usual; only on ``RecursionError`` does it run again in a thread with
a large C stack and a raised recursion limit. If even that is not enough, the caller gets
:class:`TooDeep` and reports KC001 naming the limit.
"""

from __future__ import annotations

import _thread
import sys
from typing import Callable, TypeVar

T = TypeVar("T")

#: nesting the retry allows (Python frames); its C stack is sized for it
DEEP_LIMIT = 40_000
DEEP_STACK = 512 * 1024 * 1024

_LOCK = _thread.allocate_lock()  # threading.Lock; threading itself is imported by a retry only


class TooDeep(RecursionError):
    """Nested deeper than even the retry allows."""

    def __init__(self, limit: int = DEEP_LIMIT):
        super().__init__(f"nested more than {limit:,} levels deep")
        self.limit = limit


def run(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``, retried with room for deep nesting on RecursionError."""
    try:
        return fn(*args, **kwargs)
    except RecursionError:
        pass
    return run_deep(fn, *args, **kwargs)


def run_deep(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn`` in a thread with a large stack and a raised recursion limit (restored after;
    one such run at a time, since the limit is process-wide)."""
    import threading

    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except RecursionError:
            box["error"] = TooDeep()
        except BaseException as exc:  # handed back to the caller's thread as it is
            box["error"] = exc

    with _LOCK:
        old_limit = sys.getrecursionlimit()
        old_stack = threading.stack_size()
        try:
            threading.stack_size(DEEP_STACK)
            sys.setrecursionlimit(max(old_limit, DEEP_LIMIT))
            worker = threading.Thread(target=target, name="kinkcheck-deep")
            worker.start()
            worker.join()
        finally:
            threading.stack_size(old_stack)
            sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]
    return box["value"]
