"""A real 2-process torch.distributed (gloo, CPU) run writes per-rank files that merge."""

import os
import socket
import subprocess
import sys

import pytest

from kinkcheck.trace import tracefile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.mark.slow
def test_two_rank_gloo_run_then_merge(tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, HERE]), OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen([sys.executable, os.path.join(HERE, "_ddp_worker.py"), str(r), "2", port, str(tmp_path)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in range(2)
    ]
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0, out
    files = [tmp_path / "trace-0.json", tmp_path / "trace-1.json"]
    ranks = [tracefile.load(f) for f in files]
    assert [r["ranks"] for r in ranks] == [[0], [1]]
    res = subprocess.run([sys.executable, "-m", "kinkcheck", "merge", *map(str, files), "-o", str(tmp_path / "all.json")],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    merged = tracefile.load(tmp_path / "all.json")
    assert merged["ranks"] == [0, 1] and merged["steps"] == 3
    abs_site = next(s for s in merged["sites"] if s["code"] == "KC101")
    assert abs_site["path"] == "tests/trace/_ddp_worker.py"
    assert abs_site["evaluations"] == 2 * 3 * 32
    assert abs_site["exact"] == 2 * 3 * 4  # column 0 is zero on every rank and step
    assert [r[0] for r in abs_site["per_step"]] == [0, 1, 2]
    per_rank = [next(s for s in r["sites"] if s["code"] == "KC101")["exact"] for r in ranks]
    assert per_rank == [12, 12]
