"""Fill one remedy template for one site: the one filler the analyzer, the outputs and the
report share.

A template (``torch.sqrt({x} * {x} + eps * eps) - eps``) names site bindings in braces and
constants as bare names listed in the remedy's ``params`` (with their documented
defaults). Filling works on syntax trees: the template is translated to the site's library
and spelled with the file's imports, each binding gets the user's own expression (once: an
expression named twice is bound with ``:=`` on first use, so ``model(x)`` is not evaluated
twice), each constant the value the call gives (an ``eps`` the code already adds) or its
default, and a missing ``dim`` / ``keepdim`` drops its argument. A template that would keep
any other free name is not concrete for the site.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.remedy.bindings import Bindings, with_operand
from kinkcheck.remedy.frameworks import Spelling, Untranslatable, respell, translate

_PLACEHOLDER = lazy_pattern(r"\{([A-Za-z_]\w*)\}")
_MARK = "__kc_{}__"
_UNMARK = lazy_pattern(r"^__kc_(\w+?)__$")
#: bindings that drop their argument when the site has none (a full reduction)
_OPTIONAL = frozenset({"dim", "keepdim"})
#: short names for expressions bound with ``:=`` (``_x`` unless the file uses it)
_SHORT = {"x": "x", "other": "y", "lhs": "l", "rhs": "r", "then": "t", "else": "e", "lo": "lo", "hi": "hi",
          "base": "b", "logits": "z", "call": "c", "variance": "v"}


@dataclass(frozen=True)
class Outcome:
    """A filled rewrite, or why there is none for this site (``reason``)."""

    text: str | None
    reason: str = ""
    needs: tuple[str, ...] = ()


def parse_template(template: str) -> ast.Expression | None:
    try:
        return ast.parse(_PLACEHOLDER.sub(lambda m: _MARK.format(m.group(1)), template), mode="eval")
    except SyntaxError:
        return None


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def free_names(template: str, params) -> set[str]:
    """Names in a torch template that are neither bindings, params nor library modules."""
    tree = parse_template(template)
    if tree is None:
        return {"<syntax error>"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return {n for n in names if not _UNMARK.match(n) and n not in params and n not in ("torch", "jax", "numpy", "math")}


def fill(template: str, *, params: dict[str, float], bindings: Bindings, framework: str, translated: bool,
         spelling: Spelling, taken: Callable[[str], bool] = lambda name: False) -> Outcome:
    """``template`` (torch, or already in ``framework`` when ``translated``) filled for the
    site. ``taken(name)`` says whether the file already uses a name (no ``:=`` over it)."""
    parsed = parse_template(template)
    if parsed is None:
        return Outcome(None, "the template does not parse")
    tree: ast.AST = parsed
    if not translated:
        try:
            tree = translate(tree, framework)
        except Untranslatable as exc:
            return Outcome(None, f"no {framework} spelling of {exc.args[0]}")
    tree = respell(tree, spelling)
    modules = {name.split(".")[0] for name in spelling.by_qname.values()} | set(spelling.by_qname.values())
    wanted = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for name in wanted:
        mark = _UNMARK.match(name)
        if mark:
            key = mark.group(1)
            if key not in bindings.values and key not in _OPTIONAL and key not in params:
                return Outcome(None, f"the site has no {{{key}}}")
        elif name not in params and not _library_name(name, spelling, modules):
            return Outcome(None, f"{name} is not defined at the site")
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        found = _UNMARK.match(node.id) if isinstance(node, ast.Name) else None
        if found:
            key = found.group(1)
            counts[key] = counts.get(key, 0) + 1
    if "call" in counts:  # {call} holds the operand: {x} is named once more per {call}
        counts["x"] = counts.get("x", 0) + counts["call"]
    names: dict[str, str] = {}
    for key, n in counts.items():
        if n > 1 and key in bindings.values and not _simple(bindings.values[key]):
            names[key] = _fresh(_SHORT.get(key, key), taken, set(names.values()))
    sub = _Substitute(bindings, params, names)
    tree = sub.visit(tree)
    tree = _drop_optional(tree, sub.user)
    tree = _Simplify(sub.user).visit(tree)
    try:
        text = ast.unparse(tree)
    except (ValueError, RecursionError):
        return Outcome(None, "the rewrite cannot be written out")
    return Outcome(text, needs=tuple(sorted(spelling.needs)))


def _library_name(name: str, spelling: Spelling, modules: set[str]) -> bool:
    return name in spelling.by_qname.values() or name in modules or (
        not spelling.known and name in ("torch", "jnp", "np", "jax", "math")) or name in ("torch", "jax", "numpy",
                                                                                          "math")


def _simple(node: ast.AST) -> bool:
    """Evaluated twice at no cost and with the same value: a name, a constant, ``self.w``."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return True
    if isinstance(node, ast.Attribute):
        return _simple(node.value)
    if isinstance(node, ast.Tuple):  # dim=(-2, -1)
        return all(_simple(e) for e in node.elts)
    return False


