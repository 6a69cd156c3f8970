"""The range fact of the value-flow analysis: what sign a value provably has.

``range_of(expr, ctx)`` folds an expression bottom-up over a small lattice::

    GE1  (>= 1: counts clamped to 1, shapes, 1 + x**2)
     |
    POS  (> 0: eps, exp/softplus/sigmoid, positive constants and config, x**2 + eps)
     |  \\
    NONNEG (>= 0: abs, squares, norms, relu, variances, clamp(min=0))   NONZERO (!= 0)
     \\   /
     ANY

from literals and eps-like names, parameter defaults and ``self.<attr>`` set from them
(config), squares and even powers, exp-like functions, clamps and maxima with a floor,
absolute values and norms, sums, products and quotients of such, counts and shapes. Names
are followed through every assignment in the function (all must agree). A site is
guarded when its kinked operand's range excludes the kink: ``> 0`` for sqrt, log and
fractional powers, ``!= 0`` for a denominator, ``>= 0`` for ``log1p``.
"""

from __future__ import annotations

import ast
import contextvars
import re

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import LOSS_LIBRARIES, PREDICTION_WORD_RE, const_value, dotted, is_eps_like
from kinkcheck.lint.scale_contract import raw_scale, scale_beside_location
from kinkcheck.syntax import call_tail

GE1, POS, NONNEG, NONZERO, ANY = "ge1", "pos", "nonneg", "nonzero", "any"
#: > 0 in exact arithmetic, but one element may round to 0 (``softmax``, ``exp`` of a very
#: negative number): >= 0 for a log of the elements, > 0 once reduced (a mean of them)
POSU = "pos-underflow"
#: a name's own earlier value met again (``s += x ** 2``): neutral in joins and arithmetic,
#: so a loop accumulator gets the range of its start joined with what is added
BOTTOM = "bottom"

#: callees whose value is > 0 whatever their argument
POSITIVE = frozenset({"exp", "exp_", "exp2", "softplus", "sigmoid", "sigmoid_", "softmax", "cosh", "logistic",
                      "expit", "gumbel_softmax", "ones", "ones_like", "new_ones", "elu_plus_one", "logsumexp_pos", "i0", "i0e",
                      "erfcx", "rankdata"})
#: ... and whose value never rounds to 0 in practice: cosh >= 1, scipy's ranks >= 1, i0 >= 1, i0e(x) ~ 1/sqrt(2 pi |x|)
#: and erfcx(x) ~ 1/(x sqrt(pi)) fall off too slowly to underflow; softplus is the positivity
#: transform of scales and rates, 0 only below an argument of about -100 (a probability from exp,
#: sigmoid or softmax reaches that with one confident logit)
NO_UNDERFLOW = frozenset({"ones", "ones_like", "new_ones", "cosh", "i0", "i0e", "erfcx", "softplus", "rankdata"})
#: callees whose value is >= 0 whatever their argument
NONNEGATIVE = frozenset({"abs", "absolute", "fabs", "relu", "relu_", "relu6", "square", "norm", "vector_norm",
                         "matrix_norm", "cdist", "pdist", "dist", "var", "std", "std_mean", "var_mean",
                         "zeros", "zeros_like", "new_zeros", "count_nonzero", "softmin", "hardsigmoid", "erfc",
                         "histc", "bincount", "one_hot", "eye"})
#: a library's losses that are distances or cross-entropies of probabilities, >= 0: PSNR's
#: ``log10(max_val ** 2 / F.mse_loss(x, y))`` meets no pole of its own (only where the name
#: resolves into the library: a file's own ``l1_loss`` may return anything)
NONNEGATIVE_LOSSES = frozenset({"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "squared_error", "l2_loss",
                                "pairwise_distance", "cross_entropy", "binary_cross_entropy",
                                "binary_cross_entropy_with_logits", "softmax_cross_entropy",
                                "sigmoid_binary_cross_entropy"})
