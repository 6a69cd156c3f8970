"""The scale contract of a likelihood: a distribution's scale handed to its log-density or
likelihood is positive because the distribution is only defined so; the head that makes it (a
softplus, an exp) sits with the caller. :mod:`ranges` asks this of a parameter (and of an item
unpacked from one) no caller in the file says anything of."""

from __future__ import annotations

import ast
import re

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.syntax import callee_tail

#: inputs named as a distribution's scale beside another of its parameters in a likelihood
#: (``gaussian_nll(loc, scale, target)``, ``student_t_nll(df, loc, scale, y)``,
#: ``weibull_nll(scale, shape, t, e)``, ``mean, variance = pred``): positive by the likelihood's
#: contract, the head that makes them (a softplus or an exp) sits with the caller; not
#: ``log_scale`` or ``raw_sigma``, nor a lone ``scale`` an objective optimises, nor the
#: statistics a standardisation divides by, nor a concentration vector
_SCALE_INPUT_NAME = lazy_pattern(r"^(?!(log|raw|logit|unconstrained|pre|delta|d|diff|grad|neg)_)([a-z0-9]+_)?"
                                 r"(scale|scales|sigma|sigmas|std|stds|stddev|var|variance|variances|df|dispersion)$"
                                 r"|^(shape|shapes|rate|rates)$", re.IGNORECASE)
#: ... the location beside it, or the scale beside a shape (Weibull's, Gamma's)
_PARTNER_NAME = lazy_pattern(r"^([a-z0-9]+_)?(loc|locs|location|mean|means|mu|mus|median|center|centers|scale|scales)$"
                             r"|^(shape|shapes|rate|rates)$", re.IGNORECASE)
#: the names that are positive only beside a scale (a lone ``shape`` is a tensor's)
_SHAPE_NAME = lazy_pattern(r"^(shape|shapes|rate|rates)$", re.IGNORECASE)
#: where that contract holds: a likelihood, a log-density, or a distribution's own code
_LIKELIHOOD_RE = lazy_pattern(r"nll|nlpd|likelihood|loglik|log_?prob|logpdf|log_?density|elbo|crps|distribution|normal|"
                              r"gaussian|laplace|cauchy|student|weibull|gamma|logistic|gumbel", re.IGNORECASE)
#: ... and a function that is a log-density by its own name, where a scale alone is the
#: distribution's (``half_cauchy_logpdf(x, scale)``; not any ``*_nll`` handed a scale to divide by)
_DENSITY_FUNCTION_RE = lazy_pattern(r"(^|_)(logpdf|log_?prob|log_?density|log_?likelihood|loglik)(_|$)",
                                    re.IGNORECASE)


def scale_beside_location(name: str, siblings, ctx) -> bool:
    """``name`` is a distribution's scale in a likelihood (``ctx`` is one by its name), and
    one of ``siblings`` (the other parameters, or the other names a tuple is unpacked into)
    its location or its shape, or ``ctx`` is a log-density by its own name (a scale alone)."""
    if not _SCALE_INPUT_NAME.match(name) or not _LIKELIHOOD_RE.search(getattr(ctx, "qualname", "") or ""):
        return False
    partners = [s for s in siblings if s != name and _PARTNER_NAME.match(s)]
    if _SHAPE_NAME.match(name):
        # a shape or a rate is a distribution's beside a scale (`weibull_nll(scale, shape, ...)`)
        return any(not _SHAPE_NAME.match(s) and _SCALE_INPUT_NAME.match(s) for s in partners)
    own = (getattr(ctx, "qualname", "") or "").rsplit(".", 1)[-1]
    return bool(partners) or bool(_DENSITY_FUNCTION_RE.search(own))


#: what a likelihood applies to a raw network output to make it a scale (or a sign-free one)
_MAKES_SCALE = frozenset({"abs", "fabs", "relu", "clamp", "clamp_min", "clip", "maximum", "softplus", "exp", "square",
                          "elu", "sigmoid", "abs_"})


def raw_scale(name: str, ctx) -> bool:
    """The function itself makes its parameter ``name`` a scale (``b = jnp.abs(scale)``,
    ``F.softplus(sigma)``, ``scale ** 2``): what callers hand in is a raw output, not a scale
    the contract covers."""
    fn = getattr(ctx, "fn", None)
    if fn is None:
        return False
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and callee_tail(node.func) in _MAKES_SCALE:
            receiver = [node.func.value] if isinstance(node.func, ast.Attribute) else []
            if any(isinstance(o, ast.Name) and o.id == name for o in [*node.args[:1], *receiver]):
                return True  # `jnp.abs(scale)`, `scale.clamp(min=eps)`
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.left, ast.Name) \
                and node.left.id == name:
            return True
    return False
