"""A trace with 100k sites renders a report of bounded size (issue 8, part 4): the terminal,
Markdown and HTML reports give a full block to at most ``text.MAX_SITES[fmt]`` sites, the
most dangerous first, and say how many more there are; one site cannot blow a report up
either (long names, thousands of modules or histogram buckets). The JSON report is the
model and keeps every site. Sizes are asserted, never times."""

from __future__ import annotations

import json
import re

import pytest

from kinkcheck.report import join, render
from kinkcheck.report import text as tx

N_SITES = 100_000
CODES = ("KC101", "KC102", "KC201", "KC205", "KC104")
LOSS = "import torch\n\n\ndef loss(pred, target):\n    return torch.abs(pred - target).mean()\n"
GITHUB_STEP_SUMMARY_LIMIT = 1024 * 1024


def synthetic_trace(root, n: int) -> dict:
    """``n`` distinct sites (1,000 files x lines) in the version-1 format of
    kinkcheck/trace/tracefile.py; site i is hit i % 7 times, so the danger order is known."""
    sites = []
    for i in range(n):
        sites.append({
            "path": f"pkg/mod_{i % 1000}.py", "line": i // 1000 + 1, "function": f"step_{i}", "code": CODES[i % 5],
            "op": "aten.abs.default", "module": None, "dtype": "float32", "evaluations": 1000 + i,
            "exact": i % 7, "near": i % 11, "harmless": 0, "histogram": {"exact": i % 7, "-7": i % 11},
            "per_step": [[0, 500, 0, 0], [1, 500 + i, i % 7, i % 11]],
            "subgradient": {"framework": "torch", "value": "0"},
        })
    return {"format": "kinkcheck-trace", "version": 1, "kinkcheck": "0.1.0", "created": "2026-11-26T10:00:00Z",
            "root": str(root), "frameworks": {"torch": "2.13.0"}, "ranks": [0], "steps": 2,
            "near": {"ulps": 4, "abs": 1e-30}, "sites": sites}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("big")
    (root / "loss.py").write_text(LOSS)
    report = join.build([], synthetic_trace(root, N_SITES), root=root)
    assert len(report.sites) == N_SITES
    return report


def _more(text: str) -> int:
    m = re.search(r"(\d+) more site\(s\) not shown", text)
    assert m, "no line saying how many sites were left out"
    return int(m.group(1))


@pytest.mark.slow
def test_terminal_report_of_100k_sites_is_bounded(big):
    text = render(big, "terminal")
    assert len(text.encode()) < 1_000_000
    assert _more(text) == N_SITES - tx.MAX_SITES["terminal"]
    assert len(re.findall(r"^╭─ KC", text, re.M)) == tx.MAX_SITES["terminal"]


@pytest.mark.slow
def test_markdown_report_of_100k_sites_fits_a_step_summary(big):
    text = render(big, "markdown")
    assert len(text.encode()) < GITHUB_STEP_SUMMARY_LIMIT
    assert text.count("<details>") + _more(text) == N_SITES
    assert text.count("<details>") <= tx.MAX_SITES["markdown"]


@pytest.mark.slow
def test_html_report_of_100k_sites_is_bounded(big):
    text = render(big, "html")
    assert len(text.encode()) < 5_000_000
    assert text.count('<article class="site') == tx.MAX_SITES["html"]
    assert _more(text) == N_SITES - tx.MAX_SITES["html"]
    assert f'showing <span id="shown">{tx.MAX_SITES["html"]}</span> of {N_SITES} sites' in text


@pytest.mark.slow
def test_the_sites_shown_are_the_most_dangerous(big):
    sites, left = tx.shown(big, "terminal")
    assert left == N_SITES - len(sites)
    top = max(i % 7 for i in range(N_SITES))
    assert all(s.status == "hit" and s.runtime.exact == top for s in sites)


@pytest.mark.slow
def test_the_join_lists_a_bounded_number_of_missing_files(big):
    lines = tx.join_lines(big)
    missing = next(line for line in lines if line.startswith("Not found in this checkout"))
    assert missing.count("pkg/mod_") == 5 and "and 995 more" in missing


# -- one site with everything oversized ----------------------------------------------------


def test_one_oversized_site_stays_small_in_every_format(tmp_path):
    (tmp_path / "loss.py").write_text(LOSS)
    huge = "x" * 1_000_000
    records = [{
        "path": "loss.py", "line": 5, "code": "KC101", "function": huge, "name": huge, "snippet": huge,
        "op": huge, "module": f"layer_{k}", "dtype": huge, "evaluations": 10, "exact": 1, "near": 1, "harmless": 0,
        "histogram": {str(-k): 1 for k in range(5000)} if k == 0 else {},
        "per_step": [[s, 1, 1, 0] for s in range(2000)] if k == 0 else [],
        "subgradient": {"framework": f"fw{k}" if k < 50 else "torch", "value": huge},
    } for k in range(3000)]
    trace = synthetic_trace(tmp_path, 0)
    trace["sites"] = records
    trace["frameworks"] = {f"lib{k}": huge for k in range(1000)}
    trace["root"] = str(tmp_path) + "/" + "r" * 100_000
    report = join.build([], trace, root=tmp_path)
    for fmt in ("terminal", "markdown", "html"):
        text = render(report, fmt)
        assert len(text.encode()) < 250_000, (fmt, len(text.encode()))
    assert "more" in tx.modules(report.sites[0])


# -- through the command --------------------------------------------------------------------


@pytest.mark.slow
def test_report_command_says_what_it_left_out(cli, tmp_path, monkeypatch):
    (tmp_path / "loss.py").write_text(LOSS)
    (tmp_path / "run.trace.json").write_text(json.dumps(synthetic_trace(tmp_path, 1_500)))
    monkeypatch.chdir(tmp_path)
    result = cli("report", "--no-cache", "--trace", "run.trace.json", ".")
    assert result.exit_code == 0, result.stderr
    full = json.loads(cli("report", "--no-cache", "--trace", "run.trace.json", "--format", "json", ".").stdout)
    assert len(full["sites"]) == 1_500 + 1  # the JSON report keeps every site (and loss.py's own)
    assert _more(result.stdout) == len(full["sites"]) - tx.MAX_SITES["terminal"]