_LOSS_LIBRARIES = LOSS_LIBRARIES
#: callees that keep their (first) operand's range: reductions of same-signed values, casts, views
#: (a cast to integers keeps >= 1 and >= 0; a positive fraction cast so may become 0, as with ``.to``)
KEEP = frozenset({"sum", "nansum", "mean", "nanmean", "cumsum", "segment_sum", "amax", "amin", "float", "double", "half",
                  "bfloat16", "to", "type", "type_as", "astype", "detach", "clone", "contiguous", "view", "reshape", "squeeze",
                  "unsqueeze", "flatten", "expand", "expand_as", "permute", "transpose", "t", "repeat",
                  "tensor", "as_tensor", "asarray", "array", "convert_to_tensor", "stop_gradient", "broadcast_to", "diag",
                  "diagonal", "trace", "prod", "cpu", "cuda", "max", "min", "median", "values", "item", "tolist", "to_dense",
                  # the same elements, reordered or picked out
                  "flip", "fliplr", "flipud", "roll", "gather", "index_select", "take", "take_along_dim",
                  "take_along_axis", "narrow", "select", "masked_select", "repeat_interleave", "tile",
                  # the same statistic across devices (a synchronised batch norm's moments)
                  "pmean", "psum", "pmax", "pmin", "conj", "conjugate",
                  # window means and maxima of same-signed values
                  "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                  "adaptive_avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d",
                  "adaptive_max_pool2d", "adaptive_max_pool3d"})
