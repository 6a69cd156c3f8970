"""The report as one self-contained HTML file: inline CSS, inline SVG charts, a few lines of
inline JavaScript to filter sites by status and category. Nothing is fetched over the
network (no fonts, scripts or images), so the file opens the same offline and in CI
artifacts."""

from __future__ import annotations

from html import escape

from kinkcheck.output.safe import block, guard, one_line
from kinkcheck.report import svg
from kinkcheck.report import text as tx
from kinkcheck.report.model import STATUS_HELP, STATUS_LABELS, STATUSES, Report, Site

_CSP = (
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; img-src data:\">"
)

_CSS = """
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--hit:#cf222e;--near:#9a6700;--clear:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.headline{font-size:16px;font-weight:600;margin:4px 0 8px}.meta{color:var(--muted);margin:2px 0}
.problems{border:1px solid var(--hit);background:#ffebe9;padding:8px 12px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--soft)}td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px;background:#fff}figcaption{color:var(--muted);font-size:12px}
#filters{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);padding:8px 0;z-index:1}
#filters fieldset{display:inline-block;border:1px solid var(--line);border-radius:6px;margin:0 8px 4px 0;padding:2px 10px}
#filters label{margin-right:10px;white-space:nowrap}
.site{border:1px solid var(--line);border-left:6px solid var(--line);border-radius:6px;margin:12px 0;padding:10px 14px}
.site.s-hit{border-left-color:var(--hit)}.site.s-near{border-left-color:#d4a72c}.site.s-clear{border-left-color:var(--clear)}
.site.documented{background:#fbfdfb}
.site h3{margin:0;font-size:15px}.site h3 code{font-size:14px}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;margin-left:6px;border:1px solid var(--line);background:var(--soft)}
.b-hit{background:#ffebe9;color:var(--hit);border-color:#ff818266}.b-near{background:#fff8c5;color:var(--near)}.b-clear{background:#dafbe1;color:var(--clear)}
.b-doc{background:#dafbe1;color:var(--clear)}.b-undoc{background:#fff8c5;color:var(--near)}
pre{background:var(--soft);border-radius:6px;padding:8px 10px;overflow-x:auto;margin:8px 0;font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre .hl{background:#fff8c5;display:inline-block;min-width:100%}pre .ln{color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}dt{font-weight:600;color:var(--muted)}dd{margin:0}
.remedy code{background:var(--soft);padding:1px 4px;border-radius:4px}
.rewrite{border-left:3px solid var(--clear);white-space:pre-wrap;overflow-wrap:anywhere}
.note{color:var(--muted);font-size:13px}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
"""

# Filters: every checkbox is "name:value"; a site is shown when its status, category and
# documented-ness are all checked. A link can preset them (#hide=status:clear,...). Sets
# data-ready so the browser test knows the script ran to the end.
_JS = """
(function () {
  var boxes = Array.prototype.slice.call(document.querySelectorAll('#filters input[type=checkbox]'));
  var sites = Array.prototype.slice.call(document.querySelectorAll('article.site'));
  function apply() {
    var on = {};
    boxes.forEach(function (b) { on[b.name + ':' + b.value] = b.checked; });
    var shown = 0;
    sites.forEach(function (s) {
      var ok = on['status:' + s.dataset.status] !== false && on['category:' + s.dataset.category] !== false &&
               on['documented:' + s.dataset.documented] !== false;
      s.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById('shown').textContent = String(shown);
  }
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  var hide = /hide=([^&]*)/.exec(location.hash);  // kinks.html#hide=status:clear,category:branch
  if (hide) {
    decodeURIComponent(hide[1]).split(',').forEach(function (k) {
      boxes.forEach(function (b) { if (b.name + ':' + b.value === k) { b.checked = false; } });
    });
  }
  apply();
  document.body.setAttribute('data-ready', '1');
})();
"""


def render(report: Report) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Belt and braces for "no network": the page may load nothing but itself.
        _CSP,
        "<title>kinkcheck report</title>",
        f"<style>{_CSS}</style></head>",
        '<body><main>',
        "<header><h1>kinkcheck report</h1>",
        f'<p class="headline" id="headline">{escape(report.headline())}</p>',
        f'<p class="meta">root <code>{escape(one_line(report.root))}</code> · kinkcheck {escape(report.kinkcheck)} · {escape(report.created)}</p>',
    ]
    for line in tx.trace_lines(report):
        out.append(f'<p class="meta">{escape(line)}</p>')
    out.append("</header>")
    if report.problems:
        out.append('<section class="problems" id="problems"><strong>Problems with the input</strong><ul>')
        out += [f"<li>{escape(one_line(p))}</li>" for p in report.problems]
        out.append("</ul></section>")
    out.append(_summary(report))
    if report.sites:
        sites, left = tx.shown(report, "html")
        out.append(_filters(report, len(sites)))
        out.append('<section id="sites">')
        out += [_site(s) for s in sites]
        if left:
            out.append(f'<p class="note" id="more-sites"><strong>{_prose(tx.more_sites(left, "html"))}</strong></p>')
        out.append("</section>")
    if report.hidden_documented:
        out.append(f'<p class="note">{report.hidden_documented} documented site(s) hidden (--show-documented shows them).</p>')
    out.append(f"</main><script>{_JS}</script></body></html>")
    return guard("\n".join(out) + "\n", "xml")


