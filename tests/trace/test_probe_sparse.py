"""The probe's max-pool ties from the tracer's own count: for tiling windows over a ReLU (the
common ``MaxPool2d(2)`` after a ReLU) the tracer has each window's runner-up, so the probe looks
again only at the windows that tie, instead of searching every window. Same hits and the same
change of the gradient as the full search, against the brute force of test_probe_pool."""

import pytest
import torch
import torch.nn.functional as F
from reference_counts import ABS, FAC
from test_probe_pool import _check, _net, _same

from kinkcheck.trace.backends.torch_count import ReluWindows, count_relu_windows
from kinkcheck.trace.backends.torch_probe_pool import PoolTie
from kinkcheck.trace.backends.torch_windows import _runner_up


@pytest.mark.parametrize(
    ("shape", "n", "pool", "k"),
    [
        ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 2), 2),
        ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 3), 3),
        ((2, 2, 4, 4, 4), 3, lambda h: F.max_pool3d(h, 2), 2),
        ((4, 3, 8), 1, lambda h: F.max_pool1d(h, 2), 2),
    ],
)
def test_ties_after_a_relu_against_the_last_maximum(shape, n, pool, k):
    net, W1 = _net(shape, pool, act=torch.relu, seed=0)
    (_, hits, rel, _, _), g, g_alt = _check(net, W1, pool, n, _same(k, k, 0, 1))
    assert hits > 0 and rel > 0 and not torch.equal(g, g_alt)


def pool_tie(x, kernel, hint):
    """A PoolTie of ``max_pool2d(x, kernel)`` bound with or without the tracer's windows."""
    vals, idx = F.max_pool2d_with_indices(x, kernel)
    k = (kernel, kernel)
    tie = PoolTie(x, 2, (k, k, (0, 0), (1, 1)))
    tie.zero_harmless = True
    windows = ReluWindows(vals, _runner_up(x, vals, list(k)))
    tie.bind((vals, idx), (x, k, windows) if hint else None)
    return tie, vals


@pytest.mark.parametrize("kernel", [2, 3])
def test_sparse_and_full_search_give_the_same_change(kernel):
    g = torch.Generator().manual_seed(kernel)
    x = F.relu(torch.randint(-2, 3, (3, 4, 12, 12), generator=g).float())
    x.view(-1)[7] = float("nan")
    sparse, vals = pool_tie(x, kernel, hint=True)
    full, _ = pool_tie(x, kernel, hint=False)
    assert sparse.sparse is not None and full.sparse is None  # each took its own path
    assert sparse.hits == full.hits > 0
    u = torch.randn(vals.shape, generator=g)
    u.view(-1)[3] = -0.0
    (edge_s, d_s), = sparse.deltas(u)
    (edge_f, d_f), = full.deltas(u)
    assert edge_s == edge_f == 0 and d_s.dtype == d_f.dtype
    assert torch.equal(d_s, d_f) and torch.equal(d_s.signbit(), d_f.signbit())
    assert d_s.abs().sum() > 0


def test_a_hint_for_another_tensor_or_geometry_is_not_taken():
    x = F.relu(torch.randint(-2, 3, (2, 2, 8, 8)).float())
    vals, idx = F.max_pool2d_with_indices(x, 2)
    windows = ReluWindows(vals, _runner_up(x, vals, [2, 2]))
    for hint in ((x.clone(), (2, 2), windows), (x, (4, 4), windows)):
        tie = PoolTie(x, 2, ((2, 2), (2, 2), (0, 0), (1, 1)))
        tie.bind((vals, idx), hint)
        assert tie.sparse is None


@pytest.mark.parametrize("nan", [False, True])
def test_ties_from_the_counts_kept_windows_are_the_full_search(nan):
    """The one-pass count keeps the windows near a tie (and leaves out the zeros, each a tie):
    the probe takes its ties from those; the same ties and change as searching every window.
    With a NaN the count takes its two-pass way, which keeps nothing: the full search."""
    g = torch.Generator().manual_seed(3)
    x = F.relu(torch.randint(-2, 4, (4, 8, 32, 32), generator=g).float() / 8)
    x.view(-1)[5::97] *= 1 - 2 ** -22  # near ties that are no ties
    if nan:
        x.view(-1)[11] = float("nan")
    vals, idx = F.max_pool2d_with_indices(x, 2)
    ties = []
    for use_kept in (True, False):
        windows = ReluWindows(vals, _runner_up(x, vals, [2, 2]))
        count_relu_windows(windows, FAC, ABS)
        assert (windows.kept is not None) == (not nan)
        if not use_kept:
            windows.kept = None
        tie = PoolTie(x, 2, ((2, 2), (2, 2), (0, 0), (1, 1)))
        tie.zero_harmless = True
        tie.bind((vals, idx), (x, (2, 2), windows))
        ties.append(tie)
    kept, full = ties
    assert kept.hits == full.hits > 0
    assert all(torch.equal(torch.from_numpy(a), torch.from_numpy(b)) for a, b in zip(kept.sparse, full.sparse))
    u = torch.randn(vals.shape, generator=g)
    assert torch.equal(kept.deltas(u)[0][1], full.deltas(u)[0][1])
