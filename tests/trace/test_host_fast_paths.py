"""The CPU counting's shortcuts around NumPy's Python wrappers (torch_host): each must count
exactly what the plain selection counts, and the reused buffers must stay the scratch ones."""

import numpy as np
import pytest
import torch

from kinkcheck.trace.backends.torch_count import Magnitude, count_magnitude
from kinkcheck.trace.backends.torch_host import _host_buf, _scratch, _vec, _within
from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS

FAC = 4 * torch.finfo(torch.float32).eps


def _few_within(n, exact, near, seed):
    """|x| far from 0 except ``exact`` zeros and ``near`` tiny values (fewer than n / 64 within)."""
    g = np.random.default_rng(seed)
    a = (np.abs(g.normal(size=n)) + 0.5).astype(np.float32)
    pick = g.permutation(n)[: exact + near]
    a[pick[:exact]] = 0.0
    a[pick[exact:]] = np.float32(1e-7) * np.arange(1, near + 1, dtype=np.float32)
    return a


@pytest.mark.parametrize(("exact", "near"), [(5, 0), (0, 40), (3, 200), (1, 1)])
def test_within_few_hits_skips_the_zero_pass_and_counts_the_same(exact, near):
    a = _few_within(1 << 15, exact, near, seed=exact * 7 + near)
    tol = 1e-4
    assert 0 < exact + near <= a.size >> 6  # the path without the exact-zero pass
    got = _within(a, tol)
    want = _vec(a[a <= tol])
    assert np.array_equal(got, want)
    assert got[0] == exact and got[1] == near


def test_within_all_exact_zeros_counted_without_the_selection():
    a = np.ones(1 << 12, dtype=np.float32)
    a[::8] = 0.0  # one in eight: more than n / 64 within, all of them exactly 0
    got = _within(a, 0.5)
    assert got[0] == a.size // 8 and not got[1:].any()
    assert np.array_equal(got, _vec(a[a <= 0.5]))


def test_vec_bins_match_the_clipped_floor_of_log10():
    sel = np.array([1e-45, 1e-30, 3e-9, 0.5, 7.0, 1e30, np.inf, 0.0, 2e-8] * 5, dtype=np.float64)
    vec = _vec(sel)
    nz = sel[sel != 0]
    pos = np.clip(np.floor(np.log10(nz)), HIST_LO, HIST_HI).astype(np.int64) - HIST_LO
    assert vec[0] == 5 and vec[1] == nz.size
    assert np.array_equal(vec[3:], np.bincount(pos, minlength=NBINS))


def test_host_buf_follows_its_slot_when_the_slot_grows():
    slot = 97  # a slot no counting path uses
    small = _host_buf(64, torch.float32, slot)
    assert small is _host_buf(64, torch.float32, slot)  # kept, not made again
    assert np.shares_memory(small, _scratch.get((64,), torch.float32, slot).numpy())
    big = _host_buf(1 << 16, torch.float32, slot)  # grows the slot's buffer
    again = _host_buf(64, torch.float32, slot)
    assert again is not small  # the old view went with the old buffer
    assert np.shares_memory(again, big) and np.shares_memory(again, _scratch.get((64,), torch.float32, slot).numpy())


def test_magnitude_with_nan_maximum_still_falls_back():
    x = torch.randn(4096 * 5)
    x[77] = float("nan")
    assert count_magnitude(Magnitude(x), FAC, 1e-30) == (False, None)
