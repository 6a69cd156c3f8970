"""Name lookup for one function during indexing (``_Env``): locals shadow enclosing
functions, module names, imports and builtins."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.namespaces import NUMPY, factory_call
from kinkcheck.lint.resolve import BUILTIN_NAMES, dotted

if TYPE_CHECKING:
    from kinkcheck.lint.index import _Indexer


class _Env:
    """Name lookup for one function: locals shadow enclosing functions, module names,
    imports and builtins. Returns a qualified name, ``self:<class>`` or None (a value)."""

    def __init__(self, parent, bound, values, cls_qual, module, prefix=None, nested=None):
        self.parent = parent
        self.bound = bound
        self.values = values
        self.cls_qual = cls_qual
        self.module = module
        self.nested = nested or {}
        self._busy: set[str] = set()
        #: for the value pass (``callables``): the function's qualified name, its
        #: parameters and every binding of each local name
        self.qual: str | None = prefix
        self.params: frozenset[str] = frozenset()
        self.assigns: dict[str, list[ast.AST]] = {}
        self.annotations: dict[str, ast.AST] = {}
        self.defaults: list[tuple[str, ast.expr]] = []

    def lookup(self, name: str, ix: "_Indexer") -> str | None:
        if name in self.nested:
            ix.how = "def"
            return self.nested[name]
        if name in self.bound:
            if name == "self" and self.cls_qual:
                return f"self:{self.cls_qual}"
            value = self.values.get(name)
            if value is not None and name not in self._busy:
                self._busy.add(name)
                try:
                    if isinstance(value, (ast.Name, ast.Attribute)):
                        out = ix.resolve(value, self)
                        if ix.how == "instance":
                            ix.how = "attribute-of-instance" if "." in (dotted(value) or "") else "instance"
                        return out
                    if factory_call(value):
                        ix.how = "import"
                        return NUMPY  # `nx = get_backend(x, y)`: an array namespace
                    if isinstance(value, ast.Call):
                        ctor = ix.resolve(value.func, self)
                        if ix.how in ("instance", "attribute-of-instance"):
                            # `loss = criterion(out, y)` with `criterion = MyLoss()`: what calling
                            # an object returns (its forward's value), not another instance
                            ix.how = None
                            return None
                        if ctor and ctor.rsplit(".", 1)[-1][:1].isupper():
                            ix.how = "instance"
                            return ctor  # an instance: calling it calls the class
                finally:
                    self._busy.discard(name)
            return None
        if self.parent is not None:
            return self.parent.lookup(name, ix)
        if name in ix.exports:
            q = ix.exports[name]
            ix.how = "import" if name in ix.table.names or not q.startswith(ix.module) else "def"
            return q
        if name in ix.table.names:
            ix.how = "import"
            return ix.table.names[name]
        if name in BUILTIN_NAMES:
            ix.how = "builtin"
            return f"builtins.{name}"
        for star in ix.table.stars:
            ix.how = "star"
            return f"{star}.{name}"
        return None
