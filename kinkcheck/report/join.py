"""Building the kink model: the analyzer's findings joined with trace records into a Report.

A site is keyed by (path, line, rule code). The static side comes from the analyzer's
findings (paths relative to the working directory), the runtime side from trace files
(paths relative to the trace's ``root``). Both are resolved to real paths before they are
joined; a trace recorded in another checkout is matched by its relative paths, and a site
whose line moved is matched by function and rule (and snippet when the trace has one).
Everything the join could not do is written into the report (:class:`model.Join`).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kinkcheck.findings import Finding
from kinkcheck.output.sources import SourceReader
from kinkcheck.report import rewrite
from kinkcheck.report.model import (MAX_LINE, Join, Occurrence, Remedy, Report, Runtime, RuntimePart, Site,
                                    TraceInfo)
from kinkcheck.trace.records import SiteRecord, TraceData


def build(
    findings: Sequence[Finding],
    trace: Mapping | Sequence[Mapping] | None,
    *,
    root: str | os.PathLike,
    catalog=None,
    show_documented: bool = True,
    files_checked: int | None = None,
    problems: Sequence[str] = (),
    trace_paths: Sequence[str | None] = (),
    roots: Sequence[str | os.PathLike] | None = None,
) -> Report:
    """Join static ``findings`` with a loaded ``trace`` (a dict as in DEVELOPERS.md, a list
    of them, or None) into a Report. ``root`` is the directory relative finding paths are
    resolved against and report paths are shown relative to (the CLI's working directory).
    ``roots`` are the checked paths and the project root (default: ``root``): source is
    read only from files inside them (:mod:`kinkcheck.output.sources`), so a trace site
    ``../../etc/passwd`` or a symlink out of the checkout shows no content.
    Never raises on odd trace contents: what it cannot use is listed in ``report.join``."""
    if catalog is None:
        from kinkcheck import catalog as _catalog

        catalog = _catalog.load()
    root_path = Path(root).resolve()
    traces = [] if trace is None else [trace] if isinstance(trace, Mapping) else list(trace)
    sources = SourceReader(list(roots) if roots is not None else [root_path], base=root_path)
    join = Join()
    unresolved: set[str] = set()
    resolve_cache: dict[tuple[str, str | None], tuple[str | None, str]] = {}

    # Static sites, grouped by (path as given, line, code).
    groups: dict[tuple[str, int, str], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(f.path, f.line, f.code)].append(f)
    static: list[Site] = []
    for (path, line, code), fs in groups.items():
        fs.sort(key=lambda f: (f.col, f.end_line, f.end_col))
        resolved: str | None = _real(root_path / path)
        static.append(_static_site(path, line, code, fs, resolved, catalog, sources, traced=bool(traces)))
    join.static_sites = len(static)
    by_file_code: dict[tuple[str | None, str], list[Site]] = defaultdict(list)
    for s in static:
        by_file_code[(s.resolved, s.code)].append(s)
    static_files = {s.resolved for s in static}

    infos: list[TraceInfo] = []
    records: list[tuple[int, SiteRecord]] = []
    for i, t in enumerate(traces):
        if not isinstance(t, Mapping):
            join.notes.append(f"trace {i + 1}: not a trace object; ignored")
            continue
        raw_sites = t.get("sites")
        sites: list = raw_sites if isinstance(raw_sites, list) else []
        if not isinstance(raw_sites, list):
            join.notes.append(f"trace {_trace_name(trace_paths, i)}: has no list of sites")
        if isinstance(t, TraceData):  # loaded and validated: typed records as they are
            typed = t.sites
        else:  # a dict from the Python API: read leniently, once
            typed = tuple(r for r in (SiteRecord.from_dict(s) for s in sites) if r is not None)
        join.skipped_records += len(sites) - len(typed)
        infos.append(
            TraceInfo(
                path=trace_paths[i] if i < len(trace_paths) else None,
                root=_clip(str(t["root"]), 1000) if isinstance(t.get("root"), str) else None,
                steps=_int(t.get("steps")),
                created=_clip(str(t["created"]), 40) if t.get("created") else None,
                frameworks=_small(t.get("frameworks")),
                near=_small(t.get("near")),
                sites=len(sites),
            )
        )
        for rec in typed:
            records.append((i, rec))

    # Runtime records, resolved and grouped by (resolved path or raw path, line, code).
    rt_groups: dict[tuple[str, int, str], list[tuple[int, SiteRecord]]] = defaultdict(list)
    rt_meta: dict[tuple[str, int, str], dict] = {}
    foreign_roots: set[str] = set()
    for i, rec in records:
        troot = traces[i].get("root") if isinstance(traces[i].get("root"), str) else None
        if (rec.path, troot) not in resolve_cache:  # 100k records often name a few files
            resolve_cache[(rec.path, troot)] = _resolve_trace_path(rec.path, troot, root_path, static_files)
        resolved, how = resolve_cache[(rec.path, troot)]
        if troot and how in ("report-root", "suffix") and troot not in foreign_roots and _real(Path(troot)) != str(root_path):
            foreign_roots.add(troot)
        key = (resolved or rec.path, rec.line, rec.code)
        rt_groups[key].append((i, rec))
        rt_meta.setdefault(key, {"resolved": resolved, "how": how, "raw": rec.path, "function": rec.function, "snippet": rec.snippet})
        if resolved is None and rec.path not in unresolved:
            unresolved.add(rec.path)
            join.unresolved_paths.append(rec.path)
    join.runtime_sites = len(rt_groups)
    for troot in sorted(foreign_roots):
        join.notes.append(f"trace recorded under {troot}; its paths were matched against this checkout ({root_path})")
    if join.skipped_records:
        join.notes.append(f"{join.skipped_records} trace record(s) lacked a path, line or code and were skipped")

    # 1. Exact joins: the trace line falls inside a finding of the same rule in the same file.
    unmatched: list[tuple[str, int, str]] = []
    for key, recs in rt_groups.items():
        meta = rt_meta[key]
        site = None
        if meta["resolved"] is not None:
            cands = [s for s in by_file_code.get((meta["resolved"], key[2]), []) if s.line <= key[1] <= _end_line(s)]
            cands.sort(key=lambda s: (s.line != key[1], abs(s.line - key[1])))
            site = cands[0] if cands else None
        if site is None:
            unmatched.append(key)
            continue
        _attach(site, recs)
        join.joined += 1

    # 2. Lines that moved: same file and rule, same function (and snippet, when known);
    #    sites pair up in line order, which an edit above them does not change.
    still: list[tuple[str, int, str]] = []
    buckets: dict[tuple, list[tuple[str, int, str]]] = defaultdict(list)
    for key in unmatched:
        meta = rt_meta[key]
        if meta["resolved"] is None:
            still.append(key)
            continue
        buckets[(meta["resolved"], key[2], _def_name(meta["function"]))].append(key)
    for (resolved, code, function), keys in buckets.items():
        cands = [s for s in by_file_code.get((resolved, code), []) if s.runtime is None and _def_name(s.function) == function]
        pairs = _pair_moved(keys, cands, rt_meta, sources)
        if pairs is None:
            if cands:
                join.notes.append(
                    f"{_display(resolved, root_path)}: {len(keys)} runtime {code} site(s) in {function or 'module code'} "
                    f"could not be matched to {len(cands)} static site(s) whose lines differ"
                )
            still.extend(keys)
            continue
        for key, site in pairs:
            _attach(site, rt_groups[key])
            note = f"trace line {key[1]} matched to line {site.line} (same file, rule and function; the line moved)"
            site.notes.append(note)
            join.moved.append({"path": site.path, "code": code, "trace_line": key[1], "line": site.line})
            join.joined += 1

    # 3. What is left is found only at run time.
    sites = list(static)
    for key in still:
        meta = rt_meta[key]
        site = _runtime_site(key, meta, rt_groups[key], root_path, catalog, sources)
        sites.append(site)
        join.runtime_only += 1

    for s in sites:
        s.status = _status(s, traced=bool(traces), catalog=catalog)
        if s.status == "not-exercised":
            join.not_exercised += 1
    sites.sort(key=Site.sort_key)

    hidden = 0
    if not show_documented:
        hidden = sum(1 for s in sites if s.documented)
        sites = [s for s in sites if not s.documented]
    return Report(
        sites=sites,
        root=str(root_path),
        traces=infos,
        join=join,
        problems=list(problems),
        files_checked=files_checked,
        show_documented=show_documented,
        hidden_documented=hidden,
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _static_site(path, line, code, fs: list[Finding], resolved, catalog, sources, *, traced) -> Site:
    rule = catalog.get(code) if hasattr(catalog, "get") else None
    first = fs[0]
    lines = sources.lines(resolved)
    hidden = resolved in sources.refused  # outside the checked roots: no content of it at all
    occurrences = []
    for f in fs:
        occurrences.append(
            Occurrence(
                col=f.col, end_line=f.end_line, end_col=f.end_col, message=f.message, confidence=f.confidence,
                documented=f.documented, reason=f.reason, snippet="" if hidden else f.snippet,
                replacement=f.replacement,
            )
        )
    documented = all(f.documented for f in fs)
    reasons = [f.reason for f in fs if f.documented and f.reason]
    source = _frame(lines, line, max(f.end_line for f in fs)) if lines else []
    notes = []
    if hidden:
        notes.append(f"{path} resolves outside the checked paths ({resolved}); its code is not shown")
    elif lines is None:
        notes.append(f"{path} could not be read; the code shown is the analyzer's snippet")
    expr = None
    if lines is not None:
        expr = rewrite.segment(lines, first.line, first.col, first.end_line, first.end_col)
    site = Site(
        path=path, line=line, code=code,
        name=first.name or (rule.name if rule else ""),
        category=first.category or (rule.category if rule else "meta"),
        status="not-traced", origin="static", function=first.function,
        documented=documented, reason="; ".join(dict.fromkeys(reasons)) or None,
        confidence=first.confidence, message=first.message,
        snippet="" if hidden else (first.snippet or (expr or "")).strip(),
        source=source,
        **_rule_facts(rule),
        remedies=_remedies(rule, None if hidden else first, expr, None if hidden else lines),
        occurrences=occurrences, runtime=None, notes=notes, resolved=resolved,
    )
    return site


def _runtime_site(key, meta, recs, root_path: Path, catalog, sources) -> Site:
    _, line, code = key
    rule = catalog.get(code) if hasattr(catalog, "get") else None
    resolved = meta["resolved"]
    lines = sources.lines(resolved, checked=False) if resolved else None
    display = _display(resolved, root_path) if resolved else _clip(meta["raw"])
    notes = []
    if resolved is None:
        notes.append(f"{display} does not exist in this checkout; the trace's counts are shown without code")
    elif Path(display).is_absolute():
        display = _library_path(display)
        notes.append(f"outside the project ({resolved}): a kink inside code it called")
    if resolved is not None and resolved in sources.refused:
        notes.append("outside the checked paths: its code is not shown")
    text = _clip(lines[line - 1].strip() if lines and 1 <= line <= len(lines) else str(meta.get("snippet") or ""), MAX_LINE)
    first = recs[0][1]
    site = Site(
        path=display, line=line, code=_clip(code, 40),
        name=_clip(str(first.name or (rule.name if rule else "")), 60),
        category=rule.category if rule else "kink",
        status="not-traced", origin="runtime", function=_clip(meta["function"]),
        documented=False, reason=None, confidence=None,
        message=rule.summary if rule else f"{code} at run time",
        snippet=text,
        source=_frame(lines, line, line) if lines and 1 <= line <= len(lines) else [],
        **_rule_facts(rule),
        remedies=_remedies(rule, None, text, lines),
        occurrences=[], runtime=None, notes=notes, resolved=resolved,
    )
    _attach(site, recs)
    return site


def _rule_facts(rule) -> dict:
    if rule is None:
        return {"summary": "", "where": "", "math": "", "why": "", "subgradients": {}, "subgradient_grads": {},
                "help_uri": None}
    return {
        "summary": rule.summary,
        "where": rule.where,
        "math": rule.math,
        "why": rule.docs.why,
        "subgradients": {s.framework: s.value for s in rule.subgradients},
        "subgradient_grads": {s.framework: [_grad_text(v) for v in s.grad.values()] for s in rule.subgradients if s.grad},
        "help_uri": rule.help_uri,
    }


def _remedies(rule, finding: Finding | None, expr: str | None, lines: list[str] | None = None) -> list[Remedy]:
    """The catalog's remedies filled for the site by the one filler (kinkcheck.remedy, via
    report.rewrite): the analyzer's own where it made them, else read from the finding's
    span, its snippet or the line."""
    texts = [expr, finding.snippet if finding is not None else None]
    filled = rewrite.remedies(rule, finding, texts, lines)
    return [Remedy(title=f.title, template=f.template, rewrite=f.rewrite, note=f.note) for f in filled]


def _attach(site: Site, recs: list[tuple[int, SiteRecord]]) -> None:
    if site.runtime is None:
        site.runtime = Runtime()
    if site.origin == "static":
        site.origin = "both"
    for i, rec in recs:
        part = RuntimePart(
            trace=i, path=rec.path, line=rec.line, op=_str(rec.op), module=_str(rec.module), dtype=_str(rec.dtype),
            evaluations=rec.evaluations, exact=rec.exact, near=rec.near, harmless=rec.harmless,
        )
        site.runtime.add(part, rec.histogram, rec.per_step, rec.observed, _str(rec.near_scale), rec.probe)
    site.runtime.finish()
    if site.function is None:
        site.function = next((_str(r.function) for _, r in recs if r.function), None)


def _status(site: Site, *, traced: bool, catalog) -> str:
    rt = site.runtime
    if rt is not None and rt.evaluations > 0:
        if rt.exact > 0:
            return "hit"
        if rt.near > 0:
            return "near"
        return "clear"
    if rt is not None:
        return "not-exercised"
    if not traced:
        return "not-traced"
    rule = catalog.get(site.code) if hasattr(catalog, "get") else None
    if rule is None or rule.runtime is None:
        site.notes.append(f"the tracer has no runtime form for {site.code}; training cannot be counted here")
        return "not-traced"
    return "not-exercised"


def _pair_moved(keys, cands: list[Site], rt_meta, sources) -> list | None:
    """Pair runtime keys with static sites whose lines moved, or None when it is ambiguous."""
    if not keys or not cands:
        return None
    snippets = {k: _norm(rt_meta[k].get("snippet")) for k in keys}
    if all(snippets.values()):
        pairs = []
        for k in keys:
            same = [s for s in cands if snippets[k] in (_norm(s.snippet), _norm(_line_text(s, sources)))]
            if len(same) != 1:
                return None
            pairs.append((k, same[0]))
        return pairs
    if len(keys) != len(cands):
        return None
    return list(zip(sorted(keys, key=lambda k: k[1]), sorted(cands, key=lambda s: s.line)))


def _line_text(site: Site, sources) -> str:
    lines = sources.lines(site.resolved)
    return lines[site.line - 1] if lines and 1 <= site.line <= len(lines) else ""


def _resolve_trace_path(path: str, troot: str | None, root: Path, static_files: set) -> tuple[str | None, str]:
    """The real path of a trace site's file and how it was found: "trace-root" (the file
    where the trace says), "report-root" (the same relative path in this checkout),
    "suffix" (the longest trailing match among the analyzed files), or None."""
    p = Path(path)
    if p.is_absolute():
        if p.exists():
            return _real(p), "absolute"
        return _suffix(p, static_files)
    same_root = troot is not None and _real(Path(troot)) == str(root)
    if troot is not None and not same_root:
        here = root / p
        if here.exists():
            return _real(here), "report-root"
    base = Path(troot) if troot else root
    there = base / p
    if there.exists():
        return _real(there), "trace-root"
    if troot is None and (root / p).exists():
        return _real(root / p), "report-root"
    return _suffix(p, static_files)


def _suffix(p: Path, static_files: set) -> tuple[str | None, str]:
    parts = p.parts
    best, best_len, tie = None, 0, False
    for f in static_files:
        if not f:
            continue
        fp = Path(f).parts
        n = 0
        while n < min(len(parts), len(fp)) and parts[-1 - n] == fp[-1 - n]:
            n += 1
        if n > best_len:
            best, best_len, tie = f, n, False
        elif n == best_len and n:
            tie = True
    if best is not None and not tie and best_len >= 1:
        return best, "suffix"
    return None, "missing"


def _frame(lines: list[str] | None, line: int, end_line: int, context: int = 1) -> list[list]:
    if not lines:
        return []
    lo = max(1, line - context)
    hi = min(len(lines), max(end_line, line) + context)
    return [[n, _clip(lines[n - 1].rstrip(), MAX_LINE)] for n in range(lo, hi + 1)]


def _end_line(site: Site) -> int:
    return max([site.line] + [o.end_line for o in site.occurrences])


def _real(p: Path) -> str:
    try:
        return os.path.realpath(p)
    except (OSError, ValueError):
        return str(p)


def _display(resolved: str, root: Path) -> str:
    try:
        return Path(resolved).relative_to(root).as_posix()
    except ValueError:
        return resolved


def _library_path(path: str) -> str:
    """``/usr/lib/python3/site-packages/scipy/x.py`` -> ``site-packages/scipy/x.py``."""
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker) - 1 :])
    return path


def _trace_name(paths: Sequence[str | None], i: int) -> str:
    return str(paths[i]) if i < len(paths) and paths[i] else str(i + 1)


def _def_name(function: str | None) -> str | None:
    """The innermost named def: the analyzer says ``train.loss_fn``, the tracer's frames say
    ``loss_fn.<locals>.<genexpr>``; both are ``loss_fn``."""
    if not function:
        return None
    parts = [p for p in str(function).split(".") if p and not p.startswith("<")]
    return parts[-1] if parts else None


def _norm(text: Any) -> str:
    return " ".join(str(text).split()) if text else ""


def _str(v: Any) -> str | None:
    return None if v is None else _clip(str(v))


def _small(mapping: Any, limit: int = 12) -> dict:
    """The first ``limit`` entries of a trace's small dict (frameworks, near), clipped."""
    if not isinstance(mapping, Mapping):
        return {}
    return {_clip(str(k), 60): _clip(v, 60) for k, v in list(mapping.items())[:limit]}


def _clip(text: Any, limit: int = 200) -> Any:
    """Text from a trace (untrusted, unbounded) or a source line, cut to ``limit``
    characters so that one record cannot blow up every format."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    return None


def _grad_text(v) -> str:
    """A gradient value as the JSON-safe text the trace uses ("0", "0.5", "inf", "nan")."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.6g}"
