"""Library Huber losses read elementwise, for the scalar evaluator of ``joins``.

IQN's and QR-DQN's quantile Huber loss is ``|tau - 1{u < 0}| * huber(u)``: the indicator jumps
at ``u == 0`` where the Huber term is 0 with a zero slope, so the product is C1 there (LABELS.md:
a comparison whose two sides agree in value and first derivative). Authors write the Huber
term by hand or call the library's (``optax.huber_loss(u, delta=k)``,
``F.smooth_l1_loss(u, zeros, reduction="none")``); for the evaluator to judge the product the
library call must be a known function, not an opaque number. Only elementwise calls are
modelled: with torch's default ``reduction="mean"`` the term is a mean over the batch, which is
not 0 where one element's ``u`` is, and the indicator's jump shows.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

#: qualified names, with the positions of (target, reduction, scale) after the prediction
_SIGNATURES: dict[str, tuple[int, int | None, int, str]] = {
    "torch.nn.functional.huber_loss": (1, 2, 3, "delta"),
    "torch.nn.functional.smooth_l1_loss": (1, 4, 5, "beta"),
    "optax.huber_loss": (1, None, 2, "delta"),
    "optax.losses.huber_loss": (1, None, 2, "delta"),
}
_TARGET_KEYWORDS = ("target", "targets")
_PREDICTION_KEYWORDS = ("input", "predictions")


@dataclass(frozen=True)
class HuberCall:
    """An elementwise library Huber term: ``huber(prediction - target)`` with threshold
    ``scale`` (None: the default 1.0); smooth-L1 is Huber divided by its threshold."""

    prediction: ast.expr
    target: ast.expr | None
    scale: ast.expr | None
    smooth_l1: bool

    def operands(self) -> list[ast.expr]:
        return [n for n in (self.prediction, self.target, self.scale) if n is not None]


def elementwise_huber(call: ast.Call, ctx) -> HuberCall | None:
    """``call`` as a library Huber term applied elementwise, else None (another function, a
    reduced loss, arguments it cannot place)."""
    q = ctx.qualify(call.func) or ""
    signature = _SIGNATURES.get(q)
    if signature is None or any(isinstance(a, ast.Starred) for a in call.args) \
            or any(k.arg is None for k in call.keywords):
        return None
    target_at, reduction_at, scale_at, scale_name = signature
    keywords = {k.arg: k.value for k in call.keywords}

    def argument(position: int | None, *names: str) -> ast.expr | None:
        if position is not None and position < len(call.args):
            return call.args[position]
        return next((keywords[n] for n in names if n in keywords), None)

    prediction = argument(0, *_PREDICTION_KEYWORDS)
    if prediction is None:
        return None
    if q.startswith("torch."):
        reduction = argument(reduction_at, "reduction")
        if not (isinstance(reduction, ast.Constant) and reduction.value == "none"):
            return None
    return HuberCall(prediction, argument(target_at, *_TARGET_KEYWORDS), argument(scale_at, scale_name),
                     q.endswith("smooth_l1_loss"))


def huber_value(residual: float, scale: float, smooth_l1: bool) -> float:
    """The term's value at ``residual``; the threshold is positive by the libraries' contract,
    so its magnitude is used (a symbol of unknown sign is drawn either way)."""
    k = abs(scale)
    a = abs(residual)
    if smooth_l1:
        if k == 0:
            return a
        return 0.5 * residual * residual / k if a < k else a - 0.5 * k
    return 0.5 * residual * residual if a <= k else k * (a - 0.5 * k)
