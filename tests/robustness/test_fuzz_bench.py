"""bench/fuzz.py runs end to end: five mutated loss files, no package sweep, and hypothesmith
made unimportable, since only --generated needs it. The only bench the suite runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: a subprocess per test
pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    blocked = tmp_path / "blocked"
    (blocked / "hypothesmith").mkdir(parents=True)
    (blocked / "hypothesmith" / "__init__.py").write_text("raise ImportError('blocked by the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(blocked), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)


def test_mutated_files_run_without_hypothesmith_and_print_the_summary(tmp_path):
    proc = _bench(tmp_path, "--generated", "0", "--mutated", "5", "--sweep", "none", "--seed", "1",
                  "--slowest", "1", "--timeout", "600", "--jobs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert lines["files"] == "5 (generated 0, mutated 5)"
    for name in ("tracebacks", "internal errors", "invalid json", "writes into checked folders"):
        assert lines[name] == "0", name
    assert lines["hangs"].startswith("0 ")
    histogram = dict(pair.split("=") for pair in lines["exit codes"].split())
    assert sorted(histogram) == ["0", "1", "2", "other"]
    assert sum(map(int, histogram.values())) == int(lines["batches"]) == 1
    assert lines["slowest file"].endswith("bytes)") and "mutated" in lines["slowest file"]
    assert lines["peak rss"].endswith(" MB")
    assert list(tmp_path.iterdir()) == [tmp_path / "blocked"]  # nothing written where it ran


def test_generated_programs_without_hypothesmith_are_one_line_and_exit_2(tmp_path):
    proc = _bench(tmp_path, "--generated", "3", "--mutated", "0", "--sweep", "none")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bench/fuzz.py: --generated needs hypothesmith: pip install hypothesmith (or pass --generated 0)"]
