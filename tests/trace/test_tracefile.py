"""Trace files: round trip, validation errors (exit 2), merge, and `kinkcheck trace show`."""

import json
import os
import subprocess
import sys

import pytest
import torch

import kinkcheck
from kinkcheck.trace import tracefile
from kinkcheck.trace.tracefile import TraceFileError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kinkcheck", *args], capture_output=True, text=True, cwd=cwd or ROOT, check=False)


def make_trace(tmp_path, name="t.json", steps=2):
    out = tmp_path / name
    with kinkcheck.trace(backends="torch", output=str(out)) as t:
        for _ in range(steps):
            torch.tensor([0.0, 1.0, -2.0], requires_grad=True).abs()
            t.step()
    return out


def test_round_trip_and_schema(tmp_path):
    path = make_trace(tmp_path)
    data = tracefile.load(path)
    assert data["format"] == "kinkcheck-trace" and data["version"] == 1
    assert data["steps"] == 2 and data["ranks"] == [0] and data["frameworks"]["torch"]
    assert data["near"] == {"ulps": 4.0, "abs": 1e-30}
    (site,) = data["sites"]
    assert set(site) >= {"path", "line", "function", "code", "name", "op", "module", "dtype", "evaluations",
                         "exact", "near", "harmless", "histogram", "per_step", "subgradient"}
    assert site["per_step"] == [[0, 3, 1, 0], [1, 3, 1, 0]]
    assert site["histogram"] == {"exact": 2}
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"format": "kinkcheck-trace", "version": 1, "sites": [', "not valid JSON"),
        ("", "empty file"),
        ('{"format": "something-else", "version": 1}', "not a kinkcheck trace"),
        ('{"format": "kinkcheck-trace", "version": 7, "root": "/", "ranks": [0], "steps": 0, "near": {}, "sites": []}',
         "newer kinkcheck"),
        ('{"format": "kinkcheck-trace", "version": 1, "root": "/", "ranks": [0], "steps": 0, "near": {}, "sites": [{"path": "a.py"}]}',
         "sites[0]"),
    ],
)
@pytest.mark.slow
def test_bad_files_give_one_line_and_exit_2(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(TraceFileError, match=message.replace("[", r"\[")):
        tracefile.load(bad)
    res = cli("trace", "show", str(bad))
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_truncated_real_file(tmp_path):
    path = make_trace(tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    res = cli("trace", "show", str(path))
    assert res.returncode == 2 and "truncated or corrupt" in res.stderr


@pytest.mark.slow
def test_show_prints_the_table(tmp_path):
    path = make_trace(tmp_path)
    res = cli("trace", "show", str(path))
    assert res.returncode == 0, res.stderr
    assert "KC101" in res.stdout and "1 sites, 2 steps" in res.stdout
    res = cli("trace", "show", "--json", str(path))
    assert json.loads(res.stdout)["sites"][0]["exact"] == 2


@pytest.mark.slow
def test_merge_adds_counts_rows_and_ranks(tmp_path):
    a = tracefile.load(make_trace(tmp_path, "a.json", steps=2))
    b = tracefile.load(make_trace(tmp_path, "b.json", steps=3))
    b["ranks"] = [1]
    tracefile.dump(b, tmp_path / "b.json")
    res = cli("merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "m.json"))
    assert res.returncode == 0, res.stderr
    m = tracefile.load(tmp_path / "m.json")
    assert m["ranks"] == [0, 1] and m["steps"] == 3
    (site,) = m["sites"]
    assert (site["evaluations"], site["exact"]) == (15, 5)
    assert site["per_step"] == [[0, 6, 2, 0], [1, 6, 2, 0], [2, 3, 1, 0]]
    assert site["histogram"] == {"exact": 5}
    assert a["sites"][0]["exact"] == 2


@pytest.mark.slow
def test_merge_refuses_different_tolerances(tmp_path):
    a = tracefile.load(make_trace(tmp_path, "a.json"))
    b = dict(a, near={"ulps": 8.0, "abs": 1e-30})
    with pytest.raises(TraceFileError, match="different near"):
        tracefile.merge([a, b])
    tracefile.dump(b, tmp_path / "b.json")
    res = cli("merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "m.json"))
    assert res.returncode == 2 and "different near" in res.stderr


@pytest.mark.slow
def test_merge_of_a_missing_file_exits_2(tmp_path):
    res = cli("merge", str(tmp_path / "nope.json"), "-o", str(tmp_path / "m.json"))
    assert res.returncode == 2 and "no such trace file" in res.stderr


def test_rank_placeholder(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "3")
    with kinkcheck.trace(backends="torch", output=str(tmp_path / "t-{rank}.json")):
        torch.zeros(2).abs()
    assert tracefile.load(tmp_path / "t-3.json")["ranks"] == [3]


def test_merging_the_same_trace_twice_is_refused(tmp_path):
    """A copy of one rank's file merged with itself would double every count."""
    import shutil

    with kinkcheck.trace(backends="torch") as t:
        torch.relu(torch.tensor([0.0, 1.0])).sum()
    a = t.save(tmp_path / "a.trace.json")
    shutil.copy(a, tmp_path / "copy.trace.json")
    with pytest.raises(TraceFileError, match="given twice"):
        tracefile.merge([tracefile.load(a), tracefile.load(tmp_path / "copy.trace.json")])


def test_load_returns_typed_records_that_are_also_the_json(tmp_path):
    from kinkcheck.trace.records import Observed, SiteRecord, TraceData

    data = tracefile.load(make_trace(tmp_path))
    assert isinstance(data, TraceData) and data["format"] == "kinkcheck-trace"  # still the JSON dict
    (site,) = data.sites
    assert isinstance(site, SiteRecord) and (site.code, site.evaluations, site.exact) == ("KC101", 6, 2)
    assert site.per_step == ((0, 3, 1, 0), (1, 3, 1, 0)) and site.near_scale == "tensor"
    assert site.observed == Observed(framework="torch", grad=("0",), at=("0",), step=0)
    # a dict that was never validated reads leniently: no path, no record
    assert SiteRecord.from_dict({"line": 3, "code": "KC101"}) is None
    assert SiteRecord.from_dict({"path": "a.py", "line": 3, "code": "KC101", "exact": "many"}).exact == 0
