"""``json``: ``{"version": 1, "findings": [...]}``; ``json-lines``: one finding object per line.

Machine formats carry every finding, documented ones included (``documented`` and
``reason`` tell them apart), so a consumer never has to re-run with a flag to see them.
"""

from __future__ import annotations

import json
from typing import Sequence

from kinkcheck.findings import Finding
from kinkcheck.output.safe import guard

VERSION = 1

FIELDS = ("code", "name", "category", "path", "line", "col", "end_line", "end_col", "function",
          "message", "confidence", "documented", "reason", "replacement")


def finding_dict(f: Finding) -> dict:
    """The finding's fields, with ``fix`` (the rewrite ``check --fix`` applies: title,
    ``safe``/``unsafe``, the span it replaces) and ``remedies`` (every proven rewrite shown
    for the site) when the analyzer made them."""
    out = {key: getattr(f, key) for key in FIELDS}
    extra = f.extra or {}
    fix = extra.get("fix")
    out["fix"] = {k: fix[k] for k in ("title", "applicability", "line", "col", "end_line", "end_col") if k in fix} \
        if isinstance(fix, dict) and f.replacement is not None else None
    out["remedies"] = [r for r in extra.get("remedies", ()) if isinstance(r, dict)]
    return out


def render(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False, **ctx) -> str:
    doc = {"version": VERSION, "findings": [finding_dict(f) for f in findings]}
    return guard(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "json")


render_json = render


def render_json_lines(findings: Sequence[Finding], *, catalog=None, root=None, show_documented: bool = False,
                      **ctx) -> str:
    return guard("".join(json.dumps(finding_dict(f), ensure_ascii=False) + "\n" for f in findings), "json")
