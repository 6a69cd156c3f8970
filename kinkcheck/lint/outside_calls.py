"""Functions that loss code in other checked files calls. A file reads what a parameter
holds from the calls it sees (``call_sites``): ``threshold_x0(x0)`` called only from a
sampling loop under ``no_grad`` in its own file would take data, while the training loss in
``losses.py`` hands it the prediction. Scope marks such functions in their own file's scope
set as ``"<qualname>#outside-calls"``, and the file's call sites then say nothing of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from kinkcheck.lint import argflow
from kinkcheck.lint.argflow import DATA_ATOM, DATA_PARAM, SETTING_PARAM

OUTSIDE_ENTRY = "#outside-calls"


def add_entries(world, scoped: dict[str, set[str]], loss: dict[str, set[str]] | None = None) -> None:
    """Mark, in each file's scope set, its module-level functions that loss code of another
    module (``loss``, by default what is in scope) calls with something that may carry
    gradient (``world`` is scope's view of every index; a test handing ``torch.randn(8)``
    hands data, as the file's own calls may)."""
    marked: dict[str, set[str]] = {}
    for path, qs in (loss if loss is not None else scoped).items():
        # the callers' parameters that every call from loss code hands data or settings
        data = argflow.parse(scoped.get(path, ()), DATA_PARAM, SETTING_PARAM)
        for q in qs:
            if "#" in q or q not in world.functions:
                continue  # an entry, or statements sliced out of a function
            ix, f = world.functions[q]
            if _test_code(ix.module, f.name):
                continue  # a test hands a helper whatever it checks it with
            calls = [(c[0], _may_carry(c, data.get(q, frozenset()))) for c in f.flow[1]] if f.flow \
                else [(r, True) for r in f.calls]
            for ref, carries in calls:
                for t in world.targets(ref) if carries else ():
                    tix, tf = world.functions[t]
                    # a function called by name; a method is reached through objects, and
                    # which override another module's `self.loss(...)` runs is a guess
                    if tix.module != ix.module and tf.class_qualname is None:
                        marked.setdefault(tix.path, set()).add(t + OUTSIDE_ENTRY)
    for path, entries in marked.items():
        if path in scoped:
            scoped[path].update(entries)


def _test_code(module: str, name: str) -> bool:
    """A test function, or any function of a test module (``tests/``, ``test_*.py``, ``*_test.py``)."""
    parts = module.split(".")
    return name.startswith("test") or any(p in ("test", "tests") for p in parts[:-1]) \
        or parts[-1].startswith("test_") or parts[-1].endswith("_test")


def _may_carry(call, data: frozenset[str]) -> bool:
    """A recorded call (``argflow.CallFlow``) hands on something other than data, settings and
    the caller's own parameters that only ever receive data (``data``), or hides its
    arguments behind ``*args``/``**kwargs``."""
    _target, npos, positional, keywords = call
    if npos < 0:
        return True
    for atoms in (*positional, *(a for _, a in keywords)):
        for atom in atoms:
            tag, _, param = atom.partition(":")
            if atom != DATA_ATOM and not (tag == "p" and param in data):
                return True
    return False


def parse(functions: Iterable[str]) -> frozenset[str]:
    """The qualnames scope marked as called from other files' loss code."""
    return frozenset(e.removesuffix(OUTSIDE_ENTRY) for e in functions if e.endswith(OUTSIDE_ENTRY))
