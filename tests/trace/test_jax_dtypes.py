"""The JAX tracer counts every floating dtype JAX trains in, ml_dtypes' bfloat16 included (numpy
does not call it a floating type): a jitted gradient in bfloat16 counts its exact ties as numpy
counts the same values, and the probe gives its rows."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax_helpers import at, line_of  # noqa: E402

import kinkcheck  # noqa: E402
from kinkcheck.trace import Probe  # noqa: E402

HERE = "test_jax_dtypes.py"


def _data():
    """Small integers: every pre-activation is an integer below 256, exact in bfloat16 whatever
    the order of the matmul's sums, so numpy finds the same zeros in float64."""
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 3, (8, 6)).astype(np.float64)
    w[:, 0] = 0  # a dead unit: 0 on every sample
    x = rng.integers(-3, 4, (32, 8)).astype(np.float64)
    return w, x


def _loss(w, x):
    h = x @ w
    return (jax.nn.relu(h).sum()  # relu
            + jnp.abs(h).sum())  # abs


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_a_jitted_gradient_counts_exact_ties_in_every_float_dtype(dtype):
    w, x = _data()
    zeros = int(np.count_nonzero(x @ w == 0))
    assert zeros >= len(x)  # the dead unit, at least
    step = jax.jit(jax.grad(_loss))
    with kinkcheck.trace(backends="jax", probe=Probe(every=1)) as t:
        jax.block_until_ready(step(jnp.asarray(w, dtype), jnp.asarray(x, dtype)))
    name = jnp.dtype(dtype).name
    for marker, code, grad_at_0 in (("relu", "KC102", "0"), ("abs", "KC101", "1")):
        (site,) = at(t, HERE, line_of(__file__, marker))
        assert (site["code"], site["dtype"]) == (code, name)
        assert site["evaluations"] == x.shape[0] * w.shape[1]
        assert [r[2] for r in site["per_step"]] == [zeros]
        assert site["observed"]["grad"] == [grad_at_0]  # JAX's gradient at the kink, in this dtype
        (row,) = site["probe"]["steps"]
        assert row[:2] == [0, zeros]
        assert row[2] > 0  # the other subgradient at the dead unit moves the gradient


@pytest.mark.parametrize("dtype", [jnp.float8_e4m3fn, jnp.bfloat16, jnp.float16, jnp.float32])
def test_near_is_measured_in_the_operands_own_precision(dtype):
    # near: 0 < |x| <= ulps * eps(dtype) * max|x| (ulps = 4); in bfloat16 that is |x| <= 1/32
    # here, in float16 1/256: the counts differ by dtype as the values' own precision does
    x = jnp.asarray([1.0, 0.01, -0.02, 0.003, 0.5, 0.0], dtype)
    with kinkcheck.trace(backends="jax", rules="KC101") as t:
        jax.grad(lambda v: jnp.abs(v).sum())(x)
    v = np.abs(np.asarray(x, np.float64))
    want = int(np.count_nonzero((v > 0) & (v <= 4 * float(jnp.finfo(dtype).eps) * v.max())))
    (site,) = [s for s in t.to_dict()["sites"] if s["backend"] == "jax"]
    assert (site["exact"], site["near"]) == (1, want)
