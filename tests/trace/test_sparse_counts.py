"""The CPU counts' quick paths for the usual step, where a big ReLU input holds a few near
zeros in a few blocks: those blocks are copied and selected directly (no dense pass), a few
near distances are binned one by one, and scratch views are kept per shape. Each gives
exactly the reference count, and each is shown to be the path taken."""

import math

import numpy as np
import pytest
import torch
from reference_counts import ABS, FAC, dense_count

from kinkcheck.trace.backends import torch_count, torch_host
from kinkcheck.trace.backends.torch_count import (
    _BLOCK,
    _CHUNK,
    Magnitude,
    _Scratch,
    _vec,
    count_magnitude,
)


def few_near(n, dtype, blocks, seed):
    """Normal values with one exact zero, one -0.0 and near zeros in ``blocks`` blocks only."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64).to(dtype) + 3  # far from 0 everywhere
    x[::7] *= -1
    scale = float(x.abs().max())
    for i, b in enumerate(blocks):
        at = b * _BLOCK + 17 * (i + 1)
        x[at] = 0.3 * FAC * scale * (-1) ** i  # near (FAC * scale), both signs
        x[at + 1] = 0.0 if i % 2 else -0.0
        x[at + 2] = 3 * FAC * scale  # beyond near
    return x


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n, blocks", [
    (2 * _CHUNK + 5 * _BLOCK + 9, [1, 200, 260]),  # three chunks and a tail
    (2 * _CHUNK, [0, 255]),  # two chunks
])
def test_a_few_kept_blocks_are_counted_without_the_dense_pass(monkeypatch, dtype, n, blocks):
    x = few_near(n, dtype, blocks, seed=n % 89)
    want = dense_count(x)

    def dense_pass(*a):
        raise AssertionError("the dense pass ran")

    monkeypatch.setattr(torch_count, "_within", dense_pass)
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    assert counted and np.array_equal(vec, want)
    assert want[0] == len(blocks) and want[1] == len(blocks)


def test_near_zeros_in_the_tail_alone_are_counted():
    x = few_near(16 * _BLOCK + 100, torch.float32, [], seed=1)
    x[-3] = 0.0
    x[-2] = float(x.abs().max()) * 0.5 * FAC
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    assert counted and np.array_equal(vec, dense_count(x))
    assert vec[0] == 1 and vec[1] == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n, blocks", [
    (32 * _BLOCK, [3, 30]),  # one chunk
    (32 * _BLOCK + 333, [0, 31]),  # one chunk and a tail
    (_CHUNK, []),  # the largest single chunk, nothing near
])
def test_one_chunk_is_counted_whole(monkeypatch, dtype, n, blocks):
    """A tensor of one chunk skips the block filter: |x| whole goes to one _within (fewer
    calls, which cost more than passes over cached memory in a training step)."""
    x = few_near(n, dtype, blocks, seed=n % 89)
    x[n // 2] = 0.0  # an exact zero too (for the nothing-near case)
    calls = []
    within = torch_count._within
    monkeypatch.setattr(torch_count, "_within", lambda a, tol: calls.append(a.size) or within(a, tol))
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    assert counted and np.array_equal(vec, dense_count(x))
    assert calls == [n]


def test_many_kept_blocks_take_the_dense_pass(monkeypatch):
    nb = 2 * _CHUNK // _BLOCK  # two chunks
    x = few_near(2 * _CHUNK, torch.float32, list(range(0, nb, nb // 16)), seed=2)
    calls = []
    within = torch_count._within
    monkeypatch.setattr(torch_count, "_within", lambda a, tol: calls.append(a.size) or within(a, tol))
    counted, vec = count_magnitude(Magnitude(x), FAC, ABS)
    assert counted and np.array_equal(vec, dense_count(x))
    assert calls == [16 * _BLOCK]


def distances(dtype):
    """Decade edges (10^k as the dtype rounds them, and their neighbours), subnormals, zeros."""
    edges = torch.tensor([10.0 ** k for k in range(-40, 10)], dtype=torch.float64).to(dtype)
    edges = edges[(edges > 0) & torch.isfinite(edges)]
    up = torch.nextafter(edges, torch.full_like(edges, math.inf))
    down = torch.nextafter(edges, torch.zeros_like(edges))
    tiny = torch.tensor([torch.finfo(dtype).tiny * torch.finfo(dtype).eps, torch.finfo(dtype).tiny], dtype=dtype)
    return torch.cat([edges, up, down, tiny, torch.zeros(3, dtype=dtype), -torch.zeros(1, dtype=dtype)]).numpy()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_few_distances_are_binned_as_many_are(monkeypatch, dtype):
    every = distances(dtype)
    g = np.random.default_rng(0)
    for size in (1, 2, 5, 31, 32):
        sel = g.choice(every, size=size)
        few = _vec(sel)
        monkeypatch.setattr(torch_host, "_FEW", 0)
        many = _vec(sel)
        monkeypatch.undo()
        assert np.array_equal(few, many), sel
    monkeypatch.setattr(torch_host, "_FEW", 0)
    whole = _vec(every)
    monkeypatch.undo()
    assert np.array_equal(_vec(every[:32]) + _vec(every[32:]), whole)


def test_an_infinite_distance_among_a_few_is_binned_as_many_are(monkeypatch):
    sel = np.array([0.0, 1e-7, np.inf, 3.0], dtype=np.float32)
    few = _vec(sel)
    monkeypatch.setattr(torch_host, "_FEW", 0)
    assert np.array_equal(few, _vec(sel))
    assert few[0] == 1 and few[1] == 3


def test_scratch_views_are_kept_per_shape_and_follow_a_grown_buffer():
    s = _Scratch()
    a = s.get((4, 8), torch.float32, 3)
    assert s.get([4, 8], torch.float32, 3) is a  # the same view again
    b = s.get((32,), torch.float32, 3)  # same slot, same memory
    assert b.data_ptr() == a.data_ptr()
    big = s.get((1000,), torch.float32, 3)  # grown: a new buffer
    again = s.get((4, 8), torch.float32, 3)
    assert again is not a and again.data_ptr() == big.data_ptr()
    other = s.get((4, 8), torch.float32, 4)
    assert other.data_ptr() != again.data_ptr()
    assert s.get((4, 8), torch.float64, 3).dtype == torch.float64
