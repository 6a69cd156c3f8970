"""Facts a test or a class states about a value, that its expression alone does not: inside
``if isinstance(x, list):`` (or after ``isinstance(x, list) and``, or ``not isinstance(x, list)
or``) ``x`` is a Python value; the
point a distribution is evaluated at (``log_prob(self, value)``) is an observation; ``y`` of
``loss(y, y_hat)`` is the reference the prediction is compared with; ``q.round(y)``
on a class of the checked files is that class's method, not a step function.
``kinds`` asks these questions; they never decide a kind on their own.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, TypeGuard

from kinkcheck.lint.resolve import DATA, PLAIN, PREDICTION_WORD_RE, dotted

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context, FileAnalysis


#: ``isinstance`` targets that hold Python values, and host arrays (data to torch/jax)
_PLAIN_TYPES = frozenset({"int", "float", "bool", "str", "bytes", "list", "tuple", "dict", "Number", "Real",
                          "Integral", "complex", "Sequence", "Mapping"})
_HOST_ARRAYS = frozenset({"ndarray", "generic"})


def _isinstance_kind(ctx: "Context", use: ast.Name) -> str | None:
    """PLAIN (DATA for a numpy array) inside ``if isinstance(x, list):`` where ``x`` is
    not rebound between the test and ``use``: the branch says what ``x`` holds there."""
    from kinkcheck.lint import flow

    child: ast.AST = use
    parent = ctx.parent(use)
    for _ in range(40):
        if parent is None:
            return None
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.And):
            # `isinstance(x, list) and x`: the conjuncts after the test see what it says
            earlier = parent.values[:next((i for i, v in enumerate(parent.values) if v is child), 0)]
            narrowed = _isinstance_test(earlier, use)
            if narrowed is not None:
                return narrowed
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or):
            # `not isinstance(p, float) or p != 1`: the disjuncts after the negated test run
            # only where it is false, where `p` is what the test names
            earlier = parent.values[:next((i for i, v in enumerate(parent.values) if v is child), 0)]
            narrowed = _isinstance_test([t.operand for t in earlier
                                         if isinstance(t, ast.UnaryOp) and isinstance(t.op, ast.Not)], use)
            if narrowed is not None:
                return narrowed
        if isinstance(parent, ast.If) and any(c is child for c in parent.body):
            tests = parent.test.values if isinstance(parent.test, ast.BoolOp) and isinstance(parent.test.op, ast.And) \
                else [parent.test]  # `isinstance(v, Sequence) and not is_str(v)`: every conjunct holds
            test = next((t for t in tests if _tests_name(t, use)), None)
            if test is not None:
                kind = _spec_kind(test)
                stmt = flow.enclosing_statement(use, ctx)
                rebound = stmt is None or any(flow._inside(b, parent) and flow._pos(b) < flow._pos(stmt)
                                              for b, _ in flow.bindings(ctx).get(use.id, ()))
                return None if rebound else kind
        child, parent = parent, ctx.parent(parent)
    return None


def _own_class_method(ctx: "Context", func: ast.Attribute) -> bool:
    """``q.round(y)`` where ``q`` is annotated with, or built from, a class of the checked file
    that defines ``round`` (a differentiable soft rounding), or ``self.round(...)``."""
    recv = func.value
    classes = ctx.fa.ix.classes
    names: set[str] = set()
    if isinstance(recv, ast.Name) and recv.id == "self" and ctx.cls_qual:
        names.add(ctx.cls_qual)
    elif isinstance(recv, ast.Name):
        ann = ctx.params.get(recv.id, (None, None))[0]
        value = ctx.definition(recv.id)
        for node in (ann, value.func if isinstance(value, ast.Call) else None):
            text = dotted(node) if node is not None else None
            if text:
                names |= {c for c in classes if c.rsplit(".", 1)[-1] == text.rsplit(".", 1)[-1]}
    return any(f"{c}.{func.attr}" in ctx.fa.ix.scopes for c in names)


def _isinstance_test(tests: list[ast.expr], use: ast.Name) -> str | None:
    """PLAIN (DATA for host arrays) when one of ``tests`` is ``isinstance(use, <plain types>)``."""
    for t in tests:
        if _tests_name(t, use):
            kind = _spec_kind(t)
            if kind is not None:
                return kind
    return None


def _tests_name(test: ast.expr, use: ast.Name) -> TypeGuard[ast.Call]:
    """``test`` is ``isinstance(<the name of use>, ...)``."""
    return isinstance(test, ast.Call) and dotted(test.func) == "isinstance" and len(test.args) == 2 \
        and isinstance(test.args[0], ast.Name) and test.args[0].id == use.id


def _spec_kind(test: ast.Call) -> str | None:
    """What ``isinstance(x, spec)`` says ``x`` holds: PLAIN for Python types, DATA when host
    arrays are among them, None for anything else."""
    spec = test.args[1]
    names = {(dotted(x) or "").rsplit(".", 1)[-1] for x in (spec.elts if isinstance(spec, ast.Tuple) else [spec])}
    return PLAIN if names <= _PLAIN_TYPES else DATA if names <= _PLAIN_TYPES | _HOST_ARRAYS else None


#: methods of a distribution that evaluate it at a point (``log_prob(self, value)``): the point
#: is an observation (its support masks and floors are data); the gradient flows through the
#: distribution's parameters
OBSERVATION_METHODS = frozenset({"log_prob", "prob", "cdf", "log_cdf", "survival_function",
                                 "log_survival_function", "sf", "logsf", "log_sf", "log_probability",
                                 "probability", "logpdf", "logpmf", "pdf", "pmf", "log_density", "density"})


def _observation(ctx: "Context", name: str) -> bool:
    """``value`` of ``log_prob(self, value)`` (``X`` of pomegranate's ``log_probability(self,
    X)``, ``x`` of a ``logpdf``) in a distribution class, unless the file draws reparameterized
    samples (``d.log_prob(d.rsample())``: the point then carries gradient)."""
    if ctx.cls_qual is None or not _distribution_class(ctx.fa, ctx.cls_qual):
        return False
    method = ctx.qualname.rsplit(".", 1)[-1].lstrip("_")
    if method not in OBSERVATION_METHODS or not isinstance(ctx.fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    args = ctx.fn.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    return positional[1:2] == [name] and not _draws_rsample(ctx.fa)


def _draws_rsample(fa: "FileAnalysis") -> bool:
    """The file calls ``.rsample`` somewhere (looked up once per file)."""
    got = fa.__dict__.get("_draws_rsample")
    if got is None:
        got = fa.__dict__["_draws_rsample"] = any(
            isinstance(n, ast.Attribute) and n.attr == "rsample" for n in ast.walk(fa.tree))
    return got


def _distribution_class(fa: "FileAnalysis", cls_qual: str, depth: int = 0) -> bool:
    """The class derives from a ``...Distribution`` (torch, distrax, numpyro, tfp), directly or
    through classes of this file."""
    for base in fa.ix.classes.get(cls_qual, ()):
        if base.rsplit(".", 1)[-1].endswith("Distribution"):
            return True
        if depth < 8 and base in fa.ix.classes and _distribution_class(fa, base, depth + 1):
            return True
    return False


#: how a prediction's name is made from its reference's: ``y_hat``, ``y_pred``, ``x_recon``, ``pred_y``
_PREDICTION_SUFFIXES = ("_hat", "hat", "_pred", "_preds", "_predicted", "_prediction", "_est", "_recon", "_rec")


def _reference(ctx: "Context", name: str) -> bool:
    """``y`` of ``mape(y, y_hat)`` (``x`` of ``recon_loss(x, x_recon)``): a parameter whose
    prediction is another parameter named after it is the target it is compared with; so is
    ``y`` beside any prediction (``test(self, logits, y)``, ``__call__(self, preds, y)``)."""
    args = ctx.fn.args if isinstance(ctx.fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else None
    if args is None or name not in ctx.params:
        return False
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    if name == "y" and any(PREDICTION_WORD_RE.search(n) for n in names if n != name):
        return True
    return any(name + suffix in names for suffix in _PREDICTION_SUFFIXES) or f"pred_{name}" in names
