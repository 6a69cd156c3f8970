"""Small inline SVG charts for the HTML report: no scripts, no fonts, no network."""

from __future__ import annotations

import math
from html import escape

from kinkcheck.report import text as tx

HIT = "#cf222e"
NEAR = "#d4a72c"
EVAL = "#8c959f"
AXIS = "#57606a"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], label: str, cls: str) -> str:
    return (
        f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, s: str, anchor: str = "start", fill: str = AXIS) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" {FONT}>{escape(s)}</text>'


def rates(sites, *, width: int = 640, limit: int = 30) -> str:
    """Horizontal bars per traced site: the fraction of evaluations exactly at the kink and
    near it, on a log scale (rates span 1e-9 to 1)."""
    rows = [s for s in sites if s.runtime and s.runtime.evaluations][:limit]
    if not rows:
        return ""
    positive = [r for s in rows for r in (s.runtime.exact_rate, s.runtime.near_rate) if r > 0]
    lo = max(-15, min(-6, math.floor(math.log10(min(positive))) if positive else -6))
    label_w, right = 230, 60
    plot_w = width - label_w - right
    row_h = 26
    height = 30 + row_h * len(rows) + 24
    body = []
    for d in range(lo, 1):
        x = label_w + plot_w * (d - lo) / -lo
        body.append(f'<line x1="{x:.1f}" y1="22" x2="{x:.1f}" y2="{height - 22}" stroke="#d0d7de" stroke-width="1"/>')
        if (d - lo) % max(1, (-lo) // 6) == 0 or d == 0:
            body.append(_text(x, height - 8, "1" if d == 0 else f"1e{d}", "middle"))
    body.append(f'<rect x="{label_w}" y="4" width="10" height="10" fill="{HIT}"/>')
    body.append(_text(label_w + 14, 13, "exact hits / evaluations"))
    body.append(f'<rect x="{label_w + 170}" y="4" width="10" height="10" fill="{NEAR}"/>')
    body.append(_text(label_w + 184, 13, "near hits / evaluations (log scale)"))

    def bar(r: float, y: float, color: str) -> str:
        if r <= 0:
            return ""
        w = max(1.5, plot_w * (math.log10(min(r, 1.0)) - lo) / -lo)
        return f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="9" fill="{color}"><title>{tx.rate(r)}</title></rect>'

    for i, s in enumerate(rows):
        y = 28 + i * row_h
        rt = s.runtime
        label = f"{s.code} {tx.location(s)}"
        if len(label) > 40:
            label = "…" + label[-39:]
        body.append(f'<a href="#{escape(s.anchor)}">{_text(label_w - 8, y + 14, label, "end", "#0969da")}</a>')
        body.append(bar(rt.exact_rate, y + 2, HIT))
        body.append(bar(rt.near_rate, y + 12, NEAR))
        body.append(_text(width - right + 6, y + 14, tx.rate(rt.exact_rate)))
    return _svg(width, height, body, "hit rate per site", "chart chart-rates")


def sensitivity(rows: list, threshold: float | None, *, width: int = 360, height: int = 140) -> str:
    """The probe's ``||g_alt - g|| / ||g||`` per probed step (``[step, hits, rel, cos, max]``
    rows) on a log scale, red above the sensitivity threshold (dashed)."""
    pts = [(r[0], r[2]) for r in rows if r[2] is None or r[2] > 0]
    if not rows:
        return ""
    vals = [v for _, v in pts if v is not None] + ([threshold] if threshold else [])
    lo = max(-20, min(-4, math.floor(math.log10(min(vals))) if vals else -4))
    hi = max(0, math.ceil(math.log10(max(vals))) if vals else 0)
    left, bottom, pad = 40, 30, 10
    plot_w, plot_h = width - left - pad, height - bottom - pad
    first, last = rows[0][0], rows[-1][0]

    def xy(step: int, v: float | None) -> tuple[float, float]:
        x = left + (plot_w * (step - first) / (last - first) if last > first else plot_w / 2)
        lv = hi if v is None else min(hi, max(lo, math.log10(v)))
        return x, pad + plot_h * (hi - lv) / (hi - lo)

    body = [
        f'<line x1="{left}" y1="{pad + plot_h}" x2="{left + plot_w}" y2="{pad + plot_h}" stroke="{AXIS}"/>',
        f'<line x1="{left}" y1="{pad}" x2="{left}" y2="{pad + plot_h}" stroke="{AXIS}"/>',
        _text(left - 4, pad + 8, f"1e{hi}" if hi else "1", "end"),
        _text(left - 4, pad + plot_h, f"1e{lo}", "end"),
        _text(left, height - 14, f"step {first}"),
        _text(left + plot_w, height - 14, f"step {last}", "end"),
    ]
    if threshold:
        _, ty = xy(first, threshold)
        body.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="{NEAR}" '
                    f'stroke-dasharray="4 3"><title>threshold {threshold:.2g}</title></line>')
    for step, v in pts:
        x, y = xy(step, v)
        hot = v is None or (threshold is not None and v > threshold)
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{HIT if hot else EVAL}">'
                    f"<title>step {step}: {'inf' if v is None else f'{v:.2g}'}</title></circle>")
    body.append(_text(left + plot_w / 2, height - 2, "||g_alt - g|| / ||g|| per probed step (log; dashed: threshold)", "middle"))
    return _svg(width, height, body, "subgradient sensitivity per probed step", "chart chart-sensitivity")


