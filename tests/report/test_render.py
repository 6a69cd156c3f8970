"""The four formats say the same things: every site with its location, rule, status,
counts, subgradients and concrete rewrite; plus what each format needs on its own."""

from __future__ import annotations

import html
import json
import re

import pytest
from report_helpers import finding, line_of, site, static_findings, trace

from kinkcheck.report import FORMATS, render
from kinkcheck.report.markdown import render as render_markdown
from kinkcheck.report.join import build

GITHUB_STEP_SUMMARY_LIMIT = 1024 * 1024


@pytest.fixture
def report(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    relu_line, _ = line_of(project / "train.py", "F.relu(")
    return build(static_findings(project), trace(project, [
        site("train.py", abs_line, "KC101", evaluations=123456, exact=12, near=40, function="loss_fn"),
        site("train.py", relu_line, "KC102", evaluations=9000, near=3, function="forward", module="fc (Linear)"),
    ]), root=project)


def plain(text: str, fmt: str) -> str:
    """What a reader sees: tags dropped and entities decoded for HTML."""
    if fmt == "html":
        text = re.sub(r"<script>.*?</script>|<style>.*?</style>", "", text, flags=re.DOTALL)
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    if fmt == "json":
        return json.dumps(json.loads(text), ensure_ascii=False)
    if fmt == "markdown":  # GitHub shows entities and table-escaped pipes as the characters
        return html.unescape(text).replace("\\|", "|")
    if fmt == "terminal":  # rich wraps long lines inside panels: compare without layout
        return squash(text)
    return text


def squash(text: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_shows_every_site_with_its_facts(report, fmt):
    text = plain(render(report, fmt), fmt)

    def shows(needle: str) -> bool:
        return (squash(needle) if fmt == "terminal" else needle) in text

    for s in report.sites:
        assert shows(f"{s.code} {s.name}" if fmt != "json" else s.name)
        assert shows(f"{s.path}:{s.line}" if fmt != "json" else f'"line": {s.line}')
        for value in s.subgradients.values():
            assert shows(value)
        for rem in s.remedies:
            assert shows(rem.title)
            if rem.rewrite:
                assert shows(rem.rewrite), (fmt, rem.rewrite)
        if s.reason:
            assert shows(s.reason)
    hit = report.sites[0]
    assert (hit.code, hit.status) == ("KC101", "hit")
    if fmt == "json":
        assert shows('"evaluations": 123456') and shows('"exact": 12')
    else:
        assert shows("12 exact (0.00972%)") or shows("12 exact (9.7e-5)")
        assert shows("123,456") and shows("near-hit") and shows("found only at run time") and shows("not exercised")


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "html"])
def test_every_format_starts_with_the_summary(report, fmt):
    text = plain(render(report, fmt), fmt)
    squashed = squash if fmt == "terminal" else str
    headline = squashed(report.headline())
    assert headline in text
    first_site_panel = text.index(squashed("torch.sqrt(d * d + 1e-6) - 0.001"))
    assert text.index(headline) < first_site_panel
    assert text.index(squashed("Worst sites")) < first_site_panel
    assert squashed("1 of 2 runtime site(s) joined") in text


def test_json_is_the_versioned_model(report):
    data = json.loads(render(report, "json"))
    assert data["format"] == "kinkcheck-report" and data["version"] == 1
    assert [s["code"] for s in data["sites"]] == [s.code for s in report.sites]
    assert data["summary"]["worst"][0]["code"] == "KC101"
    assert data["sites"][0]["runtime"]["evaluations"] == 123456


def test_terminal_has_no_colour_codes_unless_asked(report):
    assert "\x1b[" not in render(report, "terminal")
    assert "\x1b[" in render(report, "terminal", color=True)


def test_markdown_uses_a_collapsible_block_per_site(report):
    text = render(report, "markdown")
    assert text.count("<details>") == text.count("</details>") == len(report.sites)
    assert "| category |" in text


@pytest.mark.slow
def test_markdown_stays_under_the_step_summary_limit_and_says_what_it_cut(project):
    f = finding(project, "KC101", "torch.abs(d)", "loss_fn")
    many = [type(f)(**{**f.to_dict(), "line": n, "end_line": n, "path": f"pkg/module_{n}.py"}) for n in range(1, 4001)]
    big = build(many, None, root=project)
    text = render(big, "markdown")
    assert len(text.encode()) < GITHUB_STEP_SUMMARY_LIMIT
    shown = text.count("<details>")
    assert 0 < shown < 4000
    assert f"{4000 - shown} more site(s) not shown" in text
    small = render_markdown(big, max_bytes=20_000)
    assert len(small.encode()) <= 20_000 and "more site(s) not shown" in small


def test_markdown_code_from_the_user_cannot_break_out_of_its_block(project):
    path = project / "odd.py"
    path.write_text("def loss(x):\n    return abs(x)  # ``` </details> <script>\n")
    f = finding(project, "KC101", "abs(x)", "loss", path="odd.py")
    text = render(build([f], None, root=project), "markdown")
    assert "````" in text  # a fence longer than the backticks inside
    assert text.count("</details>") == 1 + text.count("# ``` </details>")


def test_html_is_one_self_contained_file(report):
    text = render(report, "html")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text)
    assert not re.search(r"\bsrc\s*=", text)
    assert "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text  # and the page forbids itself from fetching anything
    assert text.count("<svg") >= 3  # hit rates, hits over steps, per-site histogram
    assert 'id="chart-rates"' in text and 'id="chart-steps"' in text


def test_html_escapes_the_users_code(project):
    path = project / "odd.py"
    path.write_text('def loss(x):\n    return abs(x)  # </script><img src=x onerror="alert(1)">\n')
    f = finding(project, "KC101", "abs(x)", "loss", path="odd.py")
    text = render(build([f], None, root=project), "html")
    assert "<img" not in text and "&lt;/script&gt;&lt;img" in text


def test_html_has_filters_for_every_status_and_category_present(report):
    text = render(report, "html")
    for s in report.sites:
        assert f'name="status" value="{s.status}"' in text
        assert f'name="category" value="{s.category}"' in text
        assert f'data-status="{s.status}"' in text


def test_an_empty_report_renders_in_every_format(tmp_path):
    empty = build([], None, root=tmp_path, files_checked=3)
    for fmt in FORMATS:
        needle = "No kink sites found in 3 files."
        assert (squash(needle) if fmt == "terminal" else needle) in plain(render(empty, fmt), fmt)


def test_an_unknown_format_is_a_clear_error(report):
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        render(report, "pdf")


def test_terminal_prints_catalog_brackets_literally(report):
    """rich markup is off: `[alpha, 1]` in KC102's maths must not vanish as a style tag."""
    relu = next(s for s in report.sites if s.code == "KC102")
    assert "[alpha, 1]" in relu.math
    assert "[alpha,1]" in squash(render(report, "terminal"))