def _summary(report: Report) -> str:
    out = ['<section id="summary"><h2>Summary</h2>']
    out.append("<ul>" + "".join(f"<li>{_prose(line)}</li>" for line in tx.join_lines(report)) + "</ul>")
    if report.sites:
        cols = tx.status_columns(report)
        out.append('<table id="by-category"><thead><tr><th>category</th>')
        out += [f'<th title="{escape(STATUS_HELP[s])}">{escape(STATUS_LABELS[s])}</th>' for s in cols]
        out.append("<th>total</th></tr></thead><tbody>")
        for category, row in report.counts().items():
            out.append(f"<tr><td>{escape(category)}</td>" + "".join(f'<td class="n">{row.get(s, 0)}</td>' for s in cols)
                       + f'<td class="n">{sum(row.values())}</td></tr>')
        totals = report.status_totals()
        out.append("<tr><th>all</th>" + "".join(f'<th class="n">{totals[s]}</th>' for s in cols)
                   + f'<th class="n">{len(report.sites)}</th></tr></tbody></table>')
    worst = report.worst()
    if worst:
        out.append('<h3>Worst sites</h3><table id="worst"><thead><tr><th>site</th><th>rule</th><th>function</th>'
                   "<th>exact</th><th>near</th><th>evaluations</th><th>hit rate</th></tr></thead><tbody>")
        for s in worst:
            rt = s.runtime
            assert rt is not None, "the worst sites are the ones the trace measured"
            out.append(
                f'<tr><td><a href="#{escape(s.anchor)}"><code>{escape(tx.location(s))}</code></a></td>'
                f"<td><code>{s.code}</code> {escape(s.name)}</td><td>{escape(tx.function(s))}</td>"
                f'<td class="n">{tx.count(rt.exact)}</td><td class="n">{tx.count(rt.near)}</td>'
                f'<td class="n">{tx.count(rt.evaluations)}</td><td class="n">{tx.rate(rt.exact_rate)}</td></tr>'
            )
        out.append("</tbody></table>")
    charts = []
    rates = svg.rates(report.sites)
    if rates:
        charts.append(f'<figure id="chart-rates">{rates}<figcaption>Hit rate per traced site (most dangerous first)</figcaption></figure>')
    overall = report.overall_steps()
    if overall:
        charts.append(f'<figure id="chart-steps">{svg.steps(overall, width=420, height=180)}'
                      "<figcaption>Hits over training steps, all sites</figcaption></figure>")
    if charts:
        out.append('<div class="charts">' + "".join(charts) + "</div>")
    out.append("</section>")
    return "\n".join(out)


def _filters(report: Report, shown: int) -> str:
    """Checkboxes with the count of all sites per value; the "showing" counter counts the
    sites written into the page (``shown``), which the script then filters."""
    totals = report.status_totals()
    cats = sorted({s.category for s in report.sites})
    docs = {s.documented for s in report.sites}
    out = ['<section id="filters"><fieldset><legend>status</legend>']
    for s in STATUSES:
        if totals[s]:
            out.append(f'<label><input type="checkbox" name="status" value="{s}" checked> {escape(STATUS_LABELS[s])} ({totals[s]})</label>')
    out.append("</fieldset><fieldset><legend>category</legend>")
    for c in cats:
        n = sum(1 for s in report.sites if s.category == c)
        out.append(f'<label><input type="checkbox" name="category" value="{escape(c)}" checked> {escape(c)} ({n})</label>')
    out.append("</fieldset>")
    if len(docs) > 1:
        out.append("<fieldset><legend>documented</legend>")
        out.append('<label><input type="checkbox" name="documented" value="false" checked> undocumented</label>')
        out.append('<label><input type="checkbox" name="documented" value="true" checked> documented</label></fieldset>')
    out.append(f'<span class="note">showing <span id="shown">{shown}</span> of {len(report.sites)} sites</span></section>')
    return "".join(out)


