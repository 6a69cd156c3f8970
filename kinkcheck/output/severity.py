"""A finding's severity (error / warning / note) and its name in each CI format.

The catalog gives each rule a severity; ``[tool.kinkcheck] severity = {KC101 = "error"}``
overrides it (:meth:`kinkcheck.config.Config.severity_of`). Every undocumented finding
still fails ``kinkcheck check`` (exit 1): severity says how loudly CI shows it.
"""

from __future__ import annotations

#: severity -> GitHub workflow command
GITHUB = {"error": "error", "warning": "warning", "note": "notice"}
#: severity -> GitLab Code Quality severity (info is kept for documented kinks)
GITLAB = {"error": "critical", "warning": "major", "note": "minor"}
#: severity -> GitHub code scanning's ``problem.severity`` property in SARIF
SARIF_PROBLEM = {"error": "error", "warning": "warning", "note": "recommendation"}


def severity_of(code: str, *, config=None, catalog=None) -> str:
    """``code``'s severity under ``config`` (its overrides), else the catalog's; a code the
    catalog does not know (none should reach here) is an error, as KC001 is."""
    if config is not None:
        return config.severity_of(code, catalog)
    rule = catalog.get(code) if catalog is not None else None
    if rule is not None:
        return rule.severity
    return "error" if code == "KC001" else "warning"


def resolver(ctx: dict):
    """``code -> severity`` for a renderer's context (``config`` and ``catalog`` when given)."""
    config, catalog = ctx.get("config"), ctx.get("catalog")
    cache: dict[str, str] = {}

    def of(code: str) -> str:
        if code not in cache:
            cache[code] = severity_of(code, config=config, catalog=catalog)
        return cache[code]

    return of
