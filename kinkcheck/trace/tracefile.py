"""Trace files: versioned JSON, written atomically, validated on read, merged across ranks.

Version 1 (see DEVELOPERS.md, "Trace file"). Readers ignore keys they do not know, so
adding keys does not need a new version; changing the meaning of a key does.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kinkcheck.atomic import write_atomic
from kinkcheck.trace import steps
from kinkcheck.trace.near import merge_histograms, sort_histogram
from kinkcheck.trace.records import TraceData

FORMAT = "kinkcheck-trace"
VERSION = 1

#: fields that identify one site record; records with equal keys merge
SITE_KEY = ("path", "line", "function", "code", "op", "module", "dtype")
_COUNTS = ("evaluations", "exact", "near", "harmless")


class TraceFileError(Exception):
    """A trace file that cannot be used; the message is one line naming the file."""


def env_rank() -> int:
    """This process's rank from ``RANK`` (0 when unset). A value that is not a non-negative
    integer (``RANK=abc``) warns and reads as 0: failing in ``save()`` at the end of a
    training run would lose the whole trace over a label."""
    raw = os.environ.get("RANK", "").strip()
    if not raw:
        return 0
    if raw.isascii() and raw.isdigit() and len(raw) <= 9:
        return int(raw)
    if raw not in _WARNED_RANKS:
        import warnings

        _WARNED_RANKS.add(raw)
        warnings.warn(f"kinkcheck.trace: RANK={raw[:40]!r} is not a non-negative integer; saving the trace as rank 0",
                      RuntimeWarning, stacklevel=3)
    return 0


_WARNED_RANKS: set[str] = set()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def dump(data: dict, path: str | os.PathLike) -> Path:
    """Validate and write ``data`` to ``path`` atomically (temp file in the same folder, then rename)."""
    validate(data, where=str(path))
    return write_atomic(path, json.dumps(data, indent=1, allow_nan=False) + "\n", fsync=True)


def load(path: str | os.PathLike) -> TraceData:
    """Read and validate a trace file; any problem raises TraceFileError with one line.
    Returns typed records (:class:`~kinkcheck.trace.records.TraceData`: ``.sites`` are
    :class:`~kinkcheck.trace.records.SiteRecord`), also readable as the JSON mapping.

    A FIFO or device is refused before it is opened (never waited on), and the JSON is
    parsed with bounded depth and integer size (:mod:`kinkcheck.inputs`)."""
    from kinkcheck.inputs import InputError, load_json

    try:
        data = load_json(path, what="trace file")
    except InputError as exc:
        raise TraceFileError(str(exc)) from None
    validate(data, where=str(Path(path)))
    return TraceData.from_validated(data)


def validate(data: Any, *, where: str = "trace") -> None:
    """Check every field a reader relies on against :data:`TRACE`; raise TraceFileError
    naming the first problem (``t.json: sites[3].op must be a string or null, got 5``)."""
    from kinkcheck.schema import Invalid, check, shown

    def bad(msg: str):
        raise TraceFileError(f"{where}: {msg}")

    if not isinstance(data, dict):
        bad("not a kinkcheck trace (top level is not an object)")
    if data.get("format") != FORMAT:
        bad(f"not a kinkcheck trace (format is {shown(data.get('format'))}, expected {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        bad(f"invalid trace version {shown(version)}")
    if version > VERSION:
        bad(f"trace version {version} was written by a newer kinkcheck; this one reads version {VERSION} (upgrade kinkcheck)")
    try:
        check(data, _schema())
    except Invalid as exc:
        bad(str(exc))


def _schema():
    """The version-1 trace file (README, "The trace file"); unknown keys are allowed."""
    global _SCHEMA
    if _SCHEMA is None:
        from kinkcheck.schema import (
            Int,
            ListOf,
            MapOf,
            Matches,
            Nullable,
            Num,
            Obj,
            Row,
            Str,
        )

        count, name = Int(), Nullable(Str())
        site = Obj(
            required={"path": Str(nonempty=True), "line": Int(), "code": Str(nonempty=True),
                      "evaluations": count, "exact": count, "near": count},
            optional={
                "function": name, "name": name, "op": name, "module": name, "dtype": name,
                "kind": name, "backend": name, "snippet": name, "harmless": count,
                "histogram": MapOf(Matches(r"exact|-?[0-9]{1,3}", "'exact' or a decade such as '-7'"), count),
                "per_step": ListOf(Row(4, count, "step, evaluations, exact, near")),
                "subgradient": Nullable(Obj(optional={"framework": Str(), "value": name})),
                "near_scale": name,
                "observed": Obj(optional={"framework": Str(), "grad": ListOf(Str()), "at": ListOf(Str()),
                                          "step": Int()}),
                "probe": Obj(optional={
                    "probed": count, "sensitive": count, "rel_median": Nullable(Num()), "rel_max": Nullable(Num()),
                    "cos_min": Nullable(Num(lo=-1.0)), "max_change": Num(), "uncovered": Str(), "threshold": Num(),
                    "steps": ListOf(Row(5, Nullable(Num(lo=-1.0)), "step, hits, rel, cos, max")),
                }),
            },
        )
        _SCHEMA = Obj(
            required={"root": Str(), "ranks": ListOf(Int()), "steps": count,
                      "near": Obj(optional={"ulps": Num(), "abs": Num()}), "sites": ListOf(site)},
            optional={"kinkcheck": Str(), "created": Str(), "frameworks": MapOf(Str(), Str()),
                      "counted": MapOf(Str(), Str()),
                      "sampling": Obj(optional={"every_step": Int(lo=1), "every_op": Int(lo=1)}),
                      "rules": ListOf(Str()), "backends": ListOf(Str()),
                      "per_step_blocks": Obj(optional={"exact_steps": Int(), "width": Int(lo=1)}),
                      "probe": Obj(optional={"every": Int(lo=1), "threshold": Num(), "steps": count})},
        )
    return _SCHEMA


_SCHEMA = None


def site_key(site: dict) -> tuple:
    return tuple(site.get(k) for k in SITE_KEY)


def merge(traces: Iterable[dict]) -> dict:
    """Combine traces (per-rank files of one run, or several runs) into one.

    Sites with the same (path, line, function, code, op, module, dtype) add up their counts,
    histograms and per-step rows (rows of the same step add). The near tolerance must agree.
    """
    traces = list(traces)
    if not traces:
        raise TraceFileError("nothing to merge")
    for t in traces:
        validate(t, where="merge input")
    first = traces[0]
    near = first["near"]
    seen: list[dict] = []
    for t in traces:
        if any(t == other for other in seen):
            raise TraceFileError(f"the same trace (created {t.get('created', '?')}, ranks {t.get('ranks')}) "
                                 "is given twice: merging it would count every site twice")
        seen.append(t)
    for t in traces[1:]:
        if t["near"] != near:
            raise TraceFileError(f"cannot merge traces with different near tolerances: {near} and {t['near']}")
        if t["root"] != first["root"]:
            raise TraceFileError(f"cannot merge traces with different roots: {first['root']} and {t['root']}")
    sites: dict[tuple, dict] = {}
    for t in traces:
        for s in t["sites"]:
            k = site_key(s)
            cur = sites.get(k)
            if cur is None:
                cur = sites[k] = {**s, "histogram": dict(s.get("histogram", {})), "per_step": [list(r) for r in s.get("per_step", [])]}
                for c in _COUNTS:
                    cur[c] = int(s.get(c, 0))
                continue
            for c in _COUNTS:
                cur[c] = int(cur.get(c, 0)) + int(s.get(c, 0))
            cur["histogram"] = merge_histograms(cur["histogram"], s.get("histogram", {}))
            rows = {r[0]: list(r) for r in cur["per_step"]}
            for r in s.get("per_step", []):
                if r[0] in rows:
                    rows[r[0]] = [r[0]] + [a + b for a, b in zip(rows[r[0]][1:], r[1:])]
                else:
                    rows[r[0]] = list(r)
            cur["per_step"] = [rows[k2] for k2 in sorted(rows)]
            if s.get("probe"):
                cur["probe"] = merge_probes(cur.get("probe"), s["probe"])
    frameworks: dict[str, str] = {}
    counted: dict[str, str] = {}
    for t in traces:
        frameworks.update(t.get("frameworks", {}))
        counted.update(t.get("counted", {}))
    out = {k: v for k, v in first.items() if k not in ("sites",)}
    probes = [t["probe"] for t in traces if t.get("probe")]
    if probes:  # ranks probe the same steps: the probed steps of a run are its largest count
        out["probe"] = {**probes[0], "steps": max(int(p.get("steps", 0)) for p in probes)}
    out.update(
        created=now_iso(),
        ranks=sorted({r for t in traces for r in t["ranks"]}),
        steps=max(t["steps"] for t in traces),
        frameworks=frameworks,
        counted=counted,
        sites=sorted(sites.values(), key=sort_key),
    )
    # per-step rows summed into blocks (kinkcheck.trace.steps): line them up at the widest
    width = max(int((t.get("per_step_blocks") or {}).get("width", 1)) for t in traces)
    out["per_step_blocks"] = steps.describe(width)
    for s in out["sites"]:
        s["histogram"] = sort_histogram(s["histogram"])
        if width > 1:
            s["per_step"] = steps.rebucket(s["per_step"], width)
    return out


def merge_probes(a: dict | None, b: dict) -> dict:
    """Two records' probe results as one: counts add, rows join (by step), extremes combine;
    the median is taken again over the joined rows."""
    if not a:
        return dict(b)
    rows = sorted([list(r) for r in a.get("steps", [])] + [list(r) for r in b.get("steps", [])], key=lambda r: r[0])
    rels = sorted(r[2] for r in rows if r[2] is not None)
    rel_max = None if a.get("rel_max", 0) is None or b.get("rel_max", 0) is None \
        else max(a.get("rel_max") or 0, b.get("rel_max") or 0)
    coss = [c for c in (a.get("cos_min"), b.get("cos_min")) if c is not None]
    out = {
        "probed": int(a.get("probed", 0)) + int(b.get("probed", 0)),
        "sensitive": int(a.get("sensitive", 0)) + int(b.get("sensitive", 0)),
        "rel_median": rels[len(rels) // 2] if rels else None, "rel_max": rel_max,
        "cos_min": min(coss) if coss else None,
        "max_change": max(a.get("max_change") or 0, b.get("max_change") or 0), "steps": rows,
    }
    for key in ("threshold",):
        if key in a or key in b:
            out[key] = a.get(key, b.get(key))
    uncovered = a.get("uncovered") or b.get("uncovered")
    if uncovered:
        out["uncovered"] = uncovered
    return out


def sort_key(site: dict) -> tuple:
    return (site["path"], site["line"], site["code"], site.get("op") or "", site.get("module") or "", site.get("dtype") or "")
