"""Memory per site stays bounded however long training runs.

A site keeps one ``per_step`` row for each of the first ``steps.EXACT_STEPS`` steps, then sums
later steps into aligned blocks of ``width`` steps (a power of two that doubles as needed), so
it never holds more than ``steps.MAX_ROWS`` rows; the rows still add up to the totals.
"""

from __future__ import annotations

import numpy as np
import pytest

import kinkcheck
from kinkcheck.trace import steps, tracefile
from kinkcheck.trace.site import VEC_LEN, Site

STEPS = 100_000


def a_site(t) -> Site:
    return t.site(("test", 1), lambda: Site("loss.py", 1, "f", "KC101", "abs-at-zero", "aten.abs.default",
                                            None, "float32", "zero", "torch", None))


def hit(exact: int, near: int) -> np.ndarray:
    vec = np.zeros(VEC_LEN, dtype=np.int64)
    vec[0], vec[1] = exact, near
    return vec


def check_rows(rows: list[list[int]], record: dict, width: int) -> None:
    assert len(rows) <= steps.MAX_ROWS
    assert [r[0] for r in rows[: steps.EXACT_STEPS]] == list(range(steps.EXACT_STEPS))  # the first steps exactly
    blocks = [r[0] for r in rows[steps.EXACT_STEPS:]]
    assert all((b - steps.EXACT_STEPS) % width == 0 for b in blocks)  # aligned blocks
    assert blocks == sorted(set(blocks))
    for col, key in ((1, "evaluations"), (2, "exact"), (3, "near")):
        assert sum(r[col] for r in rows) == record[key]


@pytest.mark.slow
def test_host_counters_over_100k_steps_keep_a_bounded_summary():
    t = kinkcheck.trace(backends=())
    site = a_site(t)
    most = 0
    for step in range(STEPS):
        t.record(site, 10, hit(step % 3 == 0, 2) if step % 2 == 0 else None)
        t.step()
        if step % 997 == 0:
            most = max(most, len(site.rows))
    most = max(most, len(site.rows))
    assert most <= steps.MAX_ROWS
    data = t.to_dict()
    width = data["per_step_blocks"]["width"]
    assert width == steps.width_for(STEPS) > 1
    (record,) = data["sites"]
    assert record["evaluations"] == 10 * STEPS
    assert record["exact"] == len(range(0, STEPS, 6)) and record["near"] == 2 * len(range(0, STEPS, 2))
    check_rows(record["per_step"], record, width)
    assert record["per_step"][5] == [5, 10, 0, 0]  # an exact row: step 5 had no hit
    tracefile.validate(data)


def test_device_counters_over_100k_steps_stay_bounded_on_the_device():
    torch = pytest.importorskip("torch")
    from kinkcheck.trace.backends.torch import count_device

    t = kinkcheck.trace(backends=())
    site = a_site(t)
    raw = count_device(torch.tensor([0.0, 1e-40, 1.0]), 1e-30)  # one exact, one near, one far
    n = STEPS // 5  # a kernel per step on the CPU: fewer steps, still many times the bound
    for _ in range(n):
        t.record(site, 3, raw.clone())
        t.step()
    assert len(site.rows) <= steps.MAX_ROWS
    held = sum(row[3] is not None for row in site.rows.values())
    assert held <= steps.MAX_ROWS  # one small device tensor per row, no more
    (record,) = t.to_dict()["sites"]
    assert (record["evaluations"], record["exact"], record["near"]) == (3 * n, n, n)
    check_rows(record["per_step"], record, t.to_dict()["per_step_blocks"]["width"])


def test_a_real_traced_loop_past_the_exact_steps():
    torch = pytest.importorskip("torch")
    n = steps.EXACT_STEPS + steps.MAX_BLOCKS + 5  # the blocks are two steps wide by the end
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch") as t:
        for _ in range(n):
            x.abs()
            t.step()
    data = t.to_dict()
    assert data["steps"] == n and data["per_step_blocks"] == {"exact_steps": steps.EXACT_STEPS, "width": 2}
    (record,) = data["sites"]
    assert (record["evaluations"], record["exact"]) == (2 * n, n)
    check_rows(record["per_step"], record, 2)
    assert record["per_step"][-1] == [n - 1, 2, 1, 0]  # the last block holds one step (n - 1 starts a block)


def test_merge_lines_up_blocks_of_different_widths():
    def trace_of(n: int) -> dict:
        t = kinkcheck.trace(backends=())
        site = a_site(t)
        for _ in range(n):
            t.record(site, 1, hit(1, 0))
            t.step()
        return t.to_dict()

    short, long = trace_of(steps.EXACT_STEPS + 100), trace_of(steps.EXACT_STEPS + 3 * steps.MAX_BLOCKS)
    short["ranks"], long["ranks"] = [0], [1]
    assert short["per_step_blocks"]["width"] == 1 and long["per_step_blocks"]["width"] == 4
    merged = tracefile.merge([short, long])
    assert merged["per_step_blocks"]["width"] == 4
    (record,) = merged["sites"]
    check_rows(record["per_step"], record, 4)
    assert record["per_step"][steps.EXACT_STEPS] == [steps.EXACT_STEPS, 4 + 4, 4 + 4, 0]  # both runs' steps 1024-1027


def test_a_version_1_file_without_blocks_still_loads_and_merges(tmp_path):
    old = {
        "format": "kinkcheck-trace", "version": 1, "root": str(tmp_path), "ranks": [0], "steps": 2,
        "near": {"ulps": 4.0, "abs": 1e-30},
        "sites": [{"path": "a.py", "line": 1, "code": "KC101", "evaluations": 4, "exact": 1, "near": 0,
                   "per_step": [[0, 2, 1, 0], [1, 2, 0, 0]]}],
    }
    path = tmp_path / "old.trace.json"
    path.write_text(__import__("json").dumps(old))
    loaded = tracefile.load(path)
    assert loaded["sites"][0]["per_step"] == [[0, 2, 1, 0], [1, 2, 0, 0]]
    other = {**old, "ranks": [1]}
    merged = tracefile.merge([loaded, other])
    assert merged["sites"][0]["per_step"] == [[0, 4, 2, 0], [1, 4, 0, 0]]
    assert merged["per_step_blocks"]["width"] == 1
