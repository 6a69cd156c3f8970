"""Functions that loss code in other checked files calls. A file reads what a parameter
holds from the calls it sees (``call_sites``): ``threshold_x0(x0)`` called only from a
sampling loop under ``no_grad`` in its own file would take data, while the training loss in
``losses.py`` hands it the prediction. Scope marks such functions in their own file's scope
set as ``"<qualname>#outside-calls"``, and the file's call sites then say nothing of them.
"""

from __future__ import annotations

from collections.abc import Iterable

OUTSIDE_ENTRY = "#outside-calls"


def add_entries(world, scoped: dict[str, set[str]]) -> None:
    """Mark, in each file's scope set, its module-level functions that a function in scope of
    another module calls (``world`` is scope's view of every index)."""
    marked: dict[str, set[str]] = {}
    for qs in scoped.values():
        for q in qs:
            if "#" in q or q not in world.functions:
                continue  # an entry, or statements sliced out of a function
            ix, f = world.functions[q]
            for ref in f.calls:
                for t in world.targets(ref):
                    tix, tf = world.functions[t]
                    # a function called by name; a method is reached through objects, and
                    # which override another module's `self.loss(...)` runs is a guess
                    if tix.module != ix.module and tf.class_qualname is None:
                        marked.setdefault(tix.path, set()).add(t + OUTSIDE_ENTRY)
    for path, entries in marked.items():
        if path in scoped:
            scoped[path].update(entries)


def parse(functions: Iterable[str]) -> frozenset[str]:
    """The qualnames scope marked as called from other files' loss code."""
    return frozenset(e.removesuffix(OUTSIDE_ENTRY) for e in functions if e.endswith(OUTSIDE_ENTRY))
