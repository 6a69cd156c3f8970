"""GitLab Code Quality report (``--output-format gitlab``), for ``artifacts:reports:codequality``.

A JSON array of issues (the Code Climate subset GitLab reads): ``description``,
``check_name``, ``fingerprint``, ``severity`` and ``location.path`` /
``location.lines.begin``. GitLab compares fingerprints between the base and head pipelines
to mark issues as new or resolved, so they must not change when unrelated code moves;
they are the same fingerprints SARIF and the baseline use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kinkcheck.findings import Finding, sort_key
from kinkcheck.output.safe import guard
from kinkcheck.output.severity import GITLAB, resolver
from kinkcheck.fingerprint import fingerprints
from kinkcheck.paths import repo_path

_CATEGORIES = {
    "kink": "Bug Risk",
    "singular": "Bug Risk",
    "step": "Bug Risk",
    "branch": "Bug Risk",
    "blackbox": "Bug Risk",
    "meta": "Style",
}


def severity(f: Finding, level: str = "warning") -> str:
    """GitLab's severity: ``info`` for a documented kink, else by the rule's severity
    (error critical, warning major, note minor)."""
    return "info" if f.documented else GITLAB[level]


def issue(f: Finding, fp: str, *, root=None, level: str = "warning") -> dict:
    description = f"{f.code} ({f.name}): {f.message}"
    if f.documented:
        description += f" [documented: {f.reason}]" if f.reason else " [documented]"
    return {
        "type": "issue",
        "description": description,
        "check_name": f.code,
        "categories": [_CATEGORIES.get(f.category, "Bug Risk")],
        "fingerprint": fp,
        "severity": severity(f, level),
        "location": {
            "path": repo_path(f.path, root),
            "lines": {"begin": f.line, "end": max(f.end_line, f.line)},
        },
    }


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False, **ctx) -> str:
    """Undocumented findings; documented ones too (severity ``info``) with ``show_documented``."""
    shown = [f for f in sorted(findings, key=sort_key) if show_documented or not f.documented]
    fps = fingerprints(shown, root=root)
    of = resolver({"catalog": catalog, **ctx})
    issues = [issue(f, fp, root=root, level=of(f.code)) for f, fp in zip(shown, fps)]
    return guard(json.dumps(issues, indent=2) + "\n", "json")
