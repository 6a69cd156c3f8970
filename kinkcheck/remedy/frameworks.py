"""A remedy template is written in torch; a JAX or NumPy site gets it in its own library.

The translation works on the template's syntax tree before the user's code goes in, so the
user's own expressions are never touched: module functions by a table, ``dim=`` as
``axis=``, ``keepdim=`` as ``keepdims=``, ``.clamp_min(e)`` as ``maximum(x, e)``,
``.detach()`` as ``jax.lax.stop_gradient``. A template with a piece the target library
has no spelling for is not offered there (a rule can give its own ``jax`` / ``numpy``
template instead). The qualified names are then spelled with the names the file imports
(``F.softplus`` where ``import torch.nn.functional as F``).
"""

from __future__ import annotations

import ast

from kinkcheck.syntax import dotted

FRAMEWORKS = ("torch", "jax", "numpy")

#: torch functions of remedy templates -> their jax / numpy qualified names
FUNCTIONS: dict[str, dict[str, str]] = {
    "jax": {
        "torch.sqrt": "jax.numpy.sqrt", "torch.log": "jax.numpy.log", "torch.exp": "jax.numpy.exp",
        "torch.tanh": "jax.numpy.tanh", "torch.sigmoid": "jax.nn.sigmoid", "torch.where": "jax.numpy.where",
        "torch.logaddexp": "jax.numpy.logaddexp", "torch.acos": "jax.numpy.arccos",
        "torch.asin": "jax.numpy.arcsin", "torch.atan2": "jax.numpy.arctan2", "torch.sign": "jax.numpy.sign",
        "torch.round": "jax.numpy.round", "torch.sin": "jax.numpy.sin", "torch.logsumexp": "jax.nn.logsumexp",
        "torch.nn.functional.silu": "jax.nn.silu", "torch.nn.functional.log_softmax": "jax.nn.log_softmax",
        "torch.nn.functional.logsigmoid": "jax.nn.log_sigmoid", "torch.linalg.vector_norm": "jax.numpy.linalg.norm",
        "torch.zeros_like": "jax.numpy.zeros_like", "torch.any": "jax.numpy.any",
    },
    "numpy": {
        "torch.sqrt": "numpy.sqrt", "torch.log": "numpy.log", "torch.exp": "numpy.exp", "torch.tanh": "numpy.tanh",
        "torch.where": "numpy.where", "torch.logaddexp": "numpy.logaddexp", "torch.acos": "numpy.arccos",
        "torch.asin": "numpy.arcsin", "torch.atan2": "numpy.arctan2", "torch.sign": "numpy.sign",
        "torch.round": "numpy.round", "torch.sin": "numpy.sin", "torch.linalg.vector_norm": "numpy.linalg.norm",
        "torch.zeros_like": "numpy.zeros_like", "torch.any": "numpy.any",
    },
}
#: the module a framework's array functions live in, for methods turned into functions
_ARRAY_MODULE = {"jax": "jax.numpy", "numpy": "numpy"}
#: tensor methods of templates that arrays of the other libraries lack: method -> function
_METHOD_AS_FUNCTION = {"clamp_min": "maximum", "clamp_max": "minimum", "clamp": "clip"}
_KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}


class Untranslatable(Exception):
    """The template has a piece the target library cannot say."""


def name_node(qualified: str) -> ast.expr:
    parts = qualified.split(".")
    node: ast.expr = ast.Name(id=parts[0], ctx=ast.Load())
    for part in parts[1:]:
        node = ast.Attribute(value=node, attr=part, ctx=ast.Load())
    return node


class _Translate(ast.NodeTransformer):
    def __init__(self, framework: str):
        self.framework = framework
        self.table = FUNCTIONS[framework]

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        func = node.func
        name = dotted(func)
        if name is not None and name.startswith("torch."):
            return node  # already renamed by visit_Attribute below
        if isinstance(func, ast.Attribute):
            method = func.attr
            if method in _METHOD_AS_FUNCTION:
                fn = name_node(f"{_ARRAY_MODULE[self.framework]}.{_METHOD_AS_FUNCTION[method]}")
                return ast.Call(func=fn, args=[func.value, *node.args], keywords=node.keywords)
            if method == "detach":
                if self.framework != "jax":
                    raise Untranslatable("detach")
                return ast.Call(func=name_node("jax.lax.stop_gradient"), args=[func.value], keywords=[])
        _rename_keywords(node)
        return node

    def visit_Attribute(self, node: ast.Attribute):
        name = dotted(node)
        if name is not None and name.startswith("torch"):
            if name not in self.table:
                raise Untranslatable(name)
            return name_node(self.table[name])
        self.generic_visit(node)
        return node

    def visit_Name(self, node: ast.Name):
        if node.id == "torch":
            raise Untranslatable("torch")
        return node


