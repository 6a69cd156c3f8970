"""Typed trace records: what :func:`kinkcheck.trace.tracefile.load` returns and the report reads.

A loaded file is validated once (:func:`kinkcheck.trace.tracefile.validate`) and turned into
:class:`TraceData`, whose ``sites`` are :class:`SiteRecord` objects with every field typed;
readers use the attributes and never check a dict again. ``TraceData`` is also the file's
JSON dict (``data["sites"]``, ``json.dumps(data)``), so code written against the dict form
keeps working. A dict that was never validated (the Python API's
``report.build(findings, trace_dict)``) goes through :meth:`SiteRecord.from_dict`, which is
lenient: a record without a path, a line or a code is None (the report counts it as
skipped); any other odd field reads as absent or 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _str(v: Any, limit: int = 2000) -> str | None:
    return v[:limit] if isinstance(v, str) else None


def value_text(v: float) -> str:
    """How an observed gradient value is written in the trace file: "nan", "inf", "-inf" or
    six significant digits."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


@dataclass(frozen=True, slots=True)
class Observed:
    """The gradient the framework returned at a hit: one value per input (elementwise), or
    where a tie's gradient went (reductions, pools); values as text ("0", "inf", "nan")."""

    framework: str
    grad: tuple[str, ...]
    at: tuple[str, ...] = ()
    step: int | None = None

    @classmethod
    def from_dict(cls, d: Any) -> Observed | None:
        grad = d.get("grad") if isinstance(d, Mapping) else None
        if not isinstance(grad, list):
            return None
        at = d.get("at")
        if not isinstance(at, list):
            at = []
        return cls(framework=_str(d.get("framework"), 60) or "torch", grad=tuple(str(v)[:24] for v in grad[:8]),
                   at=tuple(str(v)[:24] for v in at[:8]), step=_int(d.get("step")))


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


@dataclass(frozen=True, slots=True)
class Probed:
    """The subgradient sensitivity probe's results at a site (:mod:`kinkcheck.trace.probe`):
    how many probed steps hit it, in how many the other subgradient moved the step's
    gradient by more than the threshold, and by how much (``||g_alt - g|| / ||g||``)."""

    probed: int = 0
    sensitive: int = 0
    rel_median: float | None = None
    rel_max: float | None = None
    cos_min: float | None = None
    max_change: float = 0.0
    #: [step, hits, rel, cos, max] rows (rel/cos None: a zero gradient)
    steps: tuple[tuple[int, int, float | None, float | None, float | None], ...] = ()
    uncovered: str | None = None
    #: the sensitivity threshold the steps were judged by
    threshold: float | None = None

    @classmethod
    def from_dict(cls, d: Any) -> Probed | None:
        if not isinstance(d, Mapping):
            return None
        rows = []
        for r in d.get("steps") or ():
            if isinstance(r, (list, tuple)) and len(r) == 5 and _int(r[0]) is not None and _int(r[1]) is not None:
                rows.append((_int(r[0]) or 0, _int(r[1]) or 0, _num(r[2]), _num(r[3]), _num(r[4])))
        return cls(probed=_int(d.get("probed")) or 0, sensitive=_int(d.get("sensitive")) or 0,
                   rel_median=_num(d.get("rel_median")), rel_max=_num(d.get("rel_max")),
                   cos_min=_num(d.get("cos_min")), max_change=_num(d.get("max_change")) or 0.0,
                   steps=tuple(rows), uncovered=_str(d.get("uncovered"), 200), threshold=_num(d.get("threshold")))

    def to_dict(self) -> dict:
        """The trace file's form (for merging records: :func:`kinkcheck.trace.tracefile.merge_probes`)."""
        d: dict = {"probed": self.probed, "sensitive": self.sensitive, "rel_median": self.rel_median,
                   "rel_max": self.rel_max, "cos_min": self.cos_min, "max_change": self.max_change,
                   "steps": [list(r) for r in self.steps]}
        if self.uncovered:
            d["uncovered"] = self.uncovered
        if self.threshold is not None:
            d["threshold"] = self.threshold
        return d


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """One trace site record (README, "The trace file")."""

    path: str
    line: int
    code: str
    function: str | None = None
    name: str | None = None
    op: str | None = None
    module: str | None = None
    dtype: str | None = None
    kind: str | None = None
    backend: str | None = None
    snippet: str | None = None
    evaluations: int = 0
    exact: int = 0
    near: int = 0
    harmless: int = 0
    #: "exact" and decades ("-7") -> count
    histogram: Mapping[str, int] = field(default_factory=dict)
    #: [step, evaluations, exact, near] rows
    per_step: tuple[tuple[int, int, int, int], ...] = ()
    near_scale: str | None = None
    observed: Observed | None = None
    probe: Probed | None = None

    @classmethod
    def from_dict(cls, rec: Any) -> SiteRecord | None:
        """A record from its JSON form, or None without a usable path, line and code."""
        if not isinstance(rec, Mapping):
            return None
        path, line, code = rec.get("path"), _int(rec.get("line")), rec.get("code")
        if not isinstance(path, str) or not path or line is None or not isinstance(code, str):
            return None
        hist = rec.get("histogram")
        if not isinstance(hist, Mapping):
            hist = {}
        raw_rows = rec.get("per_step")
        rows: list[tuple[int, int, int, int]] = []
        for row in raw_rows if isinstance(raw_rows, list) else ():
            vals = [_int(v) for v in row][:4] if isinstance(row, (list, tuple)) else []
            a, b, c, e = (vals + [None] * 4)[:4]
            if a is not None and b is not None and c is not None and e is not None:
                rows.append((a, b, c, e))
        return cls(
            path=path, line=line, code=code, function=_str(rec.get("function")), name=_str(rec.get("name")),
            op=_str(rec.get("op")), module=_str(rec.get("module")), dtype=_str(rec.get("dtype")),
            kind=_str(rec.get("kind")), backend=_str(rec.get("backend")), snippet=_str(rec.get("snippet")),
            evaluations=_int(rec.get("evaluations")) or 0, exact=_int(rec.get("exact")) or 0,
            near=_int(rec.get("near")) or 0, harmless=_int(rec.get("harmless")) or 0,
            histogram={str(k): n for k, v in hist.items() if (n := _int(v)) is not None},
            per_step=tuple(rows), near_scale=_str(rec.get("near_scale"), 40),
            observed=Observed.from_dict(rec.get("observed")), probe=Probed.from_dict(rec.get("probe")),
        )


class TraceData(dict):
    """A validated trace file: the JSON dict it was read from (``data["sites"]``,
    ``json.dumps(data)``, merging), plus its typed ``sites``. The typed records are the file
    as loaded: editing the dict afterwards does not change them."""

    def __init__(self, raw: dict, sites: tuple[SiteRecord, ...]):
        super().__init__(raw)
        self.sites = sites

    @classmethod
    def from_validated(cls, raw: dict) -> TraceData:
        """From a dict that passed :func:`~kinkcheck.trace.tracefile.validate`."""
        sites = tuple(r for r in (SiteRecord.from_dict(s) for s in raw["sites"]) if r is not None)
        return cls(raw, sites)

    @property
    def raw(self) -> dict:
        return self

    def __repr__(self) -> str:
        return f"<TraceData {len(self.sites)} sites, {self.get('steps')} steps>"
