"""JAX functions whose kink is not a kinked primitive of its own, and selections: leaky_relu
and hard_tanh (a ``where`` on a comparison: KC102, KC103), ``jnp.heaviside`` (KC305), sort and
top_k ties (KC105) and max-pool through ``lax.reduce_window`` (KC106). Each is counted on a
jitted gradient over sklearn's digits, exactly as numpy counts the same values here."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax_helpers import at, jax_sites, line_of  # noqa: E402

import kinkcheck  # noqa: E402

HERE = "test_jax_op_mapping.py"
N, HIDDEN, DEAD = 96, 16, 3


def digits():
    x, _ = sklearn_datasets.load_digits(return_X_y=True)
    return x[:N].astype(np.float32)  # integer pixels 0..16: plenty of exact ties


def hidden_weights():
    """DEAD hidden units with zero weights: their pre-activation is exactly 0 for every sample."""
    w = np.random.default_rng(0).normal(0, 0.1, (64, HIDDEN)).astype(np.float32)
    w[:, :DEAD] = 0
    return jnp.asarray(w)


def traced(loss, *args):
    """Sites of one jitted gradient of ``loss`` (first argument), and the gradient, which must
    be bit-identical to the untraced one."""
    step = jax.jit(jax.grad(loss))
    plain = np.asarray(step(*args))
    with kinkcheck.trace(backends="jax") as t:
        got = np.asarray(step(*args))
    assert plain.tobytes() == got.tobytes()
    return t


def one(t, marker, code, op):
    sites = [s for s in at(t, HERE, line_of(__file__, marker)) if s["code"] == code and s["op"] == op]
    assert len(sites) == 1, jax_sites(t)
    return sites[0]


@pytest.mark.slow
def test_leaky_relu_and_heaviside_count_the_zero_pre_activations():
    x = digits()

    def loss(w, x):
        pre = x @ w
        return (jax.nn.leaky_relu(pre).sum()  # leaky
                + jnp.heaviside(pre, 0.5).sum())  # heaviside

    w = hidden_weights()
    t = traced(loss, w, x)
    zeros = int(np.count_nonzero(x @ np.asarray(w) == 0))
    assert zeros >= N * DEAD
    leaky = one(t, "leaky", "KC102", "lax.ge")
    assert (leaky["evaluations"], leaky["exact"]) == (N * HIDDEN, zeros)
    assert leaky["observed"]["grad"] == ["1"]  # leaky_relu'(0) = 1 in JAX (x >= 0 takes x)
    step = one(t, "heaviside", "KC305", "lax.lt")
    assert (step["evaluations"], step["exact"]) == (N * HIDDEN, zeros)  # one count for the step, not two
    assert {s["code"] for s in jax_sites(t)} == {"KC102", "KC305"}  # jnp.where's comparisons elsewhere are not


@pytest.mark.slow
def test_hard_tanh_counts_each_bound():
    x = digits()

    def loss(scale, x):
        return jax.nn.hard_tanh(scale * (x - 8.0) / 8.0).sum()  # hard-tanh: pixels 0 and 16 sit on -1 and 1

    t = traced(loss, jnp.float32(1.0), x)
    z = (x - 8.0) / 8.0
    hi = one(t, "hard-tanh", "KC103", "lax.gt")
    lo = one(t, "hard-tanh", "KC103", "lax.lt")
    assert (hi["evaluations"], hi["exact"]) == (x.size, int(np.count_nonzero(z == 1)))
    assert (lo["evaluations"], lo["exact"]) == (x.size, int(np.count_nonzero(z == -1)))
    assert hi["exact"] > 0 and lo["exact"] > 0


@pytest.mark.slow
def test_sort_and_top_k_count_ties_as_torch_does():
    x = digits()
    k = 5

    def loss(scale, x):
        v = scale * x
        return (jnp.sort(v, axis=1)[:, -k:].sum()  # sort: neighbours of the sorted pixels
                + lax.top_k(v, k)[0].sum())  # top-k: the k-th largest against the next

    t = traced(loss, jnp.float32(1.0), x)
    srt = np.sort(x, axis=1)
    s = one(t, "sort", "KC105", "lax.sort")
    assert (s["evaluations"], s["exact"]) == (N * 63, int(np.count_nonzero(np.diff(srt, axis=1) == 0)))
    top = one(t, "top-k", "KC105", "lax.top_k")
    desc = srt[:, ::-1]
    assert (top["evaluations"], top["exact"]) == (N, int(np.count_nonzero(desc[:, k - 1] == desc[:, k])))
    assert top["observed"]["grad"] == ["1", "0"]  # the first of a tie takes the gradient


def window_ties(img, size, stride, pad):
    """Windows whose maximum ties with another element, counted with numpy (-inf padding)."""
    p = np.pad(img, ((0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(p, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    flat = win.reshape(*win.shape[:3], -1)
    top = flat.max(-1, keepdims=True)
    return flat.shape[0] * flat.shape[1] * flat.shape[2], int(np.count_nonzero((flat == top).sum(-1) >= 2))


@pytest.mark.slow
def test_max_pool_through_reduce_window_counts_tied_windows():
    img = digits().reshape(N, 8, 8)

    def loss(scale, img):
        v = scale * img
        a = lax.reduce_window(v, -jnp.inf, lax.max, (1, 2, 2), (1, 2, 2), "VALID").sum()  # pool-2
        b = lax.reduce_window(v, -jnp.inf, lax.max, (1, 3, 3), (1, 1, 1), "SAME").sum()  # pool-3
        return a + b

    t = traced(loss, jnp.float32(1.0), img)
    two = one(t, "pool-2", "KC106", "lax.reduce_window_max")
    assert (two["evaluations"], two["exact"]) == window_ties(img, 2, 2, 0)
    three = one(t, "pool-3", "KC106", "lax.reduce_window_max")
    assert (three["evaluations"], three["exact"]) == window_ties(img, 3, 1, 1)
    assert two["exact"] > 0 and three["exact"] > 0


def test_vmap_of_a_pool_counts_every_window_of_the_batch():
    img = jnp.asarray(digits()[:4].reshape(4, 8, 8))
    pool = jax.vmap(lambda v: lax.reduce_window(v, -jnp.inf, lax.max, (2, 2), (2, 2), "VALID").sum())  # vmap-pool
    with kinkcheck.trace(backends="jax") as t:
        jax.grad(lambda s: pool(s * img).sum())(jnp.float32(1.0))
    s = one(t, "vmap-pool", "KC106", "lax.reduce_window_max")
    assert (s["evaluations"], s["exact"]) == window_ties(np.asarray(img), 2, 2, 0)