def translate(tree: ast.AST, framework: str) -> ast.AST:
    """The torch template ``tree`` in ``framework``; :class:`Untranslatable` if it cannot be."""
    if framework == "torch":
        return tree
    out = _Translate(framework).visit(tree)
    for node in ast.walk(out):  # torch keywords left on calls that were not renamed
        if isinstance(node, ast.Call):
            _rename_keywords(node)
    return out


def _rename_keywords(call: ast.Call) -> None:
    for kw in call.keywords:
        if kw.arg is not None:
            kw.arg = _KEYWORDS.get(kw.arg, kw.arg)


def framework_of(qname: str | None, imported: dict[str, str]) -> str:
    """The array library of a site: its callable's, else the first the file imports."""
    top = (qname or "").split(".")[0]
    if top in FRAMEWORKS:
        return top
    roots = {q.split(".")[0] for q in imported.values()}
    return next((f for f in FRAMEWORKS if f in roots), "torch")


#: spellings used when a file's imports are not known (a line of source in a report)
DEFAULT_SPELLINGS = {"torch": "torch", "jax": "jax", "jax.numpy": "jnp", "numpy": "np", "math": "math",
                     "torch.nn.functional": "torch.nn.functional"}


class Spelling:
    """Qualified names spelled with the file's own imports: the longest imported prefix
    (``torch.nn.functional`` bound as ``F``), else the module as written if its root is
    imported, else ``needs`` records the import the rewrite would need."""

    def __init__(self, imported: dict[str, str] | None):
        self.known = imported is not None
        self.by_qname: dict[str, str] = {}
        for local, qualified in (imported or {}).items():
            # a module under its own name (``import torch``), else its shortest local name
            mine = self.by_qname.get(qualified)
            if mine == qualified:
                continue
            if mine is None or local == qualified or len(local) < len(mine):
                self.by_qname[qualified] = local
        self.needs: set[str] = set()

    def spell(self, qualified: str) -> str:
        parts = qualified.split(".")
        # a module the file imports first (``T.sqrt``), the function itself only without one
        for n in [*range(len(parts) - 1, 0, -1), len(parts)]:
            prefix = ".".join(parts[:n])
            if prefix in self.by_qname:
                return ".".join([self.by_qname[prefix], *parts[n:]])
        if not self.known:
            for n in range(len(parts), 0, -1):
                prefix = ".".join(parts[:n])
                if prefix in DEFAULT_SPELLINGS:
                    return ".".join([DEFAULT_SPELLINGS[prefix], *parts[n:]])
        self.needs.add(parts[0] if parts[0] != "jax" or len(parts) < 2 or parts[1] != "numpy" else "jax.numpy")
        return qualified


#: the roots of qualified names in (translated) templates
QUALIFIED_ROOTS = ("torch", "jax", "numpy", "math")


def respell(tree: ast.AST, spelling: Spelling) -> ast.AST:
    """Every qualified library name in ``tree`` (a template, before the user's code goes in)
    spelled as the file imports it."""

    class _Respell(ast.NodeTransformer):
        def visit_Attribute(self, node: ast.Attribute):
            name = dotted(node)
            if name is not None and name.split(".")[0] in QUALIFIED_ROOTS:
                return _parse_name(spelling.spell(name))
            self.generic_visit(node)
            return node

        def visit_Name(self, node: ast.Name):
            if node.id in QUALIFIED_ROOTS:
                return _parse_name(spelling.spell(node.id))
            return node

    return _Respell().visit(tree)


def _parse_name(text: str) -> ast.expr:
    return name_node(text)
