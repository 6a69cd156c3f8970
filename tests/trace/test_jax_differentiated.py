"""Only what is differentiated is a kink of training, in JAX as in torch: a forward call (an
eval loop over ``jax.jit(loss)``), constants and ``stop_gradient`` are not counted by default;
``grad``, ``value_and_grad``, ``vjp`` and ``jvp`` of the same code are, counted exactly (checked
against numpy); ``only_differentiated=False`` counts every evaluation, and the trace file's
``counted`` says which."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax_helpers import at, jax_sites, line_of  # noqa: E402

import kinkcheck  # noqa: E402

HERE = "test_jax_differentiated.py"
BATCH, HIDDEN, DEAD = 64, 16, 3


def data():
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    return x[:3 * BATCH].astype(np.float32), y[:3 * BATCH].astype(np.int32)


def init():
    """DEAD hidden units with zero weights and bias: their pre-activation is exactly 0."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.1, (64, HIDDEN)).astype(np.float32)
    w1[:, :DEAD] = 0
    return {"w1": jnp.asarray(w1), "b1": jnp.zeros(HIDDEN),
            "w2": jnp.asarray(rng.normal(0, 0.1, (HIDDEN, 10)).astype(np.float32)), "b2": jnp.zeros(10)}


def loss(p, x, y):
    x = jnp.maximum(x, 0.0)  # data-max: a branch on the data alone, never differentiated
    h = jax.nn.relu(x @ p["w1"] + p["b1"])  # relu
    logp = jax.nn.log_softmax(h @ p["w2"] + p["b2"])
    return -jnp.take_along_axis(logp, y[:, None], 1).mean()


def batches():
    x, y = data()
    return [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]


def direct(p, xb):
    """(pixels at 0, pre-activations at 0): the ties counted with numpy, not through JAX."""
    pre = np.asarray(xb) @ np.asarray(p["w1"]) + np.asarray(p["b1"])
    return int(np.count_nonzero(xb == 0)), int(np.count_nonzero(pre == 0))


def site(t, marker):
    got = at(t, HERE, line_of(__file__, marker))
    assert len(got) <= 1, got
    return got[0] if got else None


@pytest.mark.slow
def test_an_eval_loop_counts_nothing_by_default_and_everything_when_asked():
    p = init()
    evaluate = jax.jit(loss)
    plain = [np.asarray(evaluate(p, xb, yb)) for xb, yb in batches()]
    with kinkcheck.trace(backends="jax") as t:
        quiet = [np.asarray(evaluate(p, xb, yb)) for xb, yb in batches()]
    assert jax_sites(t) == []
    assert "differentiates" in t.to_dict()["counted"]["jax"]
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t_all:
        loud = [np.asarray(evaluate(p, xb, yb)) for xb, yb in batches()]
    want = [direct(p, xb) for xb, _ in batches()]
    assert site(t_all, "data-max")["exact"] == sum(w[0] for w in want)
    assert site(t_all, "relu")["exact"] == sum(w[1] for w in want) >= len(want) * BATCH * DEAD
    assert site(t_all, "relu")["evaluations"] == len(want) * BATCH * HIDDEN
    assert "only_differentiated=False" in t_all.to_dict()["counted"]["jax"]
    for a, b, c in zip(plain, quiet, loud):
        assert a.tobytes() == b.tobytes() == c.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda f: jax.jit(jax.grad(f)), jax.grad, lambda f: jax.grad(jax.jit(f)),
                                  lambda f: jax.jit(jax.value_and_grad(f))],
                         ids=["jit-grad", "grad", "grad-jit", "jit-value_and_grad"])
def test_the_gradient_of_the_same_loss_counts_its_relu_and_not_the_data_branch(make):
    p = init()
    step = make(loss)
    plain = [step(p, xb, yb) for xb, yb in batches()]
    with kinkcheck.trace(backends="jax") as t:
        traced = [step(p, xb, yb) for xb, yb in batches()]
    want = [direct(p, xb) for xb, _ in batches()]
    relu = site(t, "relu")
    assert relu["code"] == "KC102"
    assert relu["exact"] == sum(w[1] for w in want)
    assert relu["evaluations"] == len(want) * BATCH * HIDDEN
    assert site(t, "data-max") is None  # jnp.maximum(x, 0) on the data: a constant branch
    assert [s["code"] for s in jax_sites(t)] == ["KC102"]  # nor log_softmax's max, nor mean's division
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(traced)):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.slow
def test_one_jitted_loss_for_evaluation_and_under_grad_counts_only_the_gradient():
    p = init()
    loss_j = jax.jit(loss)  # the same jitted function (one traced program) in both roles
    (xb, yb), *_ = batches()
    with kinkcheck.trace(backends="jax") as t:
        loss_j(p, xb, yb)  # evaluation
        jax.grad(loss_j)(p, xb, yb)  # training
        loss_j(p, xb, yb)  # evaluation again
    relu = site(t, "relu")
    assert (relu["evaluations"], relu["exact"]) == (BATCH * HIDDEN, direct(p, xb)[1])


def test_constants_stop_gradient_and_zero_tangents_are_not_counted():
    data_ = jnp.array([0.0, 2.0, 0.0])

    def f(w):
        a = jnp.abs(w).sum()  # on-w
        b = jnp.sqrt(jnp.abs(data_)).sum()  # on-data
        c = jnp.abs(lax.stop_gradient(w)).sum()  # stopped
        d = jax.nn.relu(data_).sum()  # relu-data
        return a + b + c + d

    w = jnp.array([0.0, 1.0, -1.0, 0.0])
    with kinkcheck.trace(backends="jax") as t:
        jax.grad(f)(w)
        jax.jit(jax.grad(f))(w)
    assert [(s["line"], s["exact"]) for s in jax_sites(t)] == [(line_of(__file__, "on-w"), 4)]
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t_all:
        jax.grad(f)(w)
    got = {s["line"]: s["exact"] for s in jax_sites(t_all)}
    assert got[line_of(__file__, "on-w")] == 2 and got[line_of(__file__, "stopped")] == 2
    assert got[line_of(__file__, "relu-data")] == 2


def test_forward_mode_and_vjp_count_too():
    def g(v):
        return jnp.maximum(v, 0.0) * 2.0  # fwd-mode

    v = jnp.array([0.0, 3.0, 0.0])
    with kinkcheck.trace(backends="jax") as t:
        jax.jvp(g, (v,), (jnp.ones(3),))
        _, pull = jax.vjp(g, v)
        pull(jnp.ones(3))
        g(v)  # forward only: not counted
    s = site(t, "fwd-mode")
    assert (s["evaluations"], s["exact"]) == (6, 4)


def test_a_constant_denominator_is_no_site_once_the_program_is_inlined():
    def f(w, y):
        return (w / 2.0).sum() + (w / y).sum()  # halved

    w, y = jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(jax.grad(f))(w, y)
    (s,) = jax_sites(t)  # w / y only: jnp.divide's 2.0 is a tracer in its own jit, a literal here
    assert (s["code"], s["evaluations"], s["exact"]) == ("KC205", 2, 1)
