"""Settings records: a dataclass or NamedTuple of the checked file whose fields are declared as
Python numbers (``@dataclass class LossConfig: margin: float = 1.0``). A loss that takes one
(``def loss(sim, cfg: LossConfig)``) reads hyperparameters off it: ``cfg.margin`` is a
setting, so ``if cfg.margin > 0:`` is no branch on the loss and ``sim / cfg.temperature`` no
pole. ``kinds`` asks this for an attribute of a parameter annotated with such a class.

Only plain records count. A pytree (``flax.struct.dataclass``, ``chex.dataclass``, an
equinox module, a class handed to ``jax.tree_util.register_*``, a NamedTuple in JAX or
``torch.func`` code) is traced leaf by leaf under ``jax.grad``, whatever its annotations say,
and a class with other bases may hold anything. The annotation is taken at its word: a field
declared ``float`` that holds a learnable tensor is the author's error, as it is for a
parameter annotated so.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.lint.resolve import PLAIN, annotation_kind, dotted

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context, FileAnalysis

#: decorators that make a class a plain record (the standard library's and attrs')
_RECORD_DECORATORS = frozenset({"dataclasses.dataclass", "attr.s", "attr.attrs", "attr.define", "attr.frozen",
                                "attrs.define", "attrs.frozen", "attr.mutable", "attrs.mutable"})
#: bases that make a class a plain record
_RECORD_BASES = frozenset({"typing.NamedTuple", "NamedTuple"})
#: how many names an annotation or an alias of one is read through
_ALIAS_DEPTH = 3


def record_setting(ctx: "Context", node: ast.Attribute) -> bool:
    """``cfg.margin`` where ``cfg`` is a parameter of the function, never rebound, annotated
    with settings records of this file (``RenyiAlpha``, ``KL | RenyiAlpha``, a module alias
    of such a union), and every one of them that has the field declares it a Python number
    (a record without the field would raise on the read, so it holds none there)."""
    holder = node.value
    if not (isinstance(holder, ast.Name) and holder.id in ctx.params and holder.id not in ctx.assignments()):
        return False
    classes = _annotated_classes(ctx, ctx.params[holder.id][0], _ALIAS_DEPTH)
    if not classes or not all(_plain_record(ctx.fa, c) for c in classes):
        return False
    declared = [d for d in (_field_annotation(ctx.fa, c, node.attr) for c in classes) if d is not None]
    return bool(declared) and all(annotation_kind(d) == PLAIN for d in declared)


def _annotated_classes(ctx: "Context", ann: ast.AST | None, depth: int) -> list[str] | None:
    """The classes of this file an annotation names: ``X``, ``"X"``, ``X | Y``,
    ``Optional[X]``, ``Union[X, Y]``, or a module-level alias of those; None when it names
    anything else (a library type, a type variable)."""
    if ann is None or depth < 0:
        return None
    if isinstance(ann, ast.Constant) and ann.value is None:
        return []
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        try:
            return _annotated_classes(ctx, ast.parse(ann.value, mode="eval").body, depth - 1)
        except SyntaxError:
            return None
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        return _union(ctx, [ann.left, ann.right], depth)
    if isinstance(ann, ast.Subscript) and (dotted(ann.value) or "").rsplit(".", 1)[-1] in ("Optional", "Union"):
        members = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        return _union(ctx, members, depth)
    if not isinstance(ann, ast.Name):
        return None
    q = ctx.qualify(ann)
    if q in ctx.fa.ix.classes:
        return [q]
    from kinkcheck.lint.kinds_members import module_context

    alias = module_context(ctx.fa).definition(ann.id)  # `Objective = KL | RenyiAlpha`, bound once
    return _annotated_classes(ctx, alias, depth - 1) if alias is not None else None


def _union(ctx: "Context", members: list[ast.expr], depth: int) -> list[str] | None:
    out: list[str] = []
    for m in members:
        got = _annotated_classes(ctx, m, depth)
        if got is None:
            return None
        out += got
    return out


def _plain_record(fa: "FileAnalysis", cls: str) -> bool:
    """A module-level class of this file built as a plain record (a standard-library or attrs
    dataclass, a NamedTuple) with no other decorator or base, that no call in the file
    registers as a pytree (memoized per file)."""
    memo = fa.__dict__.setdefault("_plain_records", {})
    if cls not in memo:
        node = fa.class_node(cls)
        memo[cls] = node is not None and _record_shape(fa, cls, node) and not _registered(fa, node.name)
    return memo[cls]


def _record_shape(fa: "FileAnalysis", cls: str, node: ast.ClassDef) -> bool:
    """Decorated only as a dataclass (``@dataclass(frozen=True)``, resolved through the
    file's imports: ``flax.struct.dataclass`` is a pytree), or derived only from NamedTuple
    in a file that does not use JAX."""
    from kinkcheck.lint.kinds_members import module_context

    module = module_context(fa)
    decorators = [module.qualify(d.func if isinstance(d, ast.Call) else d) or "" for d in node.decorator_list]
    bases = fa.ix.classes.get(cls, ())
    by_decorator = bool(decorators) and all(d in _RECORD_DECORATORS for d in decorators) and not bases
    # a NamedTuple is a tuple, a pytree to JAX and to torch.func: under `jax.grad` or
    # `torch.func.grad` its fields are traced
    by_base = not decorators and bool(bases) and all(b in _RECORD_BASES for b in bases) \
        and not fa.jax and not _transforms_pytrees(fa)
    return by_decorator or by_base


def _transforms_pytrees(fa: "FileAnalysis") -> bool:
    """The file imports torch's function transforms (``torch.func``, ``functorch``), which
    differentiate tuples leaf by leaf."""
    names = [*fa.ix.table.names.values(), *fa.ix.table.stars]
    return any(q.startswith(("torch.func", "functorch")) for q in names)


def _registered(fa: "FileAnalysis", name: str) -> bool:
    """A call in the file hands the class to a registration (``register_pytree_node(C, ...)``,
    ``register_dataclass(C, ...)``): its instances are pytrees."""
    return any(isinstance(n, ast.Call) and "register" in (dotted(n.func) or "").rsplit(".", 1)[-1]
               and any(isinstance(a, ast.Name) and a.id == name for a in n.args) for n in ast.walk(fa.tree))


def _field_annotation(fa: "FileAnalysis", cls: str, attr: str) -> ast.expr | None:
    """The annotation the class body gives the field ``attr`` (None when it has no such field)."""
    node = fa.class_node(cls)
    for st in node.body if node is not None else ():
        if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.target.id == attr:
            return st.annotation
    return None
