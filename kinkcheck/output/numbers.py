"""One number style for every command: counts with thousands separators, rates as percentages.

The rule for a rate (a fraction of evaluations): a percentage with three significant digits
(``3.44%``, ``0.0550%``, ``0.00972%``, ``100%``); below 0.0001% in scientific notation
(``4.98e-5%``), so a rate that is not zero never prints as zero and never loses its magnitude.
"""

from __future__ import annotations

#: below this percentage a rate is written in scientific notation
TINY_PERCENT = 1e-4


def count(n: int | None) -> str:
    """``1,003,520``; ``-`` for unknown."""
    return "-" if n is None else f"{n:,}"


def percent(fraction: float | None) -> str:
    """A fraction (0..1) as a percentage by the module's rule; ``-`` for unknown."""
    if fraction is None:
        return "-"
    if fraction <= 0:
        return "0%"
    p = fraction * 100
    if p >= TINY_PERCENT:
        return f"{p:#.3g}".rstrip(".") + "%" if p < 100 else f"{p:.0f}%"
    mantissa, exponent = f"{p:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}%"


def share(part: int, total: int) -> str:
    """``part`` of ``total`` as a percentage (``0%`` when nothing was counted)."""
    return percent(part / total) if total else "0%"
