"""SARIF 2.1.0 for code scanning (``--output-format sarif``).

One run; ``tool.driver.rules`` holds the whole catalog (docs as help text and markdown),
results point at files by URI relative to ``%SRCROOT%`` (the project root), carry a
``partialFingerprints`` entry that survives unrelated edits, and documented kinks come out
as results suppressed in source with the comment's reason, so code scanning shows them as
dismissed rather than forgetting them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from kinkcheck import __version__
from kinkcheck.findings import Finding, sort_key
from kinkcheck.output.safe import guard
from kinkcheck.output.severity import SARIF_PROBLEM, resolver
from kinkcheck.output.sources import SourceReader
from kinkcheck.fingerprint import SARIF_KEY, fingerprints
from kinkcheck.paths import repo_path

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/kinkcheck/kinkcheck"
SRCROOT = "%SRCROOT%"

def level(code: str, severity=None) -> str:
    """SARIF level (error / warning / note): the rule's severity, from ``severity`` (code ->
    severity, the catalog's with the config's overrides); without one, a parse error is an
    error and everything else a warning."""
    if severity is not None:
        return severity(code)
    return "error" if code == "KC001" else "warning"


def help_markdown(rule) -> str:
    """The rule's docs under ruff's headings, as GitHub shows them beside an alert."""
    d = rule.docs
    parts = [f"## {rule.code} `{rule.name}`", rule.summary, "### What it does", d.what, "### Why is this bad?", d.why]
    if d.known_problems:
        parts += ["### Known problems", d.known_problems]
    if d.example:
        parts += ["### Example", d.example]
    if d.use_instead:
        parts += ["### Use instead", d.use_instead]
    if rule.remedies:
        lines = []
        for r in rule.remedies:
            rewrite = f": `{r.rewrite}`" if r.rewrite else ""
            note = f" {r.note}" if r.note else ""
            lines.append(f"- **{r.title}**{rewrite}.{note}")
        parts += ["### Smooth alternatives", "\n".join(lines)]
    parts += [
        "### Documenting it instead",
        f"If the kink is acceptable, say why on the line: `# kink: {rule.code} <reason>`.",
    ]
    if d.references:
        parts += ["### References", "\n".join(f"- {r}" for r in d.references)]
    return "\n\n".join(p.strip() for p in parts) + "\n"


def help_text(rule) -> str:
    d = rule.docs
    parts = [rule.summary, d.what, d.why]
    if d.known_problems:
        parts.append("Known problems: " + d.known_problems)
    parts.append(f"Document an accepted kink with `# kink: {rule.code} <reason>` on its line.")
    return "\n\n".join(p.strip() for p in parts)


def rule_descriptor(rule, severity=None) -> dict:
    lvl = level(rule.code, severity)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.docs.what},
        "help": {"text": help_text(rule), "markdown": help_markdown(rule)},
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": lvl, "enabled": bool(rule.default)},
        "properties": {
            "tags": ["differentiability", rule.category],
            "precision": {"high": "high", "medium": "medium", "low": "low"}.get(rule.confidence, "medium"),
            "problem.severity": SARIF_PROBLEM[lvl],
        },
    }


def _unknown_descriptor(f: Finding, severity=None) -> dict:
    return {
        "id": f.code,
        "name": f.name,
        "shortDescription": {"text": f.name},
        "defaultConfiguration": {"level": level(f.code, severity)},
    }


def _uri(path: str) -> str:
    """A relative URI: a file name that is not UTF-8 keeps its bytes, percent-encoded (``bad%FF.py``)."""
    return quote(os.fsencode(path), safe="/")


def _region(f: Finding) -> dict:
    region = {"startLine": max(f.line, 1), "startColumn": max(f.col, 1)}
    end_line = max(f.end_line, f.line, 1)
    region["endLine"] = end_line
    if f.end_col >= 1 and (end_line > f.line or f.end_col > f.col):
        region["endColumn"] = f.end_col
    return region


def result(f: Finding, fp: str, rule_index: int | None, *, root, show_snippet: bool = True, severity=None) -> dict:
    rel = repo_path(f.path, root)
    location: dict = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(rel), "uriBaseId": SRCROOT},
            "region": _region(f),
        }
    }
    if f.snippet and show_snippet:  # the source line(s) around the flagged expression
        location["physicalLocation"]["contextRegion"] = {
            "startLine": max(f.line, 1),
            "endLine": max(f.end_line, f.line, 1),
            "snippet": {"text": f.snippet},
        }
    if f.function:
        location["logicalLocations"] = [{"name": f.function.rsplit(".", 1)[-1], "fullyQualifiedName": f.function, "kind": "function"}]
    out: dict = {"ruleId": f.code}
    if rule_index is not None:
        out["ruleIndex"] = rule_index
    out.update(
        {
            "level": level(f.code, severity),
            "message": {"text": f.message},
            "locations": [location],
            "partialFingerprints": {SARIF_KEY: fp},
            "properties": {"name": f.name, "category": f.category, "confidence": f.confidence},
        }
    )
    if f.documented:
        suppression: dict = {"kind": "inSource", "status": "accepted"}
        if f.reason:
            suppression["justification"] = f.reason
        out["suppressions"] = [suppression]
    fix = (f.extra or {}).get("fix")
    if f.replacement is not None and isinstance(fix, dict):
        kind = "safe fix" if fix.get("applicability") == "safe" else "unsafe fix: changes the values"
        out["fixes"] = [
            {
                "description": {"text": f"{fix.get('title', 'Replace')}: replace with `{f.replacement}` ({kind})"},
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": _uri(rel), "uriBaseId": SRCROOT},
                        "replacements": [
                            {
                                "deletedRegion": _fix_region(fix, f),
                                "insertedContent": {"text": f.replacement},
                            }
                        ],
                    }
                ],
            }
        ]
    return out


def _fix_region(fix: dict, f: Finding) -> dict:
    """The span a fix replaces: the whole conditional of a float branch, not its test."""
    try:
        line, col, end_line, end_col = (int(fix[k]) for k in ("line", "col", "end_line", "end_col"))
    except (KeyError, TypeError, ValueError):
        return _region(f)
    return {"startLine": max(line, 1), "startColumn": max(col, 1), "endLine": max(end_line, line, 1),
            "endColumn": max(end_col, 1)}


def build(findings: Sequence[Finding], *, catalog, root=None, roots: Sequence[str] | None = None, config=None) -> dict:
    """The SARIF log as a dict (``render`` dumps it). A finding in a file that resolves
    outside ``roots`` (the checked paths; default ``root``) carries no snippet: a symlink
    ``leak.py -> /etc/passwd`` must not put a line of it in the log."""
    root_path = Path(root).resolve() if root is not None else Path.cwd().resolve()
    reader = SourceReader(list(roots) if roots is not None else [root_path], base=root_path)
    severity = resolver({"catalog": catalog, "config": config})
    rules = [rule_descriptor(catalog[code], severity) for code in catalog]
    index = {r["id"]: i for i, r in enumerate(rules)}
    ordered = sorted(findings, key=sort_key)
    for f in ordered:
        if f.code not in index:
            index[f.code] = len(rules)
            rules.append(_unknown_descriptor(f, severity))
    fps = fingerprints(ordered, root=root_path)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kinkcheck",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": root_path.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": [result(f, fp, index.get(f.code), root=root_path, show_snippet=reader.allowed(f.path),
                                   severity=severity)
                            for f, fp in zip(ordered, fps)],
            }
        ],
    }


def render(findings: Sequence[Finding], *, catalog, root=None, show_documented: bool = False, **ctx) -> str:
    """Documented kinks are always included (as suppressed results); ``show_documented`` is moot."""
    log = build(findings, catalog=catalog, root=root, roots=ctx.get("roots"), config=ctx.get("config"))
    return guard(json.dumps(log, indent=2) + "\n", "json")
