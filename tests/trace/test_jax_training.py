"""A jitted JAX MLP trained on sklearn's digits: the trace's relu-at-zero and max-tie counts,
step by step, against a direct count of the same pre-activations made here with numpy. The
input's max with 0 is a branch on the data: differentiated by nothing, it counts only with
``only_differentiated=False``."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
import jax.numpy as jnp  # noqa: E402
from jax_helpers import at, line_of  # noqa: E402

import kinkcheck  # noqa: E402

HERE = "test_jax_training.py"
BATCH, HIDDEN, DEAD = 128, 32, 4


def data():
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    return x.astype(np.float32), y.astype(np.int32)


def init(seed=0):
    """Weights with DEAD hidden units that see nothing (zero weights and bias): their
    pre-activation is exactly 0 for every sample, and relu'(0) = 0 keeps them there."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.1, (64, HIDDEN)).astype(np.float32)
    w1[:, :DEAD] = 0
    return {"w1": jnp.asarray(w1), "b1": jnp.zeros(HIDDEN),
            "w2": jnp.asarray(rng.normal(0, 0.1, (HIDDEN, 10)).astype(np.float32)), "b2": jnp.zeros(10)}


def forward(p, x):
    x = jnp.maximum(x, 0.0)  # input-max: ties wherever a pixel is 0 (not differentiated)
    h = jax.nn.relu(x @ p["w1"] + p["b1"])  # relu
    return h @ p["w2"] + p["b2"]


def loss(p, x, y):
    logp = jax.nn.log_softmax(forward(p, x))
    return -jnp.take_along_axis(logp, y[:, None], 1).mean()


@jax.jit
def train_step(p, x, y):
    val, g = jax.value_and_grad(loss)(p, x, y)
    return jax.tree_util.tree_map(lambda a, b: a - 0.05 * b, p, g), val


def batches(x, y, steps):
    for i in range(steps):
        s = (i * BATCH) % (len(x) - BATCH)
        yield x[s:s + BATCH], y[s:s + BATCH]


def direct_counts(p, xb):
    """Exact ties counted straight from the definitions, with numpy (not through JAX)."""
    pre = np.asarray(xb) @ np.asarray(p["w1"]) + np.asarray(p["b1"])
    return int(np.count_nonzero(xb == 0)), int(np.count_nonzero(pre == 0))


@pytest.mark.slow
@pytest.mark.parametrize("only_differentiated", [True, False])
def test_digits_mlp_counts_match_a_direct_count_step_by_step(only_differentiated):
    x, y = data()
    p = init()
    expected = []
    with kinkcheck.trace(backends="jax", only_differentiated=only_differentiated) as t:
        for xb, yb in batches(x, y, 6):
            expected.append(direct_counts(p, xb))
            p, _ = train_step(p, xb, yb)
    ties = at(t, HERE, line_of(__file__, "input-max"))
    relu = at(t, HERE, line_of(__file__, "relu"))
    assert [s["code"] for s in relu] == ["KC102"]
    assert [r[2] for r in relu[0]["per_step"]] == [e[1] for e in expected]
    assert all(e[1] >= BATCH * DEAD for e in expected)  # the dead units, at least
    assert relu[0]["evaluations"] == 6 * BATCH * HIDDEN
    assert relu[0]["subgradient"]["value"].startswith("0 (relu")
    assert t.to_dict()["steps"] == 6
    # log_softmax's stopped max and mean's division are not kinks of this loss
    codes = {s["code"] for s in t.to_dict()["sites"] if s["backend"] == "jax"}
    if only_differentiated:
        assert ties == [] and codes == {"KC102"}
    else:
        assert [s["code"] for s in ties] == ["KC104"] and codes == {"KC102", "KC104"}
        assert [r[2] for r in ties[0]["per_step"]] == [e[0] for e in expected]


@pytest.mark.slow
def test_optax_training_counts_the_loss_and_not_the_optimizer():
    optax = pytest.importorskip("optax")
    x, y = data()
    opt = optax.adam(1e-2)  # its update takes sqrt(nu) + eps: optimizer work, not counted

    @jax.jit
    def step(p, state, xb, yb):
        val, g = jax.value_and_grad(loss)(p, xb, yb)
        updates, state = opt.update(g, state, p)
        return optax.apply_updates(p, updates), state, val

    p = init()
    state = opt.init(p)
    expected = []
    with kinkcheck.trace(backends="jax") as t:
        for xb, yb in batches(x, y, 4):
            expected.append(direct_counts(p, xb))
            p, state, _ = step(p, state, xb, yb)
    relu = at(t, HERE, line_of(__file__, "relu"))
    assert [r[2] for r in relu[0]["per_step"]] == [e[1] for e in expected]
    assert {s["code"] for s in t.to_dict()["sites"] if s["backend"] == "jax"} == {"KC102"}  # not the data's max
