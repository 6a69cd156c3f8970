"""The report as versioned JSON: the model itself (``format: kinkcheck-report``)."""

from __future__ import annotations

import json


def render(report, *, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), indent=indent, sort_keys=False, allow_nan=False, default=str) + "\n"
