"""The kink report: static findings joined with runtime traces, rendered for people.

``build(findings, trace, root=...)`` (from :mod:`kinkcheck.report.join`) makes the Report; ``render(report, fmt)`` turns
it into a terminal, Markdown, HTML or JSON document. Renderers are imported only when used
(the terminal one pulls in rich).
"""

from __future__ import annotations

import importlib

#: format name -> module under kinkcheck.report exposing ``render(report, **options) -> str``.
FORMATS: dict[str, str] = {
    "terminal": "terminal",
    "markdown": "markdown",
    "html": "html",
    "json": "json_format",
}


def render(report, fmt: str, **options) -> str:
    """``report`` as a ``fmt`` document ("terminal", "markdown", "html" or "json")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")
    module = importlib.import_module(f"kinkcheck.report.{FORMATS[fmt]}")
    return module.render(report, **options)


def build(findings, trace, **options):
    """The Report joining ``findings`` with a loaded ``trace`` (:func:`kinkcheck.report.join.build`)."""
    from kinkcheck.report.join import build as join

    return join(findings, trace, **options)
