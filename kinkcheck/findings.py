"""One finding of the static analyzer: the unit every output format renders."""

from __future__ import annotations

from dataclasses import asdict

from kinkcheck.record import field, record


@record  # a frozen slotted dataclass that compiles nothing at import (kinkcheck/record.py)
class Finding:
    """A kink site in source. Lines and columns are 1-based (as ruff and SARIF show them);
    ``end_col`` is exclusive. ``documented`` covers both ``# kink: ...`` and ``# noqa``."""

    code: str
    name: str
    category: str
    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    message: str
    confidence: str = "high"
    function: str | None = None
    documented: bool = False
    reason: str | None = None
    snippet: str = ""
    replacement: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, int, str]:
        """The join key shared with the runtime tracer: (path, line, code)."""
        return (self.path, self.line, self.code)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["extra"]:
            d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Finding":
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**fields)


def sort_key(f: Finding) -> tuple:
    """A total order: two findings at one position and code (a site and a chain of it) keep
    the same order in every run, whatever the hash seed."""
    return (f.path, f.line, f.col, f.code, f.end_line, f.end_col, f.message, f.function or "")
