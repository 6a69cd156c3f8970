"""Selecting rules filters what the JAX tracer counts, never which rule a kinked op belongs to:
the ``lax.max`` inside ``jax.nn.relu`` is KC102's whether KC104 (max/min ties) is selected or
not, ``jnp.clip``'s max and min are KC103's and ``jnp.linalg.norm``'s sqrt is KC203's, so
``kinkcheck.trace(rules=CODE)`` records exactly the CODE sites of a trace of every rule."""

from __future__ import annotations

import functools

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax_helpers import jax_sites, line_of  # noqa: E402

import kinkcheck  # noqa: E402


def _loss(w, x):
    h = x @ w
    return (jax.nn.relu(h).sum()  # relu
            + jnp.maximum(h, 0.5).sum()  # maximum
            + jnp.clip(h, -1.0, 1.0).sum()  # clip
            + jnp.linalg.norm(h, axis=1).sum()  # norm
            + jnp.sqrt(h * h + 1.0).sum())  # sqrt


def _data():
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 3, (4, 5)).astype(np.float32)
    w[:, 0] = 0  # a dead unit: relu's and norm's kinks at 0 are hit
    return jnp.asarray(w), jnp.asarray(rng.integers(-2, 3, (8, 4)).astype(np.float32))


@functools.cache
def _sites(rules: str | None) -> tuple:
    """(line, code, op, evaluations, exact) of each JAX site of one jitted gradient of _loss."""
    with kinkcheck.trace(backends="jax", rules=rules) as t:
        jax.block_until_ready(jax.jit(jax.grad(_loss))(*_data()))
    return tuple(sorted((s["line"], s["code"], s["op"], s["evaluations"], s["exact"]) for s in jax_sites(t)))


@pytest.mark.parametrize("code", ["KC102", "KC103", "KC104", "KC201", "KC203"])
def test_one_rule_alone_counts_its_sites_of_a_trace_of_every_rule(code):
    alone = _sites(code)
    assert alone and alone == tuple(s for s in _sites(None) if s[1] == code)


def test_relu_is_counted_by_KC102_alone_and_never_by_KC104():
    relu, maximum = line_of(_loss, "relu"), line_of(_loss, "maximum")
    ((line, code, op, evaluations, exact),) = [s for s in _sites("KC102") if s[0] == relu]
    assert (code, op, evaluations) == ("KC102", "lax.max", 8 * 5)
    assert exact >= 8  # the dead unit, on every sample
    assert {s[0] for s in _sites("KC104")} == {maximum}  # jnp.maximum's own max; relu's and clip's are not ties
