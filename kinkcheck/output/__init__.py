"""Output formats for ``kinkcheck check``, registered by name and imported only when used."""

from __future__ import annotations

import importlib
from typing import Callable, Sequence

from kinkcheck.findings import Finding

#: format name -> module under kinkcheck.output exposing ``render(findings, ctx) -> str``.
FORMATS: dict[str, str] = {
    "full": "full",
    "concise": "concise",
    "json": "json_format",
    "json-lines": "json_format",
    "sarif": "sarif",
    "github": "github",
    "gitlab": "gitlab",
    "junit": "junit",
    "markdown": "markdown",
}


def renderer(name: str) -> Callable[..., str]:
    module = importlib.import_module(f"kinkcheck.output.{FORMATS[name]}")
    fn = getattr(module, "render_" + name.replace("-", "_"), None)
    return fn or module.render


def render(name: str, findings: Sequence[Finding], **ctx) -> str:
    return renderer(name)(findings, **ctx)
