"""End to end: train examples/train_digits.py for a few steps under ``kinkcheck.trace()`` in
a fresh process, save the trace, then ``kinkcheck report`` in every format; the report must
carry exactly the trace's counts, joined to the analyzer's sites."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kinkcheck.report import FORMATS
from kinkcheck.trace import tracefile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/train_digits.py"
STEPS, BATCH, HIDDEN = 3, 32, 64  # DigitsMLP(hidden=64)

TRAIN = f"""
import sys
sys.path.insert(0, "examples")
import kinkcheck, train_digits
with kinkcheck.trace(output=sys.argv[1]):
    train_digits.main(steps={STEPS}, batch={BATCH})
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The trace of a short real training run (one subprocess for the whole module)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("e2e") / "run.trace.json"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", TRAIN, str(out)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def line_of(text: str) -> int:
    for n, line in enumerate((REPO / EXAMPLE).read_text().splitlines(), 1):
        if text in line:
            return n
    raise AssertionError(text)


@pytest.fixture(scope="module")
def reports(trained, tmp_path_factory) -> dict[str, str]:
    """The report of the example and its trace, in every format, through the CLI."""
    from click.testing import CliRunner

    from kinkcheck.cli import cli

    out_dir = tmp_path_factory.mktemp("reports")
    old = os.getcwd()
    os.chdir(REPO)
    try:
        texts = {}
        for fmt in FORMATS:
            out = out_dir / f"report.{fmt}"
            result = CliRunner().invoke(cli, ["report", EXAMPLE, "--trace", str(trained), "--format", fmt,
                                              "-o", str(out), "--no-cache"], catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
            texts[fmt] = out.read_text(encoding="utf-8")
    finally:
        os.chdir(old)
    return texts


def test_the_report_carries_the_traces_counts_exactly(trained, reports):
    trace = tracefile.load(trained)
    assert trace["steps"] == STEPS
    data = json.loads(reports["json"])
    runtime = [s["runtime"] for s in data["sites"] if s["runtime"]]
    for key in ("evaluations", "exact", "near"):
        assert sum(r[key] for r in runtime) == sum(s[key] for s in trace["sites"]), key
    assert sum(len(r["parts"]) for r in runtime) == len(trace["sites"])
    assert data["join"]["runtime_sites"] == len({(s["path"], s["line"], s["code"]) for s in trace["sites"]})
    assert data["join"]["unresolved_paths"] == [] and data["join"]["moved"] == []


def test_the_relu_of_the_model_is_found_at_run_time_with_every_evaluation(reports):
    data = json.loads(reports["json"])
    relu = next(s for s in data["sites"] if s["code"] == "KC102" and s["line"] == line_of("F.relu(self.fc1(x))"))
    assert relu["origin"] == "runtime"  # model code: the static pass leaves it alone by default
    assert relu["runtime"]["evaluations"] == STEPS * BATCH * HIDDEN
    # confirmation needs a gradient observed at a hit: a ReLU input is rarely exactly 0
    observed = relu["runtime"]["observed"]
    assert observed == {} if relu["runtime"]["exact"] == 0 else observed["torch"]["grad"] == ["0"]
    assert [row[0] for row in relu["runtime"]["per_step"]] == list(range(STEPS))


def test_static_sites_are_joined_and_documented_ones_keep_their_reason(reports):
    data = json.loads(reports["json"])
    by = {(s["code"], s["line"]): s for s in data["sites"]}
    l1 = by[("KC101", line_of("p.abs().sum() for p in model.parameters()"))]
    assert l1["documented"] and "L1 on weights" in l1["reason"]
    assert l1["origin"] == "both" and l1["runtime"]["evaluations"] > 0
    log = by[("KC204", line_of("torch.log(p_true)"))]
    assert log["origin"] == "both" and log["runtime"]["evaluations"] == STEPS * BATCH
    item = next(s for s in data["sites"] if s["code"] == "KC501")
    assert item["status"] == "not-traced" and item["origin"] == "static"  # .item() has no runtime form
    statuses = [s["status"] for s in data["sites"] if not s["documented"]]
    order = ["hit", "near", "clear", "not-exercised", "not-traced"]
    assert statuses == sorted(statuses, key=order.index)


def test_every_format_shows_the_same_sites(reports):
    data = json.loads(reports["json"])
    relu_line = line_of("F.relu(self.fc1(x))")
    evaluations = f"{STEPS * BATCH * HIDDEN:,}"
    for fmt in ("terminal", "markdown", "html"):
        text = reports[fmt]
        assert data["headline"] in " ".join(text.split()) or fmt == "terminal"
        assert f"{EXAMPLE}:{relu_line}" in text, fmt
        assert evaluations in text, fmt
        for s in data["sites"]:
            assert s["code"] in text and str(s["line"]) in text
