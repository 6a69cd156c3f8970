"""A plain call of a jitted step hands its counts over as extra outputs (no host callback):
the user gets exactly the outputs of an untraced call, the counts are those the callback
form delivers, and ``lower``, donation and explicit shardings keep working."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax_helpers import jax_sites  # noqa: E402

import kinkcheck  # noqa: E402
from kinkcheck.trace.backends import jax as jax_backend  # noqa: E402, F401 - sets jax_dispatch.sink first
from kinkcheck.trace.backends import jax_counters, jax_dispatch  # noqa: E402


def _loss(w, x):
    h = jax.nn.relu(x @ w)
    return jnp.max(h, axis=1).sum() + jnp.abs(h - 0.5).sum()


def _data():
    rng = np.random.default_rng(3)
    w = jnp.asarray(rng.normal(size=(8, 4)).astype(np.float32))
    x = jnp.asarray(np.round(rng.normal(size=(16, 8)), 1).astype(np.float32))
    return w, x


def _spy(monkeypatch) -> list:
    """The calls that came through Python (the first of each program: the others take jit's
    C++ fast path)."""
    calls: list = []
    real = jax_dispatch.call

    def call(*args, **kwargs):
        calls.append(args[1].sites)
        return real(*args, **kwargs)

    monkeypatch.setattr(jax_dispatch, "call", call)
    return calls


def _takes(monkeypatch) -> list:
    """Every call's count vectors as they are handed over."""
    got: list = []
    real = jax_dispatch.sink.take

    def take(sites, evals, vecs, step):
        got.append((sites, evals, len(vecs), step))
        return real(sites, evals, vecs, step)

    monkeypatch.setattr(jax_dispatch.sink, "take", take)
    return got


def _counts(t) -> list:
    return sorted((s["line"], s["op"], s["evaluations"], s["exact"], s["near"], s["per_step"]) for s in jax_sites(t))


def test_a_step_counts_through_its_outputs_with_untraced_results(monkeypatch):
    calls, takes = _spy(monkeypatch), _takes(monkeypatch)
    step = jax.jit(lambda w, x: w - 0.1 * jax.grad(_loss)(w, x))
    w0, x = _data()
    plain = [w0]
    for _ in range(3):
        plain.append(step(plain[-1], x))
    with kinkcheck.trace(backends="jax") as t:
        traced = [w0]
        for _ in range(3):
            traced.append(step(traced[-1], x))
    assert len(calls) == 1 and calls[0]  # then jit's C++ fast path, the counts through Counted
    assert len(takes) == 3 and all(t[0] == calls[0] and t[3] for t in takes)
    for a, b in zip(plain, traced):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    sites = jax_sites(t)
    assert sites and all(s["evaluations"] for s in sites)
    assert all(len(s["per_step"]) == 3 for s in sites)


def test_outputs_and_callback_forms_count_alike(monkeypatch):
    """The same program, once with its counts as outputs, once through the callback (a
    while_loop in the program keeps it on the callback form)."""
    w, x = _data()

    def step_plain(w, x):
        return w - 0.1 * jax.grad(_loss)(w, x)

    def step_loop(w, x):
        w = w - 0.1 * jax.grad(_loss)(w, x)
        return lax.while_loop(lambda c: c[0] < 1, lambda c: (c[0] + 1, c[1]), (0, w))[1]

    got = []
    for fn in (step_plain, step_loop):
        with kinkcheck.trace(backends="jax") as t:
            jax.block_until_ready(jax.jit(fn)(w, x))
            jax.block_until_ready(jax.jit(fn)(w + 1, x))
        got.append([c[2:] for c in _counts(t)])
    assert got[0] == got[1]


def test_lower_keeps_the_programs_outputs():
    w, x = _data()
    f = jax.jit(lambda w, x: jax.grad(_loss)(w, x))
    with kinkcheck.trace(backends="jax"):
        compiled = f.lower(w, x).compile()
        out = compiled(w, x)
    assert out.shape == w.shape
    assert np.array_equal(np.asarray(out), np.asarray(f(w, x)))


def test_donated_and_sharded_steps_run_as_untraced(monkeypatch):
    calls = _spy(monkeypatch)
    w, x = _data()
    dev = jax.devices()[0]
    sharding = jax.sharding.SingleDeviceSharding(dev)
    donating = jax.jit(lambda w, x: w - 0.1 * jax.grad(_loss)(w, x), donate_argnums=0)
    sharded = jax.jit(lambda w, x: w - 0.1 * jax.grad(_loss)(w, x), in_shardings=(sharding, sharding),
                      out_shardings=sharding)
    expected = [np.asarray(donating(jnp.array(w), x)), np.asarray(sharded(w, x))]
    with kinkcheck.trace(backends="jax") as t:
        a = donating(jnp.array(w), x)
        b = sharded(w, x)
    assert len(calls) == 2
    assert np.array_equal(np.asarray(a), expected[0]) and np.array_equal(np.asarray(b), expected[1])
    assert all(len(s["per_step"]) == 2 for s in jax_sites(t))


def test_device_counters_sum_lazily_and_read_at_once():
    rng = np.random.default_rng(0)
    vecs = [jnp.asarray(rng.integers(0, 50, 44).astype(np.int32)) for _ in range(150)]
    total, ref, seen = vecs[0], np.asarray(vecs[0], np.int64), []
    for v in vecs[1:]:
        total = jax_counters.add(total, v)
        ref = ref + np.asarray(v)
        seen.append((total, ref.copy()))
        assert len(jax_counters._parts(total)) < jax_counters.FOLD
    got = jax_counters.to_host([c for c, _ in seen])
    assert all(np.array_equal(g, r[1:]) for g, (_, r) in zip(got, seen))
    assert np.array_equal(jax_counters.to_host([vecs[5]])[0], np.asarray(vecs[5])[1:])

