"""The probe at max-pool ties: torch gives a tied window's gradient to its first maximum, the
probe measures what giving it to the last one would do. Each case is checked against a
brute-force pool that picks the last maximum, window by window, in plain Python."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import kinkcheck


def _regular(L, O, k, s, p, d):
    """The input positions of each output window of a kernel/stride/padding/dilation pool
    (padding and ceil_mode's overhang hold no element)."""
    return [[i for i in (o * s - p + j * d for j in range(k)) if 0 <= i < L] for o in range(O)]


def _adaptive(L, O):
    return [list(range(o * L // O, -(-(o + 1) * L // O))) for o in range(O)]


def _last_max_pool(h, out_spatial, windows_of):
    """``h`` pooled with each window's gradient going to its *last* maximum in scan order.
    ``windows_of(L, O)`` per spatial dimension gives the windows as lists of positions."""
    n = len(out_spatial)
    spatial = h.shape[-n:]
    flat = h.reshape(-1, math.prod(spatial))
    vals = flat.detach()
    per_dim = [windows_of(i, L, O) for i, (L, O) in enumerate(zip(spatial, out_spatial))]
    idx = torch.empty(flat.shape[0], math.prod(out_spatial), dtype=torch.long)
    for j, combo in enumerate(itertools.product(*per_dim)):
        cells = torch.tensor([sum(c * st for c, st in zip(cell, _strides(spatial))) for cell in itertools.product(*combo)])
        sub = vals[:, cells]
        last = len(cells) - 1 - (sub == sub.amax(1, keepdim=True)).flip(1).to(torch.uint8).argmax(1)
        idx[:, j] = cells[last]
    return flat.gather(1, idx).reshape(*h.shape[:-n], *out_spatial)


def _strides(size):
    out, acc = [], 1
    for s in reversed(size):
        out.append(acc)
        acc *= s
    return out[::-1]


def _tied_windows(h, out_spatial, windows_of):
    n = len(out_spatial)
    spatial = h.shape[-n:]
    vals = h.detach().reshape(-1, math.prod(spatial))
    per_dim = [windows_of(i, L, O) for i, (L, O) in enumerate(zip(spatial, out_spatial))]
    ties = 0
    for combo in itertools.product(*per_dim):
        cells = [sum(c * st for c, st in zip(cell, _strides(spatial))) for cell in itertools.product(*combo)]
        sub = vals[:, cells]
        ties += int(((sub == sub.amax(1, keepdim=True)).sum(1) >= 2).sum())
    return ties


def _same(k, s, p, d):
    return lambda i, L, O: _regular(L, O, k, s, p, d)


def _adapt(i, L, O):
    return _adaptive(L, O)


#: name -> (input shape, spatial dimensions, the pool as a user calls it, windows per dimension)
CASES = {
    "max_pool2d 2": ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 2), _same(2, 2, 0, 1)),
    "max_pool2d 3 stride 2 padding 1": ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 3, 2, 1), _same(3, 2, 1, 1)),
    "max_pool2d 3 stride 1": ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 3, 1), _same(3, 1, 0, 1)),
    "max_pool2d ceil_mode": ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 3, 2, ceil_mode=True), _same(3, 2, 0, 1)),
    "max_pool2d ceil_mode padding": ((4, 2, 7, 7), 2, lambda h: F.max_pool2d(h, 3, 2, 1, ceil_mode=True),
                                     _same(3, 2, 1, 1)),
    "max_pool2d dilation 2": ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, 2, 1, dilation=2), _same(2, 1, 0, 2)),
    "max_pool2d (2, 3) kernel": ((4, 2, 6, 6), 2, lambda h: F.max_pool2d(h, (2, 3), (2, 1)),
                                 lambda i, L, O: _regular(L, O, (2, 3)[i], (2, 1)[i], 0, 1)),
    "max_pool2d unbatched": ((3, 6, 6), 2, lambda h: F.max_pool2d(h, 2), _same(2, 2, 0, 1)),
    "max_pool1d": ((4, 3, 9), 1, lambda h: F.max_pool1d(h, 3, 2), _same(3, 2, 0, 1)),
    "max_pool3d": ((2, 2, 4, 4, 4), 3, lambda h: F.max_pool3d(h, 2), _same(2, 2, 0, 1)),
    "max_pool3d padding": ((2, 2, 4, 5, 4), 3, lambda h: F.max_pool3d(h, 3, 2, 1), _same(3, 2, 1, 1)),
    "adaptive_max_pool1d": ((4, 3, 10), 1, lambda h: F.adaptive_max_pool1d(h, 4), _adapt),
    "adaptive_max_pool2d": ((4, 2, 7, 6), 2, lambda h: F.adaptive_max_pool2d(h, (3, 4)), _adapt),
    "adaptive_max_pool3d": ((2, 2, 5, 4, 6), 3, lambda h: F.adaptive_max_pool3d(h, (2, 3, 4)), _adapt),
}


