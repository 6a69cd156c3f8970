"""The vocabulary of the rule catalog: the values a rule file's fields may take (categories,
confidences, severities), the guards a rule may accept, where a runtime kink sits and what
"near" it is measured against. ``kinkcheck.catalog`` validates rule files against these and
re-exports them; ``kinkcheck rule`` and the generated README tables describe them."""

from __future__ import annotations

from typing import Mapping

CATEGORIES = ("kink", "singular", "step", "branch", "blackbox", "meta")
CONFIDENCES = ("high", "medium", "low")
STATUSES = ("stable", "preview", "deprecated")
#: how serious a finding is: SARIF's levels, GitHub's error / warning / notice, GitLab's
#: major / minor / info; ``[tool.kinkcheck] severity`` overrides a rule's
SEVERITIES = ("error", "warning", "note")

#: Guards a rule may accept. Each id names a syntactic pattern that keeps the operand
#: away from the kink; the static analyzer implements every one of them.
GUARDS: Mapping[str, str] = {
    "offset": "the operand adds a positive constant or an eps-like name: `x + eps`, `1 + x**2`, `v - iou + (1 + eps)`",
    "clamp-floor": "the operand is clamped to a positive floor: `x.clamp_min(eps)`, `clamp(x, min=eps)`",
    "nonzero-constant": "the operand is a non-zero numeric constant: `x / 2.0`",
    "positive-expr": "the operand is positive by construction: `exp(...)`, `softplus(...)`, `sigmoid(...)`",
    "integer-power": "the exponent is an integer >= 1 (`x ** 2`), or a whole number the code states: a "
                     "setting declared `int`, a `range()` counter, `2 * degree + 1`",
    "unit-clamp": "the operand is clamped strictly inside (-1, 1): `x.clamp(-1 + eps, 1 - eps)`",
    "double-where": "the op sits in the safe branch of the double-where pattern, its operand filled with a "
                    "value away from the kink where the condition masks it (`where(ok, x, 1.0)`; a fill of 0 "
                    "is no guard)",
    "zero-patch": "the comparison `den == 0` only patches the exact zero of a divisor: `num / (den + eps * "
                  "(den == 0))`, `den = where(den == 0, 1.0, den); num / den`: it flips at the one point where "
                  "the division has its pole (the division stays a finding)",
    "detached-target": "the operand does not carry a gradient (a constant, a detached target)",
    "rounding": "a clamp, relu or maximum at 0 of a value that is >= 0 in exact arithmetic (a squared distance "
                "or a variance written expanded, an abs, a norm): it only removes rounding error",
    "dead-zone": "soft-thresholding, `sign(x) * relu(|x| - t)`: the magnitude is 0 on a whole interval "
                 "around x = 0 (t > 0), so the abs's kink and the sign's jump inside it never show; multiplied "
                 "back by the sign, t >= 0 is enough (t = 0 gives x itself)",
    "floored-after": "in torch, the norm is only read clamped to a positive floor: `x / x.norm(dim=1, "
                     "keepdim=True).clamp_min(eps)`: torch's subgradient at the zero vector is 0 and the clamp's "
                     "slope is 0 there, so the cone never reaches the gradient (jax's nan would: not there)",
    "odd-extension": "a sign times a magnitude that is 0 at 0: `sign(x) * log1p(|x|)` (symlog), "
                     "`sign(x) * (sqrt(|x| + 1) - 1)`: the sign's jump multiplies 0 and the slope is g'(|x|) "
                     "on both sides, so neither the jump nor the abs's corner shows",
    "eps-scaled": "the kink sits in a term an eps multiplies, `tiny * (1.0 + |b|)`: a stabilizer sized to the "
                  "values around it, whose slope jumps by eps at most",
    "log-of-abs": "the abs is what a log reads: `log(|x|)`, `x.abs().log()`: log|x| is even and smooth on "
                  "both sides of 0, and at 0 the log's own singularity is the finding (log1p(|x|) keeps the corner)",
    "periodic-wrap": "an angle wrapped by whole periods of the sine or cosine that reads it: "
                     "`cos((v - loc) % (2 * pi))`, `sin(2 * (d - round(d / pi) * pi))`: the wrap jumps by a "
                     "multiple of the period, so neither the value nor the slope of what is returned jumps",
    "integer-data": "a cast to integers of what carries no gradient or is already whole: labels, indicators "
                    "and mesh faces made integers (`t.long()`), or an index an earlier `floor` made "
                    "(`(y0 * w + x0).long()`, whose step is the floor's); `(pred[:, 0] * W).long()` stays a step",
    "max-shift": "a maximum subtracted for stability and cancelled again: `softmax(z - z.max())`, "
                 "`e = exp(z - m); e / e.sum()` (or `s = torch.sum(e); e / s`), `m + log(exp(z - m).sum())`, or a returned "
                 "value that evaluates the same at other values of the maximum (a log-softmax written out, "
                 "`(p - m) - log(exp(p - m) + exp(n - m).sum())`): the result does not "
                 "depend on the shift, so a tie in the maximum never reaches the gradient",
    "selected-branch": "the kink sits in the branch of a `where` whose condition keeps its argument off it: "
                       "a one-sided clamp already inside its bound (`where(t > b, t.clamp(min=b) ** (1 / 3), t / c)`), "
                       "an abs or sign where |x| > d >= 0 (`where(abs(r) <= d, r, d * sign(r))`), or an abs read only "
                       "by its mask and by the elements a boolean selection keeps off 0 (`a[~(a < d)]`, d > 0)",
    "range": "the range analysis proves the operand stays off the kink: > 0 (sqrt, log, powers) or != 0 "
             "(a denominator) from eps-like terms, positive config (temperatures, tolerances, norm bounds) and "
             "defaults, squares, norms and variances "
             "written expanded (E[x^2] - E[x]^2, SSIM's windowed sigma) plus a positive term, "
             "exp/softplus/sigmoid (of values kept above -80, or of a cosine similarity over a temperature: no "
             "underflow), clamps to a positive floor, "
             "selections above a positive floor (`x[x > 1e-6]`), reorderings (flip, gather), counts and shapes",
}