def _site(s: Site) -> str:
    rt = s.runtime
    cls = f"site s-{s.status}" + (" documented" if s.documented else "")
    out = [
        (f'<article class="{cls}" id="{escape(s.anchor)}" data-status="{s.status}" data-category="{escape(s.category)}" '
         f'data-documented="{"true" if s.documented else "false"}">'),
        f"<h3><code>{s.code}</code> {escape(s.name)} · <code>{escape(tx.location(s))}</code>"
        + (f" in <code>{escape(tx.function(s))}</code>" if s.function else "")
        + f'<span class="badge b-{s.status}">{escape(STATUS_LABELS[s.status])}</span>'
        + ('<span class="badge b-doc">documented</span>' if s.documented else '<span class="badge b-undoc">undocumented</span>')
        + f'<span class="badge">{escape(s.origin_label)}</span></h3>',
    ]
    if s.source:
        width = len(str(s.source[-1][0]))
        rows = []
        for n, line in s.source:
            row = f'<span class="ln">{n:>{width}} │ </span>{escape(one_line(line))}'
            rows.append(f'<span class="hl">{row}</span>' if n == s.line else row)
        out.append("<pre>" + "\n".join(rows) + "</pre>")
    elif s.snippet:
        out.append(f"<pre>{escape(block(s.snippet))}</pre>")
    out.append("<dl>")
    out.append(f"<dt>status</dt><dd>{escape(tx.status_phrase(s))}</dd>")
    out.append(f"<dt>found</dt><dd>{escape(s.origin_label)}</dd>")
    out.append(f"<dt>documented</dt><dd>{escape(tx.documented_phrase(s))}</dd>")
    if s.message:
        out.append(f"<dt>what</dt><dd>{_prose(s.message)}</dd>")
    kink = "; ".join(x for x in (f"at `{s.where}`" if s.where else "", s.math) if x)
    if kink:
        out.append(f"<dt>kink</dt><dd>{_prose(kink)}</dd>")
    if s.why:
        out.append(f"<dt>why</dt><dd>{_prose(' '.join(s.why.split()))}</dd>")
    subs = tx.subgradient_lines(s)
    if subs:
        out.append("<dt>subgradient</dt><dd>" + "<br>".join(escape(x) for x in subs) + "</dd>")
    swap = tx.probe_line(s)
    if swap:
        out.append(f"<dt>swap</dt><dd>{escape(swap)}</dd>")
    if rt is not None:
        if rt.harmless:
            out.append(f"<dt>harmless</dt><dd>{tx.count(rt.harmless)} ties among a preceding ReLU's zeros (not counted as hits)</dd>")
        if rt.modules:
            out.append(f"<dt>modules</dt><dd>{escape(tx.modules(s))}</dd>")
        hist = tx.histogram_rows(s)
        if hist:
            out.append("<dt>distance</dt><dd>" + escape(" · ".join(f"{k}: {tx.count(v)}" for k, v in hist)) + "</dd>")
    for note in s.notes:
        out.append(f'<dt>note</dt><dd class="note">{escape(one_line(note))}</dd>')
    out.append("</dl>")
    if rt is not None and (rt.histogram or rt.per_step):
        charts = []
        if rt.histogram:
            buckets = dict(list(rt.histogram.items())[: tx.MAX_ITEMS * 2])
            charts.append(f"<figure>{svg.histogram(buckets)}<figcaption>distance to the kink</figcaption></figure>")
        if rt.per_step:
            charts.append(f"<figure>{svg.steps(rt.per_step)}<figcaption>hits over training steps ({escape(tx.step_range(rt.per_step))})</figcaption></figure>")
        if rt.probe and rt.probe.get("steps"):
            chart = svg.sensitivity(rt.probe["steps"], rt.probe.get("threshold"))
            charts.append(f"<figure>{chart}<figcaption>how far the other subgradient moved the step's gradient</figcaption></figure>")
        out.append('<div class="charts">' + "".join(charts) + "</div>")
    if s.remedies:
        out.append('<div class="remedy"><strong>Use instead</strong><ul>')
        for rem in s.remedies:
            item = f"<li><strong>{escape(rem.title)}</strong>"
            if rem.note:
                item += f": {_prose(rem.note)}"
            if rem.rewrite:
                item += f'<pre class="rewrite">{escape(rem.rewrite)}</pre>'
            out.append(item + "</li>")
        out.append("</ul></div>")
    if s.help_uri:
        out.append(f'<p class="note"><a href="{escape(s.help_uri)}">{s.code} in the rule catalog</a></p>')
    out.append("</article>")
    return "\n".join(out)


def _prose(text: str) -> str:
    """Escaped text with the catalog's `code` spans as <code>."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show it as written
        return escape(str(text))
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))
