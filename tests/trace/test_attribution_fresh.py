"""Attribution when the trace starts before torch (or numpy) is imported, as in a pytest
session: the library frames are still recognised, so the site is the user's own line."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: a subprocess per test
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """\
    import json, sys
    import kinkcheck

    assert "torch" not in sys.modules and "numpy" not in sys.modules
    with kinkcheck.trace() as t:
        import torch
        import torch.nn.functional as F
        import numpy as np

        x = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
        F.relu(x)  # line 11
        torch.nn.ReLU()(x)  # line 12
        np.abs(np.array([0.0, 1.0]))  # line 13
    sites = t.to_dict()["sites"]
    print(json.dumps([[s["path"], s["line"], s["function"], s["code"], s["exact"]] for s in sites]))
    """
)


def test_trace_started_before_torch_is_imported_blames_the_users_line(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script)], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert proc.returncode == 0, proc.stderr
    sites = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(sites) == [
        ["train.py", 11, "<module>", "KC102", 1],
        ["train.py", 12, "<module>", "KC102", 1],
        ["train.py", 13, "<module>", "KC101", 1],
    ]
