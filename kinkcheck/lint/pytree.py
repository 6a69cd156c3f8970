"""Static fields of JAX pytrees: attributes JAX never traces.

A pytree's auxiliary data is hashed into jit's cache key and handed back unchanged by
``tree_unflatten``: it is never a tracer, so it is a setting and carries no gradient, whatever
its annotation (``p: float``) says. The class says which attributes those are, in one of four
documented ways:

- ``tree_flatten`` returns ``(children, aux_data)``: the ``self.<attr>`` read in ``aux_data``
  are static, and when ``children`` is empty (``return (), (self.p,)``) no attribute is traced
  (``tree_unflatten`` rebuilds the instance from ``aux_data`` alone);
- flax: ``power: float = struct.field(pytree_node=False)``;
- equinox: ``temperature: float = eqx.field(static=True)`` (or ``eqx.static_field()``);
- ``jax.tree_util.register_dataclass(cls, data_fields=[...], meta_fields=[...])``, as a
  decorator (``functools.partial(register_dataclass, ...)``) or a call on the class.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kinkcheck.syntax import dotted

if TYPE_CHECKING:
    from kinkcheck.lint.context import FileAnalysis


@dataclass(frozen=True, slots=True)
class StaticFields:
    """What a pytree class keeps static: ``names``, or every attribute (``everything``)."""

    names: frozenset[str] = frozenset()
    everything: bool = False

    def __contains__(self, attr: str) -> bool:
        return self.everything or attr in self.names


NONE = StaticFields()


def static_fields(fa: FileAnalysis, cls_qual: str) -> StaticFields:
    """The static fields of class ``cls_qual`` of this file (memoized per file), with what its
    in-file bases declare: a ``tree_flatten`` of the class's own wins over a base's."""
    memo: dict[str, StaticFields] = fa.__dict__.setdefault("_static_fields", {})
    if cls_qual not in memo:
        memo[cls_qual] = NONE  # a base cycle adds nothing
        memo[cls_qual] = _static_fields(fa, cls_qual)
    return memo[cls_qual]


def _static_fields(fa: FileAnalysis, cls_qual: str) -> StaticFields:
    node = fa.class_node(cls_qual)
    if node is None:
        return NONE
    names = set(_declared(node)) | set(_registered(node, fa.tree))
    flatten = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "tree_flatten"), None)
    own = _flattened(flatten) if flatten is not None else None
    everything = bool(own and own.everything)
    if own is not None:
        names |= own.names
    for base in fa.ix.classes.get(cls_qual, ()):
        if base != cls_qual and fa.class_node(base) is not None:
            inherited = static_fields(fa, base)
            names |= inherited.names
            everything = everything or (own is None and inherited.everything)
    return StaticFields(frozenset(names), everything) if names or everything else NONE


def _declared(node: ast.ClassDef):
    """``x: float = struct.field(pytree_node=False)``, ``eqx.field(static=True)``."""
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(stmt.value, ast.Call)):
            continue
        tail = (dotted(stmt.value.func) or "").rsplit(".", 1)[-1]
        kw = {k.arg: k.value for k in stmt.value.keywords if k.arg}
        if tail == "static_field" or (tail == "field" and (
                _is_const(kw.get("pytree_node"), False) or _is_const(kw.get("static"), True))):
            yield stmt.target.id


def _registered(node: ast.ClassDef, tree: ast.AST):
    """``meta_fields`` of ``register_dataclass`` applied to the class."""
    calls = [d for d in node.decorator_list if isinstance(d, ast.Call)]
    calls += [s.value for s in getattr(tree, "body", ())
              if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) and s.value.args
              and isinstance(s.value.args[0], ast.Name) and s.value.args[0].id == node.name]
    for call in calls:
        names = [dotted(call.func) or "", *(dotted(a) or "" for a in call.args[:1])]
        if not any(n.rsplit(".", 1)[-1] == "register_dataclass" for n in names):
            continue
        for k in call.keywords:
            if k.arg == "meta_fields" and isinstance(k.value, (ast.List, ast.Tuple)):
                yield from (e.value for e in k.value.elts
                            if isinstance(e, ast.Constant) and isinstance(e.value, str))


def _flattened(fn: ast.FunctionDef) -> StaticFields | None:
    """What ``tree_flatten`` keeps as aux data; None when its returns cannot be read."""
    local: dict[str, ast.AST] = {}
    names: set[str] = set()
    everything = True
    seen = False
    for stmt in ast.walk(fn):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            local[stmt.targets[0].id] = stmt.value
    for ret in (n for n in ast.walk(fn) if isinstance(n, ast.Return)):
        value = ret.value
        if not (isinstance(value, ast.Tuple) and len(value.elts) == 2):
            return None
        children, aux = (local.get(e.id, e) if isinstance(e, ast.Name) else e for e in value.elts)
        seen = True
        names |= _self_attrs(aux) - _self_attrs(children)  # `(self.x,), (self.x.shape,)`: x is traced
        everything = everything and (isinstance(children, (ast.Tuple, ast.List)) and not children.elts
                                     or _is_const(children, None))
    return StaticFields(frozenset(names), everything) if seen else None


def _self_attrs(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"}


def _is_const(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value
