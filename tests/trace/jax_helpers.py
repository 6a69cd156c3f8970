"""Helpers for the JAX tracer tests: sites by rule, and the line a marker comment sits on."""

from __future__ import annotations

import inspect


def line_of(fn_or_file, marker: str) -> int:
    """The 1-based line in a function's file (or a file) ending in ``# <marker>`` (or holding
    ``# <marker>: a note``)."""
    path = fn_or_file if isinstance(fn_or_file, str) else inspect.getsourcefile(fn_or_file)
    with open(path, encoding="utf-8") as fh:
        for i, text in enumerate(fh, 1):
            if text.rstrip().endswith(f"# {marker}") or f"# {marker}: " in text:
                return i
    raise AssertionError(f"no line marked {marker!r} in {path}")


def jax_sites(t, code: str | None = None) -> list[dict]:
    return [s for s in t.to_dict()["sites"] if s["backend"] == "jax" and (code is None or s["code"] == code)]


def at(t, path_end: str, line: int) -> list[dict]:
    """The JAX site records of one source line."""
    return [s for s in jax_sites(t) if s["path"].endswith(path_end) and s["line"] == line]
