"""The trace as a rich table: one row per site, busiest kinks first."""

from __future__ import annotations


def _fmt_frac(n: int, total: int) -> str:
    """A rate in the one number style of every command (:mod:`kinkcheck.output.numbers`)."""
    from kinkcheck.output.numbers import share

    return share(n, total)


def _num(v) -> str:
    return "inf" if v is None else f"{v:.2g}"


def probe_cell(probe: dict | None) -> str:
    """The probe's verdict at a site: "2/6 steps sensitive" and how far the other
    subgradient moved the step's gradient (median / max of ||g_alt - g|| / ||g||)."""
    if not probe:
        return "-"
    if not probe.get("probed"):
        return "not probed: " + probe["uncovered"] if probe.get("uncovered") else "-"
    return (f"{probe.get('sensitive', 0):,}/{probe['probed']:,} steps sensitive\n"
            f"moved {_num(probe.get('rel_median'))} (median) / {_num(probe.get('rel_max'))} (max)")


def render(data: dict, *, top: int | None = None):
    from rich.table import Table

    sites = sorted(data["sites"], key=lambda s: (-s["exact"], -s["near"], -s["evaluations"], s["path"], s["line"]))
    if top:
        sites = sites[:top]
    steps = data.get("steps", 0)
    ranks = data.get("ranks", [])
    near = data.get("near", {})
    title = f"kinkcheck trace: {len(data['sites'])} sites, {steps} steps"
    if len(ranks) > 1:
        title += f", ranks {', '.join(map(str, ranks))}"
    caption = f"near = within {near.get('ulps')} ULPs of the scale each rule names (+{near.get('abs')}; kinkcheck rule CODE)"
    for backend, what in sorted((data.get("counted") or {}).items()):
        caption += f"\n{backend} counts {what}"
    probe = data.get("probe")
    if probe:
        caption += (f"\nprobe: every {probe.get('every')} steps ({probe.get('steps', 0)} probed); swap = the step's "
                    f"gradient with the other subgradient at the hits, ||g_alt - g|| / ||g||; sensitive above "
                    f"{probe.get('threshold', 0):.2g}")
    table = Table(title=title, caption=caption)
    table.add_column("where", overflow="fold", min_width=12)
    table.add_column("rule", no_wrap=True)
    table.add_column("op / module", overflow="fold", min_width=10)
    # numbers fold rather than end in "…" on a narrow terminal; into a file or pipe the table
    # is printed at its natural width (kinkcheck.output.terminal), so nothing wraps there
    table.add_column("evals", justify="right", overflow="fold")
    table.add_column("exact", justify="right", overflow="fold")
    table.add_column("near", justify="right", overflow="fold")
    table.add_column("closest", justify="right", overflow="fold")
    table.add_column("grad at hit", overflow="fold")  # what the framework returned at a hit (observed)
    if probe:
        table.add_column("swap", overflow="fold")
    for s in sites:
        where = f"{s['path']}:{s['line']}"
        if s.get("function"):
            where += f"\n{s['function']}"
        op = (s.get("op") or "").replace("aten.", "").replace(".default", "")
        if s.get("dtype"):
            op += f" {s['dtype']}"
        if s.get("module"):
            op += f"\n{s['module']}"
        exact = f"{s['exact']:,}"
        if s["exact"]:
            exact += f"\n{_fmt_frac(s['exact'], s['evaluations'])}"
        if s.get("harmless"):
            exact += f"\n+{s['harmless']:,} harmless"
        hist = s.get("histogram", {})
        decades = [int(k) for k in hist if k != "exact"]
        closest = "exact" if "exact" in hist else (f"1e{min(decades)}" if decades else "-")
        observed = s.get("observed") or {}
        sub = ", ".join(observed.get("grad") or []) if s["exact"] and observed.get("grad") else "-"
        cells = [where, s["code"], op, f"{s['evaluations']:,}", exact, f"{s['near']:,}", closest, sub]
        if probe:
            cells.append(probe_cell(s.get("probe")))
        table.add_row(*cells)
    return table
