"""Number and label formatting shared by every renderer, so all formats say the same thing.

It also bounds what a report prints, whatever the trace holds: each format gives a full
block to at most :data:`MAX_SITES` sites (the most dangerous ones: the model sorts them) and
says how many more there are; a site lists at most :data:`MAX_ITEMS` modules, distances or
frameworks, and the join at most :data:`MAX_ITEMS` notes. The JSON report is the model
itself and keeps every site. Paths and names are printed through
:mod:`kinkcheck.output.safe`, so none can break a line or start a CI command.
"""

from __future__ import annotations

import math

from kinkcheck.output.safe import one_line
from kinkcheck.output.safe import path as safe_path
from kinkcheck.report.model import STATUS_LABELS, STATUSES, Report, Site

_BLOCKS = "▁▂▃▄▅▆▇█"

#: Sites shown in full per format (a 100k-site trace still gives a readable, bounded file).
MAX_SITES: dict[str, int] = {"terminal": 100, "markdown": 500, "html": 500}
#: Modules, histogram buckets, frameworks and join notes listed per site or report.
MAX_ITEMS = 20


def shown(report: Report, fmt: str) -> tuple[list[Site], int]:
    """The sites ``fmt`` shows in full (most dangerous first) and how many are left out."""
    limit = MAX_SITES[fmt]
    return report.sites[:limit], max(0, len(report.sites) - limit)


def more_sites(left: int, fmt: str) -> str:
    """The line that stands for the sites a format leaves out."""
    return (f"{left} more site(s) not shown: this format shows the {MAX_SITES[fmt]:,} most dangerous "
            "(`--format json` lists every site).")


def first(items: list, limit: int = MAX_ITEMS) -> tuple[list, str]:
    """The first ``limit`` items and a suffix naming the rest (``""`` when none)."""
    left = len(items) - limit
    return items[:limit], (f" and {left:,} more" if left > 0 else "")


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def rate(r: float) -> str:
    """A fraction as a percentage, in the one number style of every command
    (:func:`kinkcheck.output.numbers.percent`: ``3.44%``, tiny ones ``5.0e-5%``)."""
    from kinkcheck.output.numbers import percent

    return percent(r)


def decade(key: str) -> str:
    """A histogram key as a label: "exact", or "1e-7" for distances in [1e-7, 1e-6)."""
    if key == "exact":
        return "exact"
    try:
        return f"1e{int(key)}"
    except ValueError:
        return key


def location(site: Site) -> str:
    return f"{safe_path(site.path)}:{site.line}"


def function(site: Site) -> str:
    return one_line(site.function) if site.function else ""


def modules(site: Site) -> str:
    items, more = first(site.runtime.modules if site.runtime else [])
    return one_line(", ".join(items)) + more


def title(site: Site) -> str:
    fn = f" in {function(site)}" if site.function else ""
    return f"{site.code} {site.name} at {location(site)}{fn}"


def status_phrase(site: Site) -> str:
    """The status with the counts that earned it: "hit: 12 exact, 40 near of 123,456"."""
    rt = site.runtime
    label = STATUS_LABELS[site.status]
    if rt is None or site.status in ("not-exercised", "not-traced"):
        return label
    return f"{label}: {count(rt.exact)} exact ({rate(rt.exact_rate)}), {count(rt.near)} near ({rate(rt.near_rate)}) of {count(rt.evaluations)} evaluations"


def documented_phrase(site: Site) -> str:
    if not site.documented:
        return "undocumented"
    return f"documented: {one_line(site.reason)}" if site.reason else "documented (no reason given)"


def subgradient_lines(site: Site) -> list[str]:
    """One line per framework: what the catalog says it returns, and, where training hit the
    kink, the gradient the trace observed there (the backward of the very op at a hit). The
    trace confirms the catalog only when that observed gradient matches the catalog's."""
    from kinkcheck.report.model import observation_matches

    out = []
    seen = site.runtime.observed if site.runtime else {}
    frameworks = sorted(set(site.subgradients) | set(seen), key=lambda f: ({"torch": 0, "jax": 1}.get(f, 2), f))
    frameworks, more = first(frameworks, 4)
    for fw in frameworks:
        text = f"{fw}: {site.subgradients[fw]}" if fw in site.subgradients else f"{fw}: (not in the catalog)"
        obs = seen.get(fw)
        if obs:
            grad = ", ".join(obs["grad"])
            at = f" at {', '.join(obs['at'])}" if obs.get("at") else ""
            if observation_matches(obs["grad"], site.subgradient_grads.get(fw, [])):
                text += f" (confirmed by the trace: {fw} returned {grad} at a hit{at})"
            else:
                text += f" (the trace observed {grad} at a hit{at})"
        out.append(one_line(text[:300]))
    if more:
        out.append(f"{more.strip()} framework(s) in the trace")
    return out


