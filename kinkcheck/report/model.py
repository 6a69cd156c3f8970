"""The kink model: one record per kink site, static facts joined with runtime facts
(:func:`kinkcheck.report.join.build` makes it from findings and traces).

A site is keyed by (path, line, rule code). Everything the join could not do is written
into the report (:class:`Join`), so a reader knows which counts belong to which code.

Every renderer works from this model only, so the terminal, Markdown, HTML and JSON
reports carry the same content.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from kinkcheck import __version__
from kinkcheck.trace.records import Observed, Probed

#: Version of the JSON form of the model (``kinkcheck report --format json``).
SCHEMA_VERSION = 1

#: Site statuses, most dangerous first. Documented sites sort after all undocumented ones.
STATUSES: tuple[str, ...] = ("hit", "near", "clear", "not-exercised", "not-traced")
STATUS_LABELS: Mapping[str, str] = {
    "hit": "hit",
    "near": "near-hit",
    "clear": "reached, never near",
    "not-exercised": "not exercised",
    "not-traced": "not traced",
}
STATUS_HELP: Mapping[str, str] = {
    "hit": "training evaluated the op exactly at its kink",
    "near": "training came within the near tolerance of the kink, never exactly on it",
    "clear": "training evaluated the op, never on or near its kink",
    "not-exercised": "the trace never reached this line",
    "not-traced": "no trace covers this site (none given, or the rule has no runtime form)",
}
ORIGIN_LABELS: Mapping[str, str] = {
    "both": "static + run time",
    "static": "static only",
    "runtime": "found only at run time",
}
_RANK = {s: i for i, s in enumerate(STATUSES)}
#: Source lines in a site's excerpt are cut to this many characters (minified code).
MAX_LINE = 400
_WORST = 5


@dataclass
class Occurrence:
    """One static finding at a site (a line may hold the same kink twice)."""

    col: int
    end_line: int
    end_col: int
    message: str
    confidence: str
    documented: bool
    reason: str | None
    snippet: str
    replacement: str | None


@dataclass
class RuntimePart:
    """One trace record that contributed to a site: an op seen from one module/dtype."""

    trace: int
    path: str
    line: int
    op: str | None
    module: str | None
    dtype: str | None
    evaluations: int
    exact: int
    near: int
    harmless: int


@dataclass
class Runtime:
    """What training did at a site, summed over every trace record joined to it."""

    evaluations: int = 0
    exact: int = 0
    near: int = 0
    harmless: int = 0
    #: "exact" and str(floor(log10(distance))) -> count; ordered exact, then nearest decade.
    histogram: dict[str, int] = field(default_factory=dict)
    #: [step, evaluations, exact, near], summed per step, ascending.
    per_step: list[list[int]] = field(default_factory=list)
    #: framework -> the gradient the tracer observed at a hit (the backward of the very op
    #: at an element exactly on the kink): ``{"grad": [...], "at": [...], "step": n}``, values
    #: as strings ("0", "inf", "nan"); absent when no hit was observed.
    observed: dict[str, dict] = field(default_factory=dict)
    #: what near was measured on for this site's records (catalog NEAR_SCALES)
    near_scale: str | None = None
    #: the subgradient sensitivity probe's results summed over the records (the trace file's
    #: site ``probe``: probed, sensitive, rel_median, rel_max, ...); None when not probed
    probe: dict | None = None
    parts: list[RuntimePart] = field(default_factory=list)

    @property
    def exact_rate(self) -> float:
        return self.exact / self.evaluations if self.evaluations else 0.0

    @property
    def near_rate(self) -> float:
        return self.near / self.evaluations if self.evaluations else 0.0

    @property
    def modules(self) -> list[str]:
        return sorted({p.module for p in self.parts if p.module})

    def add(self, part: RuntimePart, histogram: Mapping[str, int], per_step: Iterable, observed: Observed | None,
            near_scale: str | None = None, probe: Probed | None = None) -> None:
        """Add one record's counts; call :meth:`finish` after the last one (the orderings are
        made once per site, not per record: a site may gather thousands of records)."""
        self.parts.append(part)
        self.evaluations += part.evaluations
        self.exact += part.exact
        self.near += part.near
        self.harmless += part.harmless
        for key, count in histogram.items():
            self.histogram[key] = self.histogram.get(key, 0) + count
        steps = self.__dict__.setdefault("_steps", {row[0]: list(row) for row in self.per_step})
        for row in per_step:
            prev = steps.setdefault(row[0], [row[0], 0, 0, 0])
            for i in (1, 2, 3):
                prev[i] += row[i]
        if observed is not None and part.exact > 0 and observed.framework not in self.observed:
            # the first record's hit speaks for the site
            self.observed[observed.framework] = {"grad": list(observed.grad), "at": list(observed.at), "step": observed.step}
        if near_scale is not None and self.near_scale is None:
            self.near_scale = near_scale
        if probe is not None:
            from kinkcheck.trace.tracefile import merge_probes

            self.probe = merge_probes(self.probe, probe.to_dict())

    def finish(self) -> None:
        """Order the histogram (exact, then nearest decade) and the per-step rows (by step)."""
        self.histogram = dict(sorted(self.histogram.items(), key=lambda kv: _decade_order(kv[0])))
        steps = self.__dict__.get("_steps")
        if steps is not None:
            self.per_step = [steps[k] for k in sorted(steps)]


def observation_matches(grad: list[str], expected: list[str]) -> bool:
    """Does a gradient the trace observed at a hit match the catalog's gradient at the kink?

    Elementwise kinks record one gradient per input: they match as a multiset (``x / y`` at
    ``x < 0`` swaps the signs). Reductions and pools record where the tie's gradient went
    (the nonzero gradients), norms their distinct values: those match on the nonzero values,
    or as a set when the catalog's values are all equal."""
    try:
        obs = [float(v) for v in grad]
        want = [float(v) for v in expected]
    except (TypeError, ValueError):
        return False
    if not obs or not want:
        return False

    def norm(vals):
        return sorted(repr(v) if math.isnan(v) else repr(float(v) + 0.0) for v in vals)

    if norm(obs) == norm(want):
        return True
    if len(set(norm(want))) == 1 and set(norm(obs)) == set(norm(want)):
        return True
    nonzero = [v for v in obs if v != 0]
    return bool(nonzero) and norm(nonzero) == norm([v for v in want if v != 0])


