"""``RANK=abc`` at the end of a trace block: the trace is still saved (as rank 0, with a
warning); a label must not cost the counts of a whole training run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from exit2_helpers import ROOT

from kinkcheck.trace import tracefile


@pytest.mark.parametrize("value, rank, warns", [
    (None, 0, False), ("", 0, False), ("3", 3, False), (" 7 ", 7, False),
    ("abc", 0, True), ("-1", 0, True), ("1.5", 0, True), ("9" * 5000, 0, True), ("\u0663", 0, True),
])
def test_env_rank_reads_integers_and_warns_on_anything_else(monkeypatch, value, rank, warns):
    if value is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", value)
    monkeypatch.setattr(tracefile, "_WARNED_RANKS", set())
    if warns:
        with pytest.warns(RuntimeWarning, match="is not a non-negative integer; saving the trace as rank 0"):
            assert tracefile.env_rank() == rank
    else:
        assert tracefile.env_rank() == rank


@pytest.mark.slow
def test_a_trace_block_under_rank_abc_still_saves_its_trace(tmp_path):
    script = (
        "import torch, kinkcheck\n"
        "with kinkcheck.trace(backends='torch', output='trace-{rank}.json') as t:\n"
        "    torch.tensor([0.0, 1.0, -2.0], requires_grad=True).abs()\n"
        "print('block ended')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RANK": "abc"}
    run = subprocess.run([sys.executable, "-c", script], check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "block ended" in run.stdout
    assert "RANK='abc' is not a non-negative integer; saving the trace as rank 0" in run.stderr
    assert run.stderr.count("RuntimeWarning") == 1  # once, not once per use of the rank
    data = tracefile.load(tmp_path / "trace-0.json")
    assert data["ranks"] == [0] and data["sites"][0]["exact"] == 1
