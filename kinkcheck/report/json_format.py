"""The report as versioned JSON: the model itself (``format: kinkcheck-report``)."""

from __future__ import annotations

import json

from kinkcheck.output.safe import guard


def render(report, *, indent: int | None = 2) -> str:
    """Every site (no cap: this is the model); ``##[`` is written ``\\u0023#[`` so that no
    CI runner reads a command in it (the same string once parsed)."""
    text = json.dumps(report.to_dict(), indent=indent, sort_keys=False, allow_nan=False, default=str) + "\n"
    return guard(text, "json")
