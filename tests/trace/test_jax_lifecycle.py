"""The JAX backend leaves nothing behind: patches go back as they were (after errors, in any
exit order), programs compiled outside a trace run untouched, and results are bit-identical."""

from __future__ import annotations

import threading

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax._src import core  # noqa: E402
from jax._src import pjit as jax_pjit  # noqa: E402
from jax_helpers import jax_sites  # noqa: E402

import kinkcheck  # noqa: E402
from kinkcheck.trace import patches  # noqa: E402
from kinkcheck.trace.backends import default_backends  # noqa: E402
from kinkcheck.trace.backends import jax_state  # noqa: E402

ORIGINAL = (core.Primitive.bind, jax_pjit._trace_for_jit, jax_pjit._run_python_pjit)


def untouched():
    return (core.Primitive.bind, jax_pjit._trace_for_jit, jax_pjit._run_python_pjit) == ORIGINAL \
        and jax_state.STATE.value is None and not patches.active()


def test_jax_is_a_default_backend_once_imported_and_names_are_checked():
    assert "jax" in default_backends()  # this module imported jax
    with pytest.raises(ValueError, match="unknown trace backend 'jaxx'"):
        kinkcheck.trace(backends="jaxx")


@pytest.mark.slow
def test_an_error_inside_the_block_or_the_program_restores_everything():
    f = jax.jit(lambda x: jnp.abs(x).sum() + jnp.ones(3)[x.astype(int)].sum())
    with pytest.raises(ZeroDivisionError), kinkcheck.trace(backends="jax"):
        f(jnp.zeros(2))
        1 / 0  # noqa: B018
    assert untouched()
    with pytest.raises(TypeError), kinkcheck.trace(backends="jax"):
        jax.jit(lambda x: jnp.abs(x) + jnp.ones(3))(jnp.zeros(2))  # shapes (2,) and (3,)
    assert untouched()


@pytest.mark.slow
def test_nested_traces_exiting_out_of_order_both_count_and_restore():
    f = jax.jit(lambda x: jnp.abs(x).sum())
    outer = kinkcheck.trace(backends="jax", only_differentiated=False)
    inner = kinkcheck.trace(backends="jax", only_differentiated=False)
    outer.__enter__()
    inner.__enter__()
    f(jnp.zeros(3))
    outer.__exit__(None, None, None)  # the outer block first
    assert jax_state.STATE.value is not None  # the inner one still counts
    f(jnp.zeros(3))
    inner.__exit__(None, None, None)
    assert untouched()
    assert [s["exact"] for s in jax_sites(outer)] == [3]
    assert [s["exact"] for s in jax_sites(inner)] == [6]


@pytest.mark.slow
def test_programs_compiled_outside_run_as_they_were():
    traced = []

    def body(x):
        traced.append(1)  # runs once per trace of the function
        return jnp.abs(x).sum()

    f = jax.jit(body)
    f(jnp.zeros(3))
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        f(jnp.zeros(3))  # traced again, with counting
        f(jnp.zeros(3))  # and cached
    f(jnp.zeros(3))  # the first program again: no new trace, nothing counted
    assert len(traced) == 2
    assert [s["evaluations"] for s in jax_sites(t)] == [6]
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t2:
        f(jnp.zeros(3))  # the counting program is cached too
    assert len(traced) == 2 and [s["exact"] for s in jax_sites(t2)] == [3]


def test_other_threads_are_not_counted():
    f = jax.jit(lambda x: jnp.abs(x).sum())
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        th = threading.Thread(target=lambda: f(jnp.zeros(5)).block_until_ready())
        th.start()
        th.join()
    assert jax_sites(t) == []


def step(params, x):
    def loss(p):
        h = jnp.maximum(x @ p["w"], 0.0)
        return (jnp.abs(h - 1.0) + jnp.sqrt(h * h + 1e-12)).mean()

    val, g = jax.value_and_grad(loss)(params)
    return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, params, g), val, g


@pytest.mark.slow
def test_outputs_and_gradients_are_bit_identical_with_and_without_the_trace():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(32, 8)).astype(np.float32))
    x = x.at[:4].set(0.0)  # rows that put h exactly on the kinks
    params = {"w": jnp.asarray(rng.normal(size=(8, 16)).astype(np.float32))}
    f = jax.jit(step)

    def run():
        p, out = params, []
        for _ in range(3):
            p, val, g = f(p, x)
            out.append((np.asarray(val), np.asarray(g["w"]), np.asarray(p["w"])))
        return out

    plain = run()
    with kinkcheck.trace(backends="jax") as t:
        traced = run()
    for a, b in zip(plain, traced):
        for u, v in zip(a, b):
            assert u.tobytes() == v.tobytes()
    assert {s["code"] for s in jax_sites(t)} == {"KC101", "KC104", "KC201"}
    assert t.to_dict()["steps"] == 3


def test_eager_calls_of_jax_functions_are_bit_identical_too():
    """Eager jnp functions run the same compiled programs traced or not (only once per
    calling line): mean's division, a norm's sum and an eager gradient come out the same."""
    x = jnp.asarray(np.random.default_rng(1).normal(size=(64, 300)).astype(np.float32))

    def work():
        g = jax.grad(lambda v: jnp.linalg.norm(v) + jax.nn.relu(v).sum() + jnp.mean(v))(x)
        return [jnp.mean(x), jnp.std(x), jnp.linalg.norm(x, axis=1), jnp.clip(x, -1, 1), g]

    plain = work()
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        traced = work()
    for a, b in zip(plain, traced):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    assert {s["code"] for s in jax_sites(t)} == {"KC102", "KC103", "KC201", "KC203"}
    assert untouched()
