"""What "near a kink" means, and the decade histogram of distances.

An element is *near* when its distance to the kink is within a few units in the last place
of the operand's own scale: ``0 < d <= ulps * eps(dtype) * scale + abs``, where ``scale``
is the largest magnitude in the operand tensor (for a ReLU input: ``max |x|``; for a
maximum of ``a`` and ``b``: ``max(|a|, |b|)``; for acos/asin: 1). That is the size of the
rounding error of any value computed at that scale, so a near element could have landed
exactly on the kink with a different summation order, batch size or precision. ``abs`` is an
absolute floor for all-zero operands. Exact hits (``d == 0``) are counted apart, not as near.

The histogram counts the exact and near elements by decade of their distance:
``"exact"`` and ``floor(log10(d))`` (decades below ``HIST_LO`` are folded into ``HIST_LO``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: lowest and highest decade kept in the histogram; smaller distances fold into HIST_LO
HIST_LO = -30
HIST_HI = 9
NBINS = HIST_HI - HIST_LO + 1

_EPS = {
    "float64": 2.220446049250313e-16,
    "float32": 1.1920928955078125e-07,
    "float16": 0.0009765625,
    "bfloat16": 0.0078125,
    "complex64": 1.1920928955078125e-07,
    "complex128": 2.220446049250313e-16,
}


@dataclass(frozen=True, slots=True)
class Near:
    """The near-kink tolerance: ``ulps`` units in the last place at the operand's scale,
    plus an absolute floor ``abs``."""

    ulps: float = 4.0
    abs: float = 1e-30

    def __post_init__(self):
        if not (self.ulps >= 0 and math.isfinite(self.ulps)):
            raise ValueError(f"near ulps must be a finite number >= 0, got {self.ulps!r}")
        if not (self.abs >= 0 and math.isfinite(self.abs)):
            raise ValueError(f"near abs must be a finite number >= 0, got {self.abs!r}")

    def factor(self, dtype_name: str) -> float:
        """The relative tolerance for a dtype (``ulps * eps``); 0 for integer dtypes."""
        return self.ulps * eps(dtype_name)

    def to_dict(self) -> dict:
        return {"ulps": self.ulps, "abs": self.abs}


def eps(dtype_name: str) -> float:
    """Machine epsilon by dtype name (``float32``, ``torch.float16``, ``<f8``...)."""
    name = str(dtype_name).replace("torch.", "")
    if name in _EPS:
        return _EPS[name]
    import numpy as np

    try:
        dt = np.dtype(name)
    except TypeError:
        return 0.0
    if dt.kind in "fc":
        return float(np.finfo(dt).eps)
    return 0.0


def decade_label(index: int) -> str:
    return str(HIST_LO + index)


def histogram_dict(exact: int, bins) -> dict[str, int]:
    """``{"exact": n, "-7": m, ...}`` from the exact count and the per-decade bins (zeros left out)."""
    out: dict[str, int] = {}
    if exact:
        out["exact"] = int(exact)
    for i, n in enumerate(bins):
        if n:
            out[decade_label(i)] = int(n)
    return out


def merge_histograms(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + int(v)
    return sort_histogram(out)


def sort_histogram(h: dict[str, int]) -> dict[str, int]:
    """Exact first, then decades from the closest to the farthest."""
    keys = sorted(h, key=lambda k: (-math.inf if k == "exact" else int(k)))
    return {k: h[k] for k in keys}
