"""Does the kink matter? The subgradient sensitivity probe's options and per-site results.

On sampled steps (every ``Probe.every``-th step) the backend recomputes, for each site that
training hit exactly in that step, the step's parameter gradient with the *other* valid
subgradient at the hit elements only (relu'(0) = 1 instead of torch's 0, abs'(0) = +1 instead
of 0, a max/min tie given wholly to the first argument, clamp at a bound taking the other
one-sided slope), and hands this module three sums over all parameters: ``||g||^2``,
``||d||^2`` and ``<g, d>``, where ``d = g_alt - g``, plus the largest ``|d|`` of one
parameter. From those a site's step gets

* ``rel``: ``||g_alt - g|| / ||g||``, the relative change of the step's gradient;
* ``cos``: the cosine between ``g`` and ``g_alt``;
* ``max``: the largest change of a single parameter's gradient.

A step is *sensitive* at a site when ``rel`` exceeds the threshold (default
:data:`SENSITIVE`, 2**-10 ~ 1e-3: what rounding every gradient element to float16 may do on
its own; below it the choice of subgradient is lost in the rounding of low-precision training).

Backend-neutral: no framework is imported here (the torch side is
:mod:`kinkcheck.trace.backends.torch_probe`, the JAX side
:mod:`kinkcheck.trace.backends.jax_probe`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: default sensitivity threshold on ``||g_alt - g|| / ||g||`` (float16's unit roundoff, 2**-10)
SENSITIVE = 2.0**-10
#: default sampling: one probed step in this many (a probed step costs about one more
#: backward pass below each hit site; 1 in 50 keeps the average overhead to a few percent)
EVERY = 50
#: probed-step rows kept per site (aggregates count every probed step)
MAX_ROWS = 1024


@dataclass(frozen=True)
class Probe:
    """``kinkcheck.trace(probe=Probe(every=50))``: probe every ``every``-th step (step 0
    first); a site's step is *sensitive* when ``||g_alt - g|| / ||g||`` exceeds
    ``threshold``. A probed step must also be a counted one (``every_step``)."""

    every: int = EVERY
    threshold: float = SENSITIVE

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"Probe(every=...) must be an integer >= 1, got {self.every!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not math.isfinite(self.threshold) or self.threshold < 0:
            raise ValueError(f"Probe(threshold=...) must be a finite number >= 0, got {self.threshold!r}")

    @classmethod
    def parse(cls, value: Any) -> Probe | None:
        """``probe=``: None/False (off), True (defaults), an int (every N steps) or a Probe."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(every=value)
        raise ValueError(f"probe must be True, an integer (every N steps) or kinkcheck.trace.Probe, got {value!r}")

    def probes(self, step: int) -> bool:
        return step % self.every == 0

    def to_dict(self) -> dict:
        return {"every": self.every, "threshold": self.threshold}


def step_result(step: int, hits: int, gg: float, dd: float, gd: float, dmax: float) -> list:
    """One probed step of one site as a row ``[step, hits, rel, cos, max]`` from the sums
    ``||g||^2``, ``||d||^2``, ``<g, d>`` and ``max |d|`` (``d = g_alt - g``). ``rel`` is
    None when the gradient is 0 and the swap moves it (an infinite change); ``cos`` is None
    when either gradient is 0."""
    dd = max(dd, 0.0)
    gnorm = math.sqrt(max(gg, 0.0))
    if gnorm > 0:
        rel: float | None = math.sqrt(dd) / gnorm
    else:
        rel = 0.0 if dd == 0 else None
    aa = gg + 2 * gd + dd  # ||g + d||^2
    cos = (gg + gd) / (gnorm * math.sqrt(aa)) if gnorm > 0 and aa > 0 else None
    if cos is not None:
        cos = min(1.0, max(-1.0, cos))
    return [step, hits, _finite(rel), _finite(cos), _finite(dmax)]


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(f"{v:.6g}")


class SiteProbe:
    """A site's probed steps: rows ``[step, hits, rel, cos, max]`` (the first
    :data:`MAX_ROWS`) and aggregates over all of them."""

    __slots__ = ("max_change", "max_rel", "min_cos", "probed", "rows", "sensitive", "threshold", "uncovered")

    def __init__(self) -> None:
        self.rows: list[list] = []
        self.probed = 0  # probed steps in which the site was hit
        self.sensitive = 0
        self.max_rel: float | None = 0.0
        self.min_cos: float | None = None
        self.max_change = 0.0
        #: why hits could not be swapped (an op the probe does not cover), if any
        self.uncovered: str | None = None
        self.threshold = SENSITIVE

    def add(self, row: list, threshold: float) -> None:
        step, hits, rel, cos, dmax = row
        self.threshold = threshold
        self.probed += 1
        if rel is None or rel > threshold:
            self.sensitive += 1
        if self.max_rel is not None:
            self.max_rel = None if rel is None else max(self.max_rel, rel)
        if cos is not None:
            self.min_cos = cos if self.min_cos is None else min(self.min_cos, cos)
        if dmax is not None:
            self.max_change = max(self.max_change, dmax)
        if len(self.rows) < MAX_ROWS:
            self.rows.append(row)

    def to_dict(self) -> dict:
        rels = sorted(r[2] for r in self.rows if r[2] is not None)
        d = {
            "probed": self.probed, "sensitive": self.sensitive,
            "rel_median": rels[len(rels) // 2] if rels else None,
            "rel_max": self.max_rel, "cos_min": self.min_cos, "max_change": self.max_change,
            "threshold": self.threshold, "steps": [list(r) for r in self.rows],
        }
        if self.uncovered:
            d["uncovered"] = self.uncovered
        return d