def histogram(hist: dict[str, int], *, width: int = 360, height: int = 140) -> str:
    """Counts per distance to the kink: exact, then decades nearest first."""
    items = list(hist.items())
    if not items:
        return ""
    top = max(v for _, v in items) or 1
    left, bottom = 8, 30
    plot_h = height - bottom - 16
    bw = min(36, (width - 2 * left) / len(items))
    body = []
    for i, (key, v) in enumerate(items):
        x = left + i * bw
        h = 0 if v == 0 else max(1.5, plot_h * math.log10(v + 1) / math.log10(top + 1))
        color = HIT if key == "exact" else EVAL
        body.append(
            f'<rect x="{x + 2:.1f}" y="{height - bottom - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(tx.decade(key))}: {tx.count(v)}</title></rect>"
        )
        if len(items) <= 12 or i % math.ceil(len(items) / 12) == 0:
            body.append(_text(x + bw / 2, height - bottom + 13, tx.decade(key), "middle"))
    body.append(f'<line x1="{left}" y1="{height - bottom}" x2="{left + bw * len(items):.1f}" y2="{height - bottom}" stroke="{AXIS}"/>')
    body.append(_text(left, height - 4, "distance to the kink (log-scaled counts)"))
    return _svg(int(max(width, left * 2 + bw * len(items))), height, body, "distance-to-kink histogram", "chart chart-hist")


def steps(per_step: list[list[int]], *, width: int = 360, height: int = 140, points: int = 240) -> str:
    """Exact and near hits per training step as two lines (steps bucketed when many)."""
    if not per_step:
        return ""
    size = max(1, math.ceil(len(per_step) / points))
    xs = [per_step[i][0] for i in range(0, len(per_step), size)]
    exact = tx.bucket([r[2] for r in per_step], math.ceil(len(per_step) / size))
    near = tx.bucket([r[3] for r in per_step], math.ceil(len(per_step) / size))
    top = max(exact + near + [1])
    left, bottom, pad = 40, 30, 10
    plot_w, plot_h = width - left - pad, height - bottom - pad
    n = len(xs)

    def path(vals: list[int]) -> str:
        pts = []
        for i, v in enumerate(vals):
            x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
            y = pad + plot_h * (1 - v / top)
            pts.append(f"{x:.1f},{y:.1f}")
        return " ".join(pts)

    body = [
        f'<line x1="{left}" y1="{pad + plot_h}" x2="{left + plot_w}" y2="{pad + plot_h}" stroke="{AXIS}"/>',
        f'<line x1="{left}" y1="{pad}" x2="{left}" y2="{pad + plot_h}" stroke="{AXIS}"/>',
        _text(left - 4, pad + 8, tx.count(top), "end"),
        _text(left - 4, pad + plot_h, "0", "end"),
        _text(left, height - 14, f"step {xs[0]}"),
        _text(left + plot_w, height - 14, f"step {per_step[-1][0]}", "end"),
    ]
    marker = n == 1
    for vals, color, name in ((near, NEAR, "near"), (exact, HIT, "exact")):
        if marker:
            x, y = path(vals).split(",")
            body.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
        else:
            body.append(f'<polyline points="{path(vals)}" fill="none" stroke="{color}" stroke-width="1.6"><title>{name} per step</title></polyline>')
    body.append(_text(left + plot_w / 2, height - 2, "exact (red) and near (amber) hits per step" + (f" (bucketed by {size})" if size > 1 else ""), "middle"))
    return _svg(width, height, body, "hits over training steps", "chart chart-steps")