def _net(shape, pool, act=lambda h: h, seed=0):
    """A loss through ``pool`` of integer-valued pre-activations (windows tie) and the layer
    below: returns the function of W1 and W1."""
    torch.manual_seed(seed)
    W1 = torch.randint(-2, 3, (math.prod(shape[1:]), 5)).double().requires_grad_(True)
    x = torch.randint(-1, 2, (shape[0], 5)).double()

    def net(pool):
        h = act((x @ W1.T).reshape(shape))
        p = pool(h)
        return (p.reshape(-1) * torch.arange(1.0, p.numel() + 1, dtype=torch.float64)).square().sum(), h, p
    return net, W1


def _check(net, W1, pool, n, windows_of, rules="KC106"):
    """The probe's step against the brute force; returns the site's probe row."""
    loss, h, p = net(pool)
    out_spatial = tuple(p.shape[-n:])
    (g,) = torch.autograd.grad(loss, [W1])
    (g_alt,) = torch.autograd.grad(net(lambda h: _last_max_pool(h, out_spatial, windows_of))[0], [W1])
    with kinkcheck.trace(backends="torch", rules=rules, probe=1) as t:
        net(pool)[0].backward()
    (site,) = [s for s in t.to_dict()["sites"] if s.get("probe") and s["code"] == "KC106"]
    row = site["probe"]["steps"][0]
    _, hits, rel, cos, dmax = row
    d = (g_alt - g).reshape(-1)
    assert hits == _tied_windows(h, out_spatial, windows_of)
    assert rel == pytest.approx(float(d.norm() / g.norm()), rel=1e-5, abs=1e-12)
    assert cos == pytest.approx(float(g.reshape(-1) @ g_alt.reshape(-1) / (g.norm() * g_alt.norm())), rel=1e-5)
    assert dmax == pytest.approx(float(d.abs().max()), rel=1e-5, abs=1e-12)
    return row, g, g_alt


@pytest.mark.parametrize("name", sorted(CASES))
def test_max_pool_ties_against_the_last_maximum(name):
    shape, n, pool, windows_of = CASES[name]
    net, W1 = _net(shape, pool)
    _, g, g_alt = _check(net, W1, pool, n, windows_of)
    assert not torch.equal(g, g_alt), "the case must tie inside a window with a nonzero upstream gradient"


def test_ties_of_relu_zeros_move_nothing_and_others_still_count():
    # pool(relu(h)): windows of clamped zeros tie (their swap is exactly 0: relu passes nothing
    # there), other windows tie at positive values; both are hits, only the latter move g
    shape = (4, 2, 6, 6)
    net, W1 = _net(shape, lambda h: F.max_pool2d(h, 2), act=torch.relu)
    (_, hits, rel, _, _), g, g_alt = _check(net, W1, lambda h: F.max_pool2d(h, 2), 2, _same(2, 2, 0, 1))
    r = net(lambda h: h)[1].detach()  # relu(h)
    cols = r.reshape(8, 3, 2, 3, 2).permute(0, 1, 3, 2, 4).reshape(8, 9, 4)
    mx = cols.amax(-1, keepdim=True)
    zero_ties = int((((cols == mx).sum(-1) >= 2) & (mx[..., 0] == 0)).sum())
    assert 0 < zero_ties < hits and rel > 0
    assert not torch.equal(g, g_alt)


def test_only_relu_zero_ties_give_an_exact_zero():
    # relu(-|h|) is 0 everywhere: every window ties, and no swap moves the gradient
    shape = (4, 2, 6, 6)
    net, W1 = _net(shape, lambda h: F.max_pool2d(h, 2), act=lambda h: torch.relu(-h.abs()))
    with kinkcheck.trace(backends="torch", rules="KC106", probe=1) as t:
        loss, _, _ = net(lambda h: F.max_pool2d(h, 2))
        (loss + W1.square().sum()).backward()  # g != 0: rel is a number
    (site,) = [s for s in t.to_dict()["sites"] if s.get("probe")]
    _, hits, rel, cos, dmax = site["probe"]["steps"][0]
    assert hits == 4 * 2 * 9 and (rel, cos, dmax) == (0.0, 1.0, 0.0)


def test_repeated_probed_steps_give_the_same_rows():
    # the probe reuses its buffers from one probed step to the next: the same step three
    # times (relu and max-pool sites hit each time) must give three equal rows per site
    shape = (4, 2, 6, 6)
    net, W1 = _net(shape, lambda h: F.max_pool2d(h, 2), act=torch.relu)
    with kinkcheck.trace(backends="torch", rules=["KC102", "KC106"], probe=1) as t:
        for _ in range(3):
            W1.grad = None
            net(lambda h: F.max_pool2d(h, 2))[0].backward()
            t.step()
    sites = [s["probe"]["steps"] for s in t.to_dict()["sites"] if s.get("probe")]
    assert len(sites) == 2
    for rows in sites:
        assert [r[0] for r in rows] == [0, 1, 2]
        assert rows[0][1] > 0 and rows[0][1:] == rows[1][1:] == rows[2][1:]