#: reductions that turn elementwise underflow into a practically positive value
REDUCE = frozenset({"sum", "nansum", "mean", "nanmean", "cumsum", "segment_sum"})
#: ``x.clamp(min=...)``-like callees: the range of their lower bound
FLOORED = frozenset({"clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "maximum", "fmax"})
#: counts of existing things: shapes, sizes, lengths (a batch is never empty where a loss runs)
COUNTS = frozenset({"numel", "size", "len", "nelement", "dim", "ndim"})
#: config names that are positive by convention when nothing says otherwise
POSITIVE_NAME = lazy_pattern(r"(^|_)(temperature|temp|tau|num|count|counts|size|length|lengths|dim|stride|strides|imgsz|"
                             r"img_size|image_size|avg_factor|normalizer|dof|degrees_of_freedom|"
                             # the largest norm a clip allows: a norm bound of 0 would zero every update
                             r"max_norm|clip_norm|max_grad_norm|"
                             # a kernel's scale (an RBF's bandwidth, a GP's lengthscale, softplus-constrained)
                             r"bandwidth|bandwidths|lengthscale|lengthscales|length_scale|length_scales|"
                             # Huber's and pseudo-Huber's transition point (diffusers' `huber_c`)
                             r"huber_delta|huber_c|huber_beta|"
                             # a nucleus' charge Z: hydrogen's is 1
                             r"atomic_number|atomic_numbers)($|_)",
                             re.IGNORECASE)
#: a solver's tolerances, positive too (its error is measured in units of atol + rtol * |y|);
#: the whole name, so that a mask (``within_tol``, ``tol_mask``) is none
TOLERANCE_NAME = lazy_pattern(r"^_*(a|r|abs_|rel_|err_|error_|step_|x|f|g)?(tol|tolerance)$", re.IGNORECASE)
#: ... and among them the counts (>= 1): a loss's ``avg_factor``/``normalizer`` is the number
#: of positives its caller clamps to 1 (OpenMMLab's and torchvision's detection losses)
_COUNT_NAME = lazy_pattern(r"(^|_)(num|count|counts|size|length|lengths|dim|imgsz|img_size|image_size|avg_factor|normalizer|"
                           r"atomic_number|atomic_numbers)"
                           r"($|_)", re.IGNORECASE)
#: thresholds a caller turns on (a ``None`` default): a loss that divides by one rescales the
#: region below it (``(1 - pt) / reduced_threshold``); a ``scale`` or ``sigma`` may be learnt
_POSITIVE_SETTING = lazy_pattern(r"(^|_)(threshold|thresh)$", re.IGNORECASE)
#: the span of the values an SSIM or PSNR is measured on: positive, unless a caller in the
#: file hands it a span of data that may be 0 (``target.max() - target.min()``)
_SPAN_NAME = lazy_pattern(r"^(data_range|dynamic_range)$", re.IGNORECASE)
#: inputs named as variances (a Kalman state's ``prev_var``, ``sigma2``): >= 0
_VARIANCE_NAME = lazy_pattern(r"(^|_)(var|vars|variance|variances|sigma2|sigma_sq|sigmasq)$", re.IGNORECASE)
#: inputs named as masks or one-hot encodings: 0/1 (or booleans), so >= 0 (a Dice loss's
#: ``(p + target_onehot).sum()`` of softmax probabilities is > 0)
_MASK_NAME = lazy_pattern(r"(^|_)(mask|masks|onehot|one_hot)$", re.IGNORECASE)
MAX_DEPTH = 8
_UNDERFLOW: contextvars.ContextVar[bool] = contextvars.ContextVar("kinkcheck_range_underflow", default=False)
#: how many function summaries are being worked out around the current one
_NESTED: contextvars.ContextVar[int] = contextvars.ContextVar("kinkcheck_range_nested", default=0)


def is_positive(r: str) -> bool:
    return r in (POS, GE1)


def is_nonzero(r: str) -> bool:
    return r in (POS, GE1, NONZERO)


def is_nonnegative(r: str) -> bool:
    return r in (POS, GE1, NONNEG, POSU)


def join(*rs: str) -> str:
    """The least range that holds for every one of ``rs`` (a value that may be any of them)."""
    s = {NONNEG if r == POSU else r for r in rs} - {BOTTOM} if len(set(rs) - {BOTTOM}) > 1 else set(rs) - {BOTTOM}
    if not s and BOTTOM in rs:
        return BOTTOM
    if not s:
        return ANY
    if len(s) == 1:
        return s.pop()
    if s <= {POS, GE1}:
        return POS
    if s <= {POS, GE1, NONNEG}:
        return NONNEG
    if s <= {POS, GE1, NONZERO}:
        return NONZERO
    return ANY


def meet(a: str, b: str) -> str:
    """The range of a value that both ``a`` and ``b`` hold for (``x[x > 0]`` of an ``x >= 0``);
    ``b`` ANY leaves ``a`` as it is."""
    if b == ANY:
        return a
    facts = _FACTS[a] | _FACTS[b]
    if "ge1" in facts:
        return GE1
    if "pos" in facts or {"nonneg", "nonzero"} <= facts:
        return POS
    if "nonneg" in facts:
        return POSU if POSU in (a, b) else NONNEG
    return NONZERO


_FACTS = {GE1: {"ge1", "pos", "nonneg", "nonzero"}, POS: {"pos", "nonneg", "nonzero"}, NONNEG: {"nonneg"},
          POSU: {"nonneg"}, NONZERO: {"nonzero"}, ANY: set(), BOTTOM: set()}


def _selected(node: ast.Subscript, base: str, ctx) -> str:
    """What a boolean selection of the array by itself keeps (``ranges_select``): values above
    a floor ``c > 0``; above 0 only where the values are > 0 already and only rounding made
    zeros (``p[p > 0]`` of a softmax). Leaving out exactly 0 of any other value is no floor:
    what is kept can be as small as it likes (as ``where(x != 0, x, 1)`` guards nothing)."""
    from kinkcheck.lint.ranges_select import kept_by_mask, selected_bound

    bound = selected_bound(node, ctx)
    if bound is None:
        return kept_by_mask(node, ctx)  # `d[~(d.abs() < beta)]`: the elements with |d| >= beta
    c, strict = bound
    if c >= 1:
        return GE1
    if c > 0 or c == 0 and strict and base == POSU:
        return POS
    return NONNEG if c == 0 else ANY


def _arithmetic(op):
    """Binary range arithmetic: a name's own earlier value (BOTTOM) is neutral, and a value
    that may underflow counts as >= 0 once it is combined with another."""
    def wrapped(a: str, b: str) -> str:
        if BOTTOM in (a, b):
            return b if a == BOTTOM else a
        return op(NONNEG if a == POSU else a, NONNEG if b == POSU else b)

    wrapped.__doc__ = op.__doc__
    return wrapped


@_arithmetic
def _add(a: str, b: str) -> str:
    if is_nonnegative(a) and is_nonnegative(b):
        if GE1 in (a, b):
            return GE1
        return POS if POS in (a, b) else NONNEG
    return ANY


def _mul(a: str, b: str) -> str:
    if POSU in (a, b) and all(r == POSU or is_positive(r) for r in (a, b)):
        return POSU  # `w * exp(z)`: > 0, and may round to 0 only as the exp does
    return _mul_settled(a, b)


@_arithmetic
def _mul_settled(a: str, b: str) -> str:
    if a == GE1 and b == GE1:
        return GE1
    if is_positive(a) and is_positive(b):
        return POS
    if is_nonnegative(a) and is_nonnegative(b):
        return NONNEG
    if is_nonzero(a) and is_nonzero(b):
        return NONZERO
    return ANY


@_arithmetic
def _div(a: str, b: str) -> str:
    """A positive numerator over a denominator >= 0 is > 0 or inf, never 0: ``log(m ** 2 / mse)``
    has no pole of its own (the division by ``mse == 0`` is KC205's site). Whatever the
    denominator, a quotient is 0 only where its numerator is: ``1 / (alpha / scale)`` with
    ``alpha = softplus(a) + eps`` divides by nothing that can be 0."""
    if is_positive(a) and is_nonnegative(b):
        return POS
    if is_nonnegative(a) and is_positive(b):
        return NONNEG
    if is_nonzero(a):
        return NONZERO
    return ANY


def _pow(base: str, exponent: ast.AST, ctx, depth: int) -> str:
    e = const_value(exponent)
    if e is None and is_nonnegative(base) and _minus_nonnegative(exponent, ctx, depth):
        # `p ** (-t)` with t >= 0: a base that underflowed to 0 gives inf (or 1), never 0
        return POS
    if e is None:  # a power of a value >= 0 is >= 0 (or inf), whatever the exponent
        return base if base in (POS, POSU) else (POS if is_positive(base) else NONNEG if is_nonnegative(base) else ANY)
    if e == 0:
        return GE1
    if float(e).is_integer() and int(e) % 2 == 0:
        return POS if is_nonzero(base) else NONNEG
    if is_positive(base):
        return GE1 if base == GE1 and e > 0 else POS
    if is_nonnegative(base) and e > 0:
        return NONNEG
    return ANY


def _minus_nonnegative(exponent: ast.AST, ctx, depth: int) -> bool:
    return isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub) and is_nonnegative(
        _range_of(exponent.operand, ctx, depth))


def _const(v) -> str:
    if v >= 1:
        return GE1
    if v > 0:
        return POS
    if v == 0:
        return NONNEG
    return NONZERO


def range_of(node: ast.AST | None, ctx, depth: int = MAX_DEPTH, *, underflow: bool = False) -> str:
    """The range of ``node`` in the function ``ctx`` describes (see the module docstring).
    With ``underflow``, exp-like values count as >= 0 only: ``softmax`` and ``exp`` of a
    large negative number round to exactly 0, which is what a log meets in practice."""
    token = _UNDERFLOW.set(underflow)
    try:
        r = _range_of(node, ctx, depth)
    finally:
        _UNDERFLOW.reset(token)
    return ANY if r == BOTTOM else r


def _range_of(node: ast.AST | None, ctx, depth: int) -> str:
    if node is None or depth < 0:
        return ANY
    memo = _memo(ctx)
    key = (id(node), _UNDERFLOW.get())
    if key in memo:
        return memo[key]
    memo[key] = BOTTOM  # met again while being computed: a name's own earlier value
    r = _range(node, ctx, depth)
    memo[key] = r
    return r


def _memo(ctx) -> dict:
    memo = getattr(ctx, "_ranges", None)
    if memo is None:
        memo = {}
        try:
            ctx._ranges = memo
        except AttributeError:
            pass
    return memo


def _range(node: ast.AST, ctx, depth: int) -> str:
    sub = depth - 1
    if isinstance(node, ast.Constant) and node.value is None:
        return BOTTOM  # `counts if normalize else None`: None is no number (dividing by it raises)
    v = const_value(node)
    if v is not None:
        return _const(v)
    if is_eps_like(node):
        return NONNEG if known_zero(node, ctx) else POS  # `epsilon: float = 0.` is no floor
    if isinstance(node, ast.Name):
        if hasattr(ctx, "parents") and ctx.parent(node) is not None:
            # a hop to the assignments that reach this use costs no depth: a chain of
            # rebindings (`d /= dof; d += 1.0; d **= -e`) is as deep as one expression, and
            # the memo ends a cycle (`d = d + x` in a loop meets its own value)
            return _reaching_name(node, ctx, depth)
        return _name(node.id, ctx, sub)
    if isinstance(node, ast.Attribute):
        return _attribute(node, ctx, sub)
    if _boolean(node):
        return NONNEG  # a mask used as numbers is 0 or 1: `~torch.eye(n, dtype=torch.bool)`, `(d > m) & ok`
    if isinstance(node, ast.Subscript):
        if isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            return GE1
        base = _range_of(node.value, ctx, sub)
        return meet(base, _selected(node, base, ctx))
    if isinstance(node, ast.BinOp):
        a = _range_of(node.left, ctx, sub)
        if isinstance(node.op, ast.Pow):
            return _pow(a, node.right, ctx, sub)
        if isinstance(node.op, (ast.Add, ast.Sub)) and _switched_off(node.right, ctx):
            return a  # `x ** 2 + y ** 2 - alpha * x * y + c` with `alpha=0.0`: the term is 0
        b = _range_of(node.right, ctx, sub)
        if isinstance(node.op, ast.Add):
            r = _add(a, b)
            return NONNEG if r == ANY and _expanded_square(node, ctx, sub) else r
        if isinstance(node.op, ast.MatMult):
            return _mul(a, b)  # sums of products: > 0 (>= 0) for entries > 0 (>= 0)
        if isinstance(node.op, ast.Mult):
            if ast.dump(node.left) == ast.dump(_unconjugated(node.right)):
                return POS if is_nonzero(a) else NONNEG  # x * x, and |z|^2 = z * conj(z)
            return _mul(a, b)
        if isinstance(node.op, ast.Div):
            r = _div(a, b)
            if r == POS and _UNDERFLOW.get() and _exp_of(node.right):
                return POSU  # `1 / (1 + exp(-z))`: the exp overflows to inf, the quotient to 0
            return r
        if isinstance(node.op, ast.Sub):
            bv = const_value(node.right)
            if bv is not None and bv <= 0:
                return _add(a, _const(-bv))
            lb = _lower_bound(node.left, a, ctx)
            if bv is not None and lb is not None and lb >= bv:
                return POS if lb > bv else NONNEG  # `2 * n - 2` of a batch size n: >= 0 (0 for one sample)
            av = const_value(node.left)
            if av is not None and _capped_below(node.right, av, ctx):
                return POS  # `1 - p` after `p = clip(p, eps, 1 - eps)`; `1 - cos ** 2` of a clamped cosine
            if bv == 1 and floored_above_one(node.left, ctx):
                return POS  # `x * x - 1` after `x = x.clamp_min(1 + eps)`: an arcosh written out
            if _expanded_square(node, ctx, sub) or enclosing_extent(node, ctx):
                return NONNEG
            if quantile_weight(node, ctx):
                return NONZERO
            nv = numeric_value(node, ctx)
            if nv is not None:
                return _const(nv)  # `1 - bias` with `bias=0.2`: the settings fix the number
        return ANY
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return NONZERO if is_nonzero(_range_of(node.operand, ctx, sub)) else ANY
    if isinstance(node, ast.IfExp):
        return join(_range_of(node.body, ctx, sub), _range_of(node.orelse, ctx, sub))
    if isinstance(node, ast.Call):
        return _call(node, ctx, sub)
    if isinstance(node, ast.NamedExpr):
        return _range_of(node.value, ctx, sub)
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        return join(*(_range_of(e, ctx, sub) for e in node.elts))  # `torch.tensor([n, 1])`
    if isinstance(node, ast.Dict) and node.values:
        return join(*(_range_of(v, ctx, sub) for v in node.values))  # `{float32: 1e-5, float64: 1e-10}[dtype]`
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return _range_of(node.elt, ctx, sub)  # `torch.tensor([max(len(t), 1) for t in a])`
    return ANY


def _lower_bound(node: ast.AST, r: str, ctx, depth: int = 2) -> float | None:
    """A number a count ``node`` (of range ``r``) is at least: 1 for the size of something
    (``x.shape[0]``, ``len(x)``, ``x.numel()``, or a name bound once to one), ``c`` for ``c *
    n`` or ``n * c`` with such a count ``n`` and a number ``c > 0``; None where unknown (a
    setting named like a count, ``length_scale``, may be any positive number)."""
    if r != GE1:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for c, n in ((const_value(node.left), node.right), (const_value(node.right), node.left)):
            if isinstance(c, (int, float)) and c > 0 and _lower_bound(n, GE1, ctx, depth) is not None:
                return float(c)
        return None
    if isinstance(node, ast.Name) and depth and hasattr(ctx, "bound_once"):
        value = ctx.bound_once(node.id)
        return _lower_bound(value, GE1, ctx, depth - 1) if value is not None else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
        return 1.0  # `x.shape[0]`: a batch is never empty where a loss runs
    if isinstance(node, ast.Call) and call_tail(node) in COUNTS:
        return 1.0  # `len(x)`, `x.numel()`, `x.size(0)`
    return None


def _boolean(node: ast.AST) -> bool:
    """A truth value (a comparison, ``logical_and``, ...), an array made with a boolean dtype,
    or the negation of either."""
    from kinkcheck.lint.truth import truth_value

    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return _boolean(node.operand)
    if isinstance(node, ast.Call) and any(kw.arg == "dtype" and (dotted(kw.value) or "").rsplit(".", 1)[-1] in
                                          ("bool", "bool_") for kw in node.keywords):
        return True
    return truth_value(node)


#: callees that overflow to inf for a large enough argument
_OVERFLOWING = frozenset({"exp", "exp2", "expm1", "cosh", "sinh"})


def _exp_of(node: ast.AST) -> bool:
    """``node`` adds or multiplies in an ``exp`` (``1 + exp(-z)``, ``exp(a) + exp(b)``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        return _exp_of(node.left) or _exp_of(node.right)
    return call_tail(node) in _OVERFLOWING


def _unconjugated(node: ast.AST) -> ast.AST:
    """``z`` of ``jnp.conj(z)`` / ``z.conj()``; anything else as it is."""
    if isinstance(node, ast.Call) and call_tail(node) in ("conj", "conjugate"):
        if len(node.args) == 1:
            return node.args[0]
        if isinstance(node.func, ast.Attribute) and not node.args:
            return node.func.value
    return node


def _param(name: str, ctx, depth: int) -> str:
    default = ctx.param_default(name) if hasattr(ctx, "param_default") else None
    if default is not None:
        v = const_value(default)
        if v is not None:
            return _const(v)
        if is_eps_like(default):
            return POS
        if isinstance(default, (ast.Tuple, ast.List)) and default.elts and all(
                isinstance(v := const_value(e), (int, float)) and v >= 0 for e in default.elts):
            # `quantiles=(0.1, 0.5, 0.9)`: each level's sign (mixed signs may sum to 0)
            return join(*(_const(const_value(e)) for e in default.elts))
        if isinstance(default, ast.Constant) and default.value is None and _POSITIVE_SETTING.search(name):
            return POS  # ``reduced_threshold=None``: a threshold the caller switches on
        return _config_name(name)  # a setting with a default (``temp=None``): judged by its name
    # an input: what the function itself demands of it (``if scale.min() <= 0: raise``), what
    # the callers in this file pass (``target_scores_sum = max(s.sum(), 1)`` handed to
    # ``self.bbox_loss(...)``), else anything, unless its name says size or temperature
    fn = getattr(ctx, "fn", None)
    if fn is not None:
        from kinkcheck.lint.validated import entry_range

        checked = entry_range(name, fn)
        if checked is not None:
            return checked
    if POSITIVE_NAME.search(name):
        return _config_name(name)
    if TOLERANCE_NAME.match(name):
        # a tolerance the callers in this file hand it (`tol=0.1 * pred.abs()` is no setting),
        # else positive by its name
        passed = _passed_range(name, ctx, depth)
        return passed if passed is not None and passed != ANY else POS
    if _SPAN_NAME.match(name):
        passed = _passed_range(name, ctx, depth)
        return passed if passed is not None else POS
    if _MASK_NAME.search(name) and not PREDICTION_WORD_RE.search(name):
        return NONNEG  # not `pred_masks`: mask logits of a segmentation head
    from kinkcheck.lint.ranges_loops import carry_range

    carried = carry_range(name, ctx, depth)
    if carried is not None:
        return carried
    passed = _passed_range(name, ctx, depth)
    if (passed is None or passed == ANY) and depth > 2 and not raw_scale(name, ctx) \
            and scale_beside_location(name, getattr(ctx, "params", None) or (), ctx):
        # no caller in this file says otherwise (and they were looked for), or they hand in
        # what a head made elsewhere; unless the likelihood itself makes the scale positive
        # (`b = jnp.abs(scale)`): then it is handed a raw value
        return POS
    if _VARIANCE_NAME.search(name) and (passed is None or not is_nonnegative(passed)):
        # `prev_var + self.process_noise`: a variance is >= 0 (it may still be 0: its log and
        # a division by it stay findings)
        return NONNEG
    return ANY if passed is None else passed


def _passed_range(name: str, ctx, depth: int) -> str | None:
    """The join of what the calls of this function in its file pass for ``name``; None when
    there are none to read."""
    if depth > 2 and hasattr(ctx, "fa"):
        from kinkcheck.lint import call_sites

        passed = call_sites.argument_values(name, ctx)
        if passed:
            return join(*(_range_of(value, caller, depth - 2) for caller, value in passed))
    return None


def nested_join(values: list, ctx) -> str:
    """The join of the ranges of ``values`` read in ``ctx``, another function of the file (a
    callee's returns, a method's assignment): with a fresh depth, one call deeper
    (``_NESTED``), so a chain of helpers costs a bounded amount of work."""
    token = _NESTED.set(_NESTED.get() + 1)
    try:
        return join(*(_range_of(v, ctx, MAX_DEPTH - 2) for v in values))
    finally:
        _NESTED.reset(token)


def class_of_self(ctx) -> str | None:
    """The class whose ``self.<attr>`` a range reads: :meth:`Context.self_class` (a closure
    inside a method sees the method's ``self``); a bare context knows none."""
    method = getattr(ctx, "self_class", None)
    return method() if method is not None else getattr(ctx, "cls_qual", None)


def _config_name(name: str) -> str:
    """A name nothing in the function defines: positive when it reads like positive config."""
    if POSITIVE_NAME.search(name) and not name.startswith(("d_", "delta")):
        return GE1 if _COUNT_NAME.search(name) else POS
    if TOLERANCE_NAME.match(name):
        return POS
    return ANY


# forms whose sign is known: expanded squares and variances, values capped below a bound
from kinkcheck.lint.ranges_forms import (  # noqa: E402
    _capped_below, _expanded_square, enclosing_extent, floored_above_one, quantile_weight,
)
# what calls evaluate to (their own module: the table of callees is long)
from kinkcheck.lint.ranges_calls import _call  # noqa: E402
# what names and attributes stand for: their bindings, loop counters, ``self.<attr>``
from kinkcheck.lint.ranges_names import _attribute, _name, _reaching_name  # noqa: E402
# what settings stand for: parameter defaults, ``self.<attr>`` config, numbers (re-exported)
from kinkcheck.lint.ranges_settings import (  # noqa: E402,F401
    _defaults_of,
    _init_param,
    _switched_off,
    known_zero,
    numeric_value,
)