@dataclass
class Remedy:
    title: str
    template: str | None
    #: The template filled with the user's expression, or the analyzer's replacement.
    rewrite: str | None
    note: str


@dataclass
class Site:
    """One kink site: where, what, how training met it, whether it is documented, and the fix."""

    path: str
    line: int
    code: str
    name: str
    category: str
    status: str
    origin: str
    function: str | None
    documented: bool
    reason: str | None
    confidence: str | None
    message: str
    snippet: str
    #: [line number, text] of the code around the site, from the file as it is now.
    source: list[list]
    summary: str
    where: str
    math: str
    why: str
    #: framework -> the subgradient value the catalog says it returns at the kink.
    subgradients: dict[str, str]
    remedies: list[Remedy]
    occurrences: list[Occurrence]
    runtime: Runtime | None
    notes: list[str]
    help_uri: str | None = None
    #: framework -> the catalog's gradient values at the kink (``[subgradient.X] grad``), in
    #: the order of its expression's variables: what an observed gradient must match
    subgradient_grads: dict[str, list[str]] = field(default_factory=dict)
    #: The resolved file, for joining; not shown.
    resolved: str | None = None

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.path, self.line, self.code)

    @property
    def anchor(self) -> str:
        safe = "".join(c if c.isalnum() else "-" for c in self.path)
        return f"{self.code}-{safe}-{self.line}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS[self.origin]

    def sort_key(self) -> tuple:
        rt = self.runtime or Runtime()
        return (self.documented, _RANK[self.status], -rt.exact, -rt.near, -rt.evaluations, self.path, self.line, self.code)


@dataclass
class TraceInfo:
    path: str | None
    root: str | None
    steps: int | None
    created: str | None
    frameworks: dict[str, str]
    near: dict[str, Any]
    sites: int


