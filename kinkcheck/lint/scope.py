"""What is loss code: roots, and the callees of roots across the checked files.

Roots (from the index): functions named like loss/objective/criterion, ``forward`` /
``__call__`` of loss modules, ``@kinkcheck.loss`` and ``# kinkcheck: loss``, functions
handed to ``jax.grad`` & co., config ``loss-functions``, and the statements that compute
what ``.backward()`` / ``torch.autograd.grad`` differentiate (the function that contains
them is in scope as ``"<qualname>#slice"``: only those statements are checked, so the
``loss.item()`` printed next to them is not). Callees of roots are followed through the
import tables and re-exports of the checked files, ``max_depth`` calls deep.
"""

from __future__ import annotations

import fnmatch
from collections import deque

from kinkcheck.lint.index import FORWARD_NAMES, MODULE_CODE, FileIndex, FunctionInfo

SCOPES = ("loss", "model", "all")
SLICE = "#slice"


class _World:
    """Every function of the checked files, addressable by qualified name."""

    def __init__(self, indexes: list[FileIndex]):
        self.functions: dict[str, tuple[FileIndex, FunctionInfo]] = {}
        self.modules: dict[str, FileIndex] = {}
        self.classes: dict[str, tuple[str, ...]] = {}
        for ix in indexes:
            self.modules[ix.module] = ix
            self.classes.update(ix.classes)
            for q, f in ix.functions.items():
                self.functions[q] = (ix, f)

    def targets(self, qname: str, hops: int = 6) -> list[str]:
        """The functions a call to ``qname`` may run: the function itself, a class's
        forward/__call__/__init__, a method inherited from a checked base class, or what
        a re-export stands for."""
        seen: set[str] = set()
        todo = [qname]
        out: list[str] = []
        while todo and hops > 0:
            q = todo.pop()
            if q in seen:
                continue
            seen.add(q)
            if q in self.functions:
                out.append(q)
                continue
            if q in self.classes:
                for name in FORWARD_NAMES:
                    todo.append(f"{q}.{name}")
                continue
            cls, _, meth = q.rpartition(".")
            if cls in self.classes:
                todo.extend(f"{base}.{meth}" for base in self.classes[cls])
                continue
            hops -= 1
            nxt = self._reexport(q)
            if nxt:
                todo.append(nxt)
        return out

    def _reexport(self, qname: str) -> str | None:
        parts = qname.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            ix = self.modules.get(".".join(parts[:cut]))
            if ix is None:
                continue
            target = ix.exports.get(parts[cut])
            if target and target != ".".join(parts[: cut + 1]):
                return ".".join([target, *parts[cut + 1 :]])
            return None
        return None


def _configured(f: FunctionInfo, patterns: tuple[str, ...]) -> bool:
    for pat in patterns:
        if f.qualname == pat or f.qualname.endswith("." + pat) or fnmatch.fnmatchcase(f.qualname, pat) or fnmatch.fnmatchcase(f.name, pat):
            return True
    return False


def loss_scope(
    indexes: list[FileIndex],
    *,
    scope: str = "loss",
    loss_functions: tuple[str, ...] = (),
    max_depth: int = 3,
) -> dict[str, frozenset[str]]:
    """path -> qualnames in scope (``"<q>#slice"`` for backward-only statements)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r} (expected one of {', '.join(SCOPES)})")
    if scope == "all":
        return {ix.path: frozenset(ix.functions) for ix in indexes if ix.functions}
    world = _World(indexes)
    whole: dict[str, int] = {}  # qualname -> depth reached
    sliced: set[str] = set()
    queue: deque[tuple[str, int]] = deque()

    def add(q: str, depth: int) -> None:
        if q in whole and whole[q] <= depth:
            return
        if depth and scope == "loss" and world.functions[q][1].model_forward:
            return  # calling the network inside the loss does not make its forward loss code
        whole[q] = depth
        queue.append((q, depth))

    for q, (ix, f) in world.functions.items():
        if f.root == "backward" and not _configured(f, loss_functions):
            sliced.add(q)
        elif f.root or _configured(f, loss_functions) or (scope == "model" and f.model_forward):
            add(q, 0)
    for ix in indexes:
        for target in ix.grad_targets:
            for q in world.targets(target):
                add(q, 0)
    for q in sliced:
        if q in whole:
            continue
        _, f = world.functions[q]
        for call in f.slice_calls:
            for t in world.targets(call):
                add(t, 1)
    while queue:
        q, depth = queue.popleft()
        if depth >= max_depth:
            continue
        _, f = world.functions[q]
        for call in f.calls:
            for t in world.targets(call):
                add(t, depth + 1)
    out: dict[str, set[str]] = {}
    for q in whole:
        ix, _ = world.functions[q]
        out.setdefault(ix.path, set()).add(q)
    for q in sliced:
        if q not in whole:
            ix, _ = world.functions[q]
            out.setdefault(ix.path, set()).add(q + SLICE)
    return {path: frozenset(qs) for path, qs in out.items()}


__all__ = ["loss_scope", "SCOPES", "SLICE", "MODULE_CODE"]