def probe_line(site: Site) -> str | None:
    """The subgradient probe's verdict (kinkcheck.trace(probe=...)): "hit 1,204 times; swapping
    the subgradient moved the step's gradient by 3e-4 (median) / 2e-2 (max); sensitive in 2 of
    6 probed steps", or why the site's hits were not probed; None without a probe."""
    rt = site.runtime
    probe = rt.probe if rt is not None else None
    if not probe:
        return None
    if not probe.get("probed"):
        return one_line(f"not probed: {probe['uncovered']}"[:300]) if probe.get("uncovered") else None

    def num(v) -> str:
        return "an infinite amount (a zero gradient)" if v is None else f"{v:.2g}"

    hits = rt.exact if rt is not None else 0
    return (f"hit {count(hits)} time{'' if hits == 1 else 's'}; swapping the subgradient moved the step's gradient by "
            f"{num(probe.get('rel_median'))} (median) / {num(probe.get('rel_max'))} (max) of its norm; "
            f"sensitive in {count(probe.get('sensitive', 0))} of {count(probe['probed'])} probed steps")


def sparkline(per_step: list[list[int]], column: int = 2, width: int = 40) -> str:
    """Hits per step as block characters, summed into at most ``width`` buckets."""
    values = bucket([row[column] for row in per_step], width)
    top = max(values, default=0)
    if top <= 0:
        return _BLOCKS[0] * len(values)
    return "".join(_BLOCKS[min(len(_BLOCKS) - 1, int(v / top * (len(_BLOCKS) - 1) + 0.999))] if v else " " for v in values)


def per_step_line(per_step: list[list[int]], column: int, code: str = "") -> str:
    """A sparkline of one per-step column with its total and step range, or "none"."""
    total = sum(row[column] for row in per_step)
    if total == 0:
        return f"none in {step_range(per_step)}"
    return f"{code}{sparkline(per_step, column)}{code} {count(total)} in {step_range(per_step)}"


def bucket(values: list[int], width: int) -> list[int]:
    if len(values) <= width:
        return list(values)
    size = math.ceil(len(values) / width)
    return [sum(values[i : i + size]) for i in range(0, len(values), size)]


def step_range(per_step: list[list[int]]) -> str:
    if not per_step:
        return ""
    return f"steps {per_step[0][0]}-{per_step[-1][0]}"


def histogram_rows(site: Site) -> list[tuple[str, int]]:
    """Distance buckets, nearest first; a trace with odd keys gets at most MAX_ITEMS * 2."""
    rows = [(one_line(decade(k))[:40], v) for k, v in site.runtime.histogram.items()] if site.runtime else []
    return rows[: MAX_ITEMS * 2]


def trace_lines(report: Report) -> list[str]:
    out = []
    for i, t in enumerate(report.traces):
        name = f"trace {safe_path(t.path)}" if t.path else f"trace {i + 1}"
        bits = []
        if t.steps is not None:
            bits.append(f"{t.steps} steps")
        bits.extend(f"{k} {v}" for k, v in sorted(t.frameworks.items()))
        if t.near:
            bits.append("near = " + ", ".join(f"{k} {v}" for k, v in t.near.items()))
        bits.append(f"{t.sites} site records")
        if t.root and t.root != report.root:
            bits.append(f"recorded in {t.root}")
        out.append(one_line(f"{name}: " + ", ".join(bits)))
    return out


def join_lines(report: Report) -> list[str]:
    """What could and could not be joined, in sentences."""
    j = report.join
    if not report.traces:
        return ["No trace given: statuses are static only (run training under `kinkcheck.trace()` to count hits)."]
    out = [
        f"{j.joined} of {j.runtime_sites} runtime site(s) joined to static findings"
        + (f" ({len(j.moved)} by function after their line moved)" if j.moved else "")
        + f"; {j.runtime_only} found only at run time; {j.not_exercised} static site(s) not exercised."
    ]
    if j.unresolved_paths:
        paths, more = first(j.unresolved_paths, 5)
        out.append(f"Not found in this checkout: {', '.join(safe_path(p[:200]) for p in paths)}{more}.")
    notes, more = first(j.notes)
    out.extend(one_line(n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".")) for n in notes)
    if more:
        out.append(f"{len(j.notes) - MAX_ITEMS:,} more note(s) on the join not shown (`--format json` lists them).")
    return out


def status_columns(report: Report) -> list[str]:
    """The statuses worth a column: all when traced, else only those present."""
    totals = report.status_totals()
    return [s for s in STATUSES if totals[s] or (report.traced and s != "not-traced")]