@dataclass
class Join:
    """What the join did: how many runtime sites joined, moved, or stayed unmatched, and why."""

    static_sites: int = 0
    runtime_sites: int = 0
    joined: int = 0
    moved: list[dict] = field(default_factory=list)
    runtime_only: int = 0
    not_exercised: int = 0
    unresolved_paths: list[str] = field(default_factory=list)
    skipped_records: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    sites: list[Site]
    root: str
    traces: list[TraceInfo]
    join: Join
    #: Input problems the report could not get past (missing or corrupt files, bad paths).
    problems: list[str] = field(default_factory=list)
    files_checked: int | None = None
    show_documented: bool = True
    hidden_documented: int = 0
    created: str = ""
    kinkcheck: str = __version__

    # -- the summary every format prints at the top ------------------------------------

    @property
    def traced(self) -> bool:
        return bool(self.traces)

    def counts(self) -> dict[str, dict[str, int]]:
        """category -> status -> number of sites (only non-zero cells)."""
        out: dict[str, dict[str, int]] = {}
        for s in self.sites:
            row = out.setdefault(s.category, {})
            row[s.status] = row.get(s.status, 0) + 1
        return {c: out[c] for c in sorted(out)}

    def status_totals(self) -> dict[str, int]:
        totals = {s: 0 for s in STATUSES}
        for s in self.sites:
            totals[s.status] += 1
        return totals

    def worst(self, n: int = _WORST) -> list[Site]:
        """The undocumented sites training hit or came near, most dangerous first."""
        return [s for s in self.sites if not s.documented and s.status in ("hit", "near")][:n]

    @property
    def undocumented(self) -> int:
        return sum(1 for s in self.sites if not s.documented)

    @property
    def documented(self) -> int:
        return sum(1 for s in self.sites if s.documented) + self.hidden_documented

    def headline(self) -> str:
        """One sentence: how many sites, how many undocumented, how many training hit."""
        if not self.sites and not self.hidden_documented:
            checked = f" in {self.files_checked} file{'s' * (self.files_checked != 1)}" if self.files_checked is not None else ""
            return f"No kink sites found{checked}."
        total = len(self.sites) + self.hidden_documented
        parts = [f"{total} kink site{'s' * (total != 1)}", f"{self.undocumented} undocumented", f"{self.documented} documented"]
        text = ", ".join(parts)
        if self.traced:
            hit = sum(1 for s in self.sites if s.status == "hit" and not s.documented)
            near = sum(1 for s in self.sites if s.status == "near" and not s.documented)
            text += f"; training hit {hit} undocumented site{'s' * (hit != 1)} exactly and came near {near} more"
        return text + "."

    def overall_steps(self) -> list[list[int]]:
        """[step, evaluations, exact, near] summed over all sites."""
        steps: dict[int, list[int]] = {}
        for s in self.sites:
            if s.runtime:
                for step, ev, ex, nr in s.runtime.per_step:
                    row = steps.setdefault(step, [step, 0, 0, 0])
                    row[1] += ev
                    row[2] += ex
                    row[3] += nr
        return [steps[k] for k in sorted(steps)]

    def to_dict(self) -> dict:
        """The versioned JSON form: everything every other format shows."""
        return {
            "format": "kinkcheck-report",
            "version": SCHEMA_VERSION,
            "kinkcheck": self.kinkcheck,
            "created": self.created,
            "root": self.root,
            "headline": self.headline(),
            "summary": {
                "sites": len(self.sites) + self.hidden_documented,
                "undocumented": self.undocumented,
                "documented": self.documented,
                "hidden_documented": self.hidden_documented,
                "files_checked": self.files_checked,
                "by_status": self.status_totals(),
                "by_category": self.counts(),
                "worst": [{"path": s.path, "line": s.line, "code": s.code} for s in self.worst()],
            },
            "traces": [asdict(t) for t in self.traces],
            "join": asdict(self.join),
            "problems": list(self.problems),
            "sites": [_site_dict(s) for s in self.sites],
        }


def _site_dict(s: Site) -> dict:
    d = asdict(s)
    d.pop("resolved")
    d["status_label"] = s.status_label
    d["origin_label"] = s.origin_label
    if s.runtime is not None:
        d["runtime"]["exact_rate"] = s.runtime.exact_rate
        d["runtime"]["near_rate"] = s.runtime.near_rate
        d["runtime"]["modules"] = s.runtime.modules
    return d


def _decade_order(key: str) -> tuple:
    if key == "exact":
        return (0, 0)
    try:
        return (1, int(key))
    except ValueError:
        return (2, 0)


def __getattr__(name: str):
    """``model.build``, as earlier releases documented it: the join lives in report.join."""
    if name == "build":
        from kinkcheck.report.join import build

        return build
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