#: Where a runtime kink sits, for the tracer's counters.
RUNTIME_KINDS: Mapping[str, str] = {
    "zero": "the argument is 0",
    "tie": "two arguments are equal (elementwise maximum/minimum)",
    "reduce-tie": "the selected element ties with another in its reduction (max/amax/min/amin)",
    "window-tie": "the maximum of a pooling window is not unique",
    "boundary": "the k-th and (k+1)-th values tie at a selection boundary (topk/sort)",
    "bound": "the argument sits on a clamp bound",
    "denominator": "the denominator is 0",
    "unit": "the argument is +1 or -1",
    "origin": "both arguments are 0 (atan2)",
    "step": "the argument sits on a step of a piecewise-constant function",
}

#: What "near the kink" is measured against (``[runtime] near``), with ``ulps`` and ``abs`` from
#: the trace's ``near`` option (kinkcheck.trace.near); exact hits (distance 0) count apart.
NEAR_SCALES: Mapping[str, str] = {
    "tensor": "0 < distance <= ulps * eps(dtype) * max|operand| + abs: the operand's largest magnitude is the "
              "scale at which the sums and differences that produced it were rounded, so a different summation "
              "order could put such an element on the kink",
    "element": "0 < distance <= ulps * eps(dtype) * s + abs, s the element's own operands (max(|a|, |b|) for a "
               "tie, max(|x|, |bound|) for a bound, the selected value for a max or a pooling window, |x| for a "
               "rounding step): a different rounding of those very values could tie them; a bound at 0 uses the "
               "operand's largest magnitude",
    "own": "0 < distance <= ulps * tiny(dtype) + abs, tiny the smallest normal number: a value's own magnitude "
           "sets its rounding, so a nonzero normal value is never near (a guarded denominator such as "
           "y ** 2 + 1, or an SSIM floor of 9e-8, is never near); a near value is subnormal, where 1/y^2 is "
           "already infinite",
}

#: the inputs a ``[runtime] calls`` expression may use, each a fresh tensor per call
CALL_INPUTS = {
    "x": "torch.randn(2, 3, 4, 4)", "y": "torch.randn(2, 3, 4, 4)", "p": "torch.rand(2, 3, 4, 4) + 0.1",
    "u": "torch.rand(8) * 0.9", "v": "torch.randn(5, 3)", "w": "torch.randn(5, 3)",
}
