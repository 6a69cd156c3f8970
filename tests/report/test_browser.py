"""The HTML report in a real browser: headless Chromium renders it, runs its filter script,
and takes a screenshot; the page must show the summary and the charts, with no console
messages at all (a script error or a blocked network fetch would log one)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from report_helpers import line_of, site, static_findings, trace

from kinkcheck.report import render
from kinkcheck.report.join import build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# A developer without chromium skips; CI (CI=true, where .ci/run installs it) must not.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="needs Debian chromium (.ci/run installs it)"),
]


def chromium(page: Path, tmp: Path, *args: str, fragment: str = "") -> subprocess.CompletedProcess:
    """Run headless Chromium on a local file with every network feature off."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
         "--enable-logging=stderr", "--v=0", *args, page.as_uri() + fragment],
        check=False, capture_output=True, text=True, timeout=120,
    )


def console_messages(stderr: str) -> list[str]:
    """Everything the page wrote to the console (errors, CSP refusals, logs)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def page(project, tmp_path) -> Path:
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    relu_line, _ = line_of(project / "train.py", "F.relu(")
    report = build(static_findings(project), trace(project, [
        site("train.py", abs_line, "KC101", evaluations=40000, exact=12, near=40, function="loss_fn",
             steps=[(i, 1000, i % 3, i % 5) for i in range(40)]),
        site("train.py", relu_line, "KC102", evaluations=90000, near=3, function="forward"),
    ]), root=project)
    out = tmp_path / "kinks.html"
    out.write_text(render(report, "html"), encoding="utf-8")
    return out


def test_the_page_runs_its_script_and_shows_the_summary_and_charts(page, tmp_path):
    run = chromium(page, tmp_path, "--dump-dom")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert 'data-ready="1"' in dom  # the filter script ran to the end
    assert 'id="summary"' in dom and "Worst sites" in dom
    assert 'id="chart-rates"' in dom and "<svg" in dom and "<rect" in dom and "<polyline" in dom
    assert '<span id="shown">5</span>' in dom  # the script counted the sites it shows
    assert console_messages(run.stderr) == []


def test_the_filters_hide_sites_by_status_and_category(page, tmp_path):
    run = chromium(page, tmp_path, "--dump-dom", fragment="#hide=status:not-exercised,category:branch")
    dom = run.stdout
    assert '<span id="shown">2</span>' in dom  # the hit and the near-hit remain
    assert dom.count('class="site') - dom.count("hidden=") == 2
    assert console_messages(run.stderr) == []


def test_the_screenshot_is_a_rendered_page(page, tmp_path):
    shot = tmp_path / "shot.png"
    run = chromium(page, tmp_path, "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,2000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert png_size(shot) == (1280, 2000)
    # A blank 1280x2000 page compresses to a few kB; text, tables and charts do not.
    assert shot.stat().st_size > 40_000
    assert console_messages(run.stderr) == []


def test_the_console_check_catches_a_broken_script(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>document.body.dataset.ready = missing();</script>")
    run = chromium(broken, tmp_path, "--dump-dom")
    assert any("Uncaught ReferenceError" in m for m in console_messages(run.stderr))
    assert 'data-ready="1"' not in run.stdout