def _fresh(base: str, taken: Callable[[str], bool], used: set[str]) -> str:
    name, n = f"_{base}", 1
    while taken(name) or name in used:
        n += 1
        name = f"_{base}{n}"
    return name


class _Substitute(ast.NodeTransformer):
    """Bindings in (the first use of a repeated one as ``(_x := ...)``), params as numbers.
    The user's nodes go in as they are, shared with the analyzer's tree: ``user`` holds
    their ids, and nothing after this pass looks inside them."""

    def __init__(self, bindings: Bindings, params: dict[str, float], names: dict[str, str]):
        self.bindings, self.values, self.params, self.names = bindings, bindings.values, params, names
        self.bound: set[str] = set()
        self.user: set[int] = set()

    def visit_Name(self, node: ast.Name):
        mark = _UNMARK.match(node.id)
        if mark:
            key = mark.group(1)
            if key in self.values:
                return self._binding(key)
            if key in self.params:
                return _number(self.params[key])
            return node  # an optional binding the site lacks: dropped below
        if node.id in self.params:
            if node.id in self.values:  # taken from the code (an eps it already adds)
                return self._binding(node.id)
            return _number(self.params[node.id])
        return node

    def _binding(self, key: str) -> ast.expr:
        value: ast.AST
        if key == "call" and self.bindings.operand is not None:  # {call} holds {x}: one evaluation
            value = with_operand(self.values["call"], self.bindings.operand, self._binding("x"))
        else:
            value = self.values[key]
        assert isinstance(value, ast.expr)
        self.user.add(id(value))
        if key not in self.names:
            return value
        name = self.names[key]
        if key in self.bound:
            return ast.Name(id=name, ctx=ast.Load())
        self.bound.add(key)
        return ast.NamedExpr(target=ast.Name(id=name, ctx=ast.Store()), value=value)


def _number(value: float) -> ast.expr:
    node = ast.Constant(value=float(value))
    return node if value >= 0 else ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=-float(value)))


def _drop_optional(tree: ast.AST, user: set[int]) -> ast.AST:
    """A ``{dim}`` / ``{keepdim}`` the site does not have: the argument goes (in the
    template's own calls; the user's code is not looked into)."""
    def missing(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and bool(_UNMARK.match(node.id))

    todo = [tree]
    while todo:
        node = todo.pop()
        if id(node) in user:
            continue
        if isinstance(node, ast.Call):
            node.args = [a for a in node.args if not missing(a)]
            node.keywords = [k for k in node.keywords if not missing(k.value)]
        todo.extend(ast.iter_child_nodes(node))
    return tree


class _Simplify(ast.NodeTransformer):
    """Constants folded (``1e-3 * 1e-3`` -> ``1e-06``) and ``0 +`` / ``- 0`` dropped, so a
    floor of 0 reads ``softplus(x)``, not ``0.0 + softplus(x - 0.0)``."""

    def __init__(self, user: set[int]):
        self.user = user

    def visit(self, node):
        return node if id(node) in self.user else super().visit(node)

    def visit_BinOp(self, node: ast.BinOp):
        self.generic_visit(node)
        left, right = _const(node.left), _const(node.right)
        if left is not None and right is not None:
            value = _fold(node.op, left, right)
            return node if value is None else _number(value)
        if isinstance(node.op, (ast.Add, ast.Sub)) and right is not None and right < 0:
            node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()  # x - -1.0 -> x + 1.0
            right = -right
            node.right = _number(right)
        if isinstance(node.op, ast.Add) and left == 0:
            return node.right
        if isinstance(node.op, (ast.Add, ast.Sub)) and right == 0:
            return node.left
        return node

    def visit_Constant(self, node: ast.Constant):
        return node


def _fold(op: ast.operator, left: float, right: float) -> float | None:
    if isinstance(op, ast.Mult):
        return left * right
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Div) and right != 0:
        return left / right
    return None


def _const(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _const(node.operand)
        return -inner if inner is not None else None
    return None


def tidy(text: str) -> str:
    """Numbers as a person writes them: ``1e-06`` -> ``1e-6``, ``100.0`` stays."""
    return re.sub(r"(?<![\w.])(\d+(?:\.\d+)?)e([+-])0*(\d+)", lambda m: f"{m.group(1)}e{m.group(2) if m.group(2) == '-' else ''}{m.group(3)}", text)
