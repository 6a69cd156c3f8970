"""The subgradient sensitivity probe on JAX: kinkcheck.trace(probe=...) measures how far the
other valid subgradient at a step's exact hits would move a grad/value_and_grad call's
gradient, eager or jitted, in the torch probe's record format, without changing the training
run and leaving nothing patched."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax._src import api as _api  # noqa: E402
from jax._src import custom_derivatives as _cd  # noqa: E402
from jax._src import pjit as _pjit  # noqa: E402
from jax_helpers import jax_sites  # noqa: E402
from trace_sites import assert_closed_form_row  # noqa: E402

import kinkcheck  # noqa: E402
from kinkcheck.trace import Probe, tracefile  # noqa: E402


def _rel_cos_max(g, g_alt):
    """The probe's row figures, from two gradients (pytrees), in float64."""
    g = np.concatenate([np.asarray(a, np.float64).ravel() for a in jax.tree_util.tree_leaves(g)])
    a = np.concatenate([np.asarray(b, np.float64).ravel() for b in jax.tree_util.tree_leaves(g_alt)])
    d = a - g
    return (float(np.linalg.norm(d) / np.linalg.norm(g)), float(g @ a / (np.linalg.norm(g) * np.linalg.norm(a))),
            float(np.abs(d).max()))


def _probed(t, op=None):
    sites = [s for s in jax_sites(t) if s.get("probe") and (op is None or s["op"] == op)]
    assert len(sites) == 1, sites
    return sites[0]["probe"]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_one_layer_relu_closed_form(jit):
    # h = x @ W.T; loss = sum(relu(h) @ v). Row 0 of x makes h[0, 0] = 1 - 1 = 0 exactly,
    # h[0, 1] = 2.5; row 1: h = [-2.5, 2.5]. With relu'(0) = 0 (JAX, as torch), dL/dW row 0 gets
    # nothing from sample 0; with relu'(0) = 1 it gets v[0] * x[0] = [1, 1]. v's gradient is
    # unchanged (relu(0) = 0 either way). So d = g_alt - g = [1, 1, 0, 0 | 0, 0].
    W = jnp.array([[1.0, -1.0], [2.0, 0.5]])
    v = jnp.array([1.0, 1.0])
    x = jnp.array([[1.0, 1.0], [0.5, 3.0]])

    def loss(p, x):
        W, v = p
        return (jax.nn.relu(x @ W.T) @ v).sum()

    grad = jax.jit(jax.value_and_grad(loss)) if jit else jax.value_and_grad(loss)
    with kinkcheck.trace(backends="jax", probe=Probe(every=1)) as t:
        _, (gW, gv) = grad((W, v), x)
        if not jit:
            t.step()  # eager: the step is the user's to close
    g = np.concatenate([np.ravel(gW), np.ravel(gv)])
    assert g.tolist() == [0.0, 0.0, 1.5, 4.0, 0.0, 5.0]  # JAX's own gradient, untouched
    d = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    rel = np.linalg.norm(d) / np.linalg.norm(g)  # sqrt(2) / sqrt(43.25)
    cos = g @ (g + d) / (np.linalg.norm(g) * np.linalg.norm(g + d))
    probe = _probed(t)
    assert_closed_form_row(probe, rel, cos)
    assert t.to_dict()["probe"] == {"every": 1, "threshold": 2.0**-10, "steps": 1}
    tracefile.validate(t.to_dict())


# -- every covered op against a brute-force alternative gradient ---------------------------
# each case: (the op as JAX runs it, the same values with the other subgradient written out
# with jnp.where, the site's lax op when the line has several)

def _sg(f):
    return lambda h: lax.stop_gradient(f(h))


def _flip(h):
    return h[..., ::-1]


CASES = {
    "relu": (jax.nn.relu, lambda h: jnp.where(h >= 0, h, 0.0), None),
    "relu6": (jax.nn.relu6, lambda h: jnp.where((h >= 0) & (h <= 6), h, _sg(jax.nn.relu6)(h)), None),
    "maximum(h, 0)": (lambda h: jnp.maximum(h, 0.0), lambda h: jnp.where(h >= 0, h, 0.0), None),
    "abs": (jnp.abs, lambda h: jnp.where(h > 0, h, -h), None),
    "maximum": (lambda h: jnp.maximum(h, _flip(h)), lambda h: jnp.where(h >= _flip(h), h, _flip(h)), None),
    "minimum": (lambda h: jnp.minimum(h, _flip(h)), lambda h: jnp.where(h <= _flip(h), h, _flip(h)), None),
    "lax.clamp": (lambda h: lax.clamp(-0.5, h, 0.5),
                  lambda h: jnp.where((h >= -0.5) & (h <= 0.5), h, _sg(lambda u: lax.clamp(-0.5, u, 0.5))(h)), None),
    # jnp.clip is min(hi, max(lo, x)): the lower bound's tie goes wholly to lo (x's slope 0)
    "clip at its lower bound": (lambda h: jnp.clip(h, -0.5, 0.5),
                                lambda h: jnp.minimum(jnp.where(h > -0.5, h, -0.5), 0.5), "lax.max"),
    "leaky_relu": (lambda h: jax.nn.leaky_relu(h, 0.1), lambda h: jnp.where(h > 0, h, 0.1 * h), None),
    # hard_tanh picks its branch by x > 1 and x < -1: one site each, each swapped alone
    "hard_tanh at 1": (jax.nn.hard_tanh, lambda h: jnp.where(h >= 1, 1.0, jnp.where(h < -1, -1.0, h)), "lax.gt"),
    "hard_tanh at -1": (jax.nn.hard_tanh, lambda h: jnp.where(h > 1, 1.0, jnp.where(h <= -1, -1.0, h)), "lax.lt"),
}


def _net(op, p, x):
    W1, W2 = p
    return jnp.sum((op(x @ W1.T) @ W2.T) ** 2)


def _case_data():
    rng = np.random.default_rng(0)
    # integer halves: pre-activations of exactly 0, +-0.5 and +-1 occur
    W1 = jnp.asarray(rng.integers(-2, 3, (6, 4)) / 2, jnp.float32)
    W2 = jnp.asarray(rng.normal(size=(3, 6)), jnp.float32)
    x = jnp.asarray(rng.integers(-3, 4, (16, 4)), jnp.float32)
    return (W1, W2), x


@pytest.mark.parametrize("name", sorted(CASES))
def test_probe_matches_the_alternative_gradient(name):
    op, alt, which = CASES[name]
    p, x = _case_data()
    g = jax.grad(lambda q: _net(op, q, x))(p)
    g_alt = jax.grad(lambda q: _net(alt, q, x))(p)
    assert any(not np.array_equal(a, b) for a, b in zip(g, g_alt)), "the case must move the gradient"
    rel, cos, dmax = _rel_cos_max(g, g_alt)
    with kinkcheck.trace(backends="jax", probe=Probe(every=1)) as t:
        got = jax.grad(lambda q: _net(op, q, x))(p)
        t.step()
    assert all(np.array_equal(a, b) for a, b in zip(got, g))
    probe = _probed(t, which)
    (_, hits, got_rel, got_cos, got_max), = probe["steps"]
    assert hits >= 1
    assert got_rel == pytest.approx(rel, rel=1e-4)
    assert got_cos == pytest.approx(cos, rel=1e-4, abs=1e-6)
    assert got_max == pytest.approx(dmax, rel=1e-4)


def test_a_site_evaluated_twice_swaps_at_both():
    # the same relu line runs twice in a chain: g_alt swaps both evaluations at once
    def net(act, W, x):
        h = x
        for _ in range(2):
            h = act(h @ W.T)  # twice
        return h.sum()

    W = jnp.array([[-1.0, 0.0], [-1.0, 1.0]])
    x = jnp.array([[1.0, 1.0], [2.0, 1.0], [1.0, 2.0]])
    relu_alt = lambda h: jnp.where(h >= 0, h, 0.0)  # noqa: E731
    g = jax.grad(lambda w: net(jax.nn.relu, w, x))(W)
    g_alt = jax.grad(lambda w: net(relu_alt, w, x))(W)
    with kinkcheck.trace(backends="jax", probe=Probe(every=1)) as t:
        jax.jit(jax.grad(lambda w: net(jax.nn.relu, w, x)))(W)
    _, hits, rel, _, _ = _probed(t)["steps"][0]
    assert hits >= 2
    assert rel == pytest.approx(_rel_cos_max(g, g_alt)[0], rel=1e-5)


def test_per_example_gradients_count_as_one():
    # vmap(grad(f)): the probe's vector is the batch's gradients side by side
    W = jnp.array([[1.0, -1.0], [2.0, 0.5]])
    x = jnp.array([[1.0, 1.0], [0.5, 3.0]])

    def per_example(act):
        return jax.vmap(jax.grad(lambda w, xi: act(xi @ w.T).sum()), (None, 0))(W, x)

    g, g_alt = per_example(jax.nn.relu), per_example(lambda h: jnp.where(h >= 0, h, 0.0))
    with kinkcheck.trace(backends="jax", probe=1) as t:
        got = jax.jit(lambda w: jax.vmap(jax.grad(lambda w, xi: jax.nn.relu(xi @ w.T).sum()), (None, 0))(w, x))(W)
    assert np.array_equal(got, g)
    _, hits, rel, cos, _ = _probed(t)["steps"][0]
    assert hits == 1
    assert (rel, cos) == pytest.approx(_rel_cos_max(g, g_alt)[:2], rel=1e-5)


# -- a jitted digits MLP: forced relu ties, each probed step against a hand-written swap ---

HIDDEN, DEAD = 32, 3


def _digits():
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    return jnp.asarray(d.data[:128] / 16.0, jnp.float32), jnp.asarray(d.target[:128], jnp.int32)


def _init():
    """Weights on a grid of 1/8 (the pixels are sixteenths: exact zeros happen at step 0), and
    DEAD units per layer with zero weights and bias: their pre-activation is exactly 0 on every
    sample, and relu'(0) = 0 keeps them so; relu'(0) = 1 would train them."""
    rng = np.random.default_rng(0)
    shapes = [(64, HIDDEN), (HIDDEN,), (HIDDEN, HIDDEN), (HIDDEN,), (HIDDEN, 10), (10,)]
    p = [np.round(rng.normal(0, 0.3, s) * 8) / 8 for s in shapes]
    for w, b in ((p[0], p[1]), (p[2], p[3])):
        w[..., :DEAD] = 0
        b[:DEAD] = 0
    return [jnp.asarray(a, jnp.float32) for a in p]


def _mlp_loss(p, x, y, acts=(jax.nn.relu, jax.nn.relu)):
    w1, b1, w2, b2, w3, b3 = p
    h = acts[0](x @ w1 + b1)  # relu1
    h = acts[1](h @ w2 + b2)  # relu2
    logp = jax.nn.log_softmax(h @ w3 + b3)
    return -jnp.take_along_axis(logp, y[:, None], 1).mean()


@jax.jit
def _train_step(p, x, y):
    g = jax.grad(_mlp_loss)(p, x, y)
    return [a - 0.125 * b for a, b in zip(p, g)]


def _relu_alt(h):
    return jnp.where(h >= 0, h, 0.0)


def _run(probe, steps, dtype=jnp.float32):
    x, y = _digits()
    x = x.astype(dtype)
    p = [a.astype(dtype) for a in _init()]
    params = [p]
    with kinkcheck.trace(backends="jax", probe=probe) as t:
        for _ in range(steps):
            p = jax.block_until_ready(_train_step(p, x, y))
            params.append(p)
    return params, t


@pytest.mark.slow
def test_jitted_digits_mlp_matches_a_hand_written_swap_and_trains_bit_identically():
    from jax_helpers import line_of

    steps = 6
    plain, _ = _run(None, steps)
    params, t = _run(Probe(every=2), steps)
    for a, b in zip(plain, params):  # every parameter, every step, bit for bit
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
    untraced = [_init()]
    for _ in range(steps):
        untraced.append(_train_step(untraced[-1], *_digits()))
    assert all(np.array_equal(u, v) for u, v in zip(untraced[-1], params[-1]))

    x, y = _digits()
    data = t.to_dict()
    assert data["probe"]["steps"] == 3  # steps 0, 2, 4
    tracefile.validate(data)
    by_line = {s["line"]: s for s in jax_sites(t)}
    for k, marker in enumerate(("relu1", "relu2")):
        site = by_line[line_of(__file__, marker)]
        rows = site["probe"]["steps"]
        hit_steps = [r[0] for r in site["per_step"] if r[2]]
        assert [r[0] for r in rows] == [s for s in hit_steps if s % 2 == 0] and rows, marker
        for step, hits, rel, cos, dmax in rows:
            p = params[step]
            acts = [jax.nn.relu, jax.nn.relu]
            acts[k] = _relu_alt
            g = jax.grad(_mlp_loss)(p, x, y)
            g_alt = jax.grad(_mlp_loss)(p, x, y, tuple(acts))
            want = _rel_cos_max(g, g_alt)
            assert hits == next(r[2] for r in site["per_step"] if r[0] == step)
            assert rel == pytest.approx(want[0], rel=1e-4, abs=1e-7), (marker, step)
            assert cos == pytest.approx(want[1], rel=1e-5)
            assert dmax == pytest.approx(want[2], rel=1e-4, abs=1e-9)


@pytest.mark.slow
def test_float16_training_is_bit_identical_with_and_without_the_probe():
    plain, _ = _run(None, 8, jnp.float16)
    params, t = _run(Probe(every=2), 8, jnp.float16)
    assert all(np.array_equal(u, v) for a, b in zip(plain, params) for u, v in zip(a, b))
    rows = [r for s in jax_sites(t) if s.get("probe") for r in s["probe"]["steps"]]
    assert sorted({r[0] for r in rows}) == [0, 2, 4, 6] and all(r[2] > 0 for r in rows)


# -- what the probe leaves behind and says ------------------------------------------------


def _patched_state():
    return (_api.vjp, _cd.custom_jvp.__call__, _pjit._infer_params, _pjit._run_python_pjit)


def test_nothing_stays_patched_when_the_step_raises():
    before = _patched_state()
    W = jnp.array([[1.0, -1.0]])
    x = jnp.array([[1.0, 1.0]])

    def loss(w):
        out = jax.nn.relu(x @ w.T).sum()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with kinkcheck.trace(backends="jax", probe=True):
            jax.grad(loss)(W)
    assert _patched_state() == before
    # relu'(0) is JAX's 0 again, and no replay runs
    assert jax.grad(lambda w: jax.nn.relu(x @ w.T).sum())(W).tolist() == [[0.0, 0.0]]


def test_an_op_without_an_alternative_is_said_so():
    x = jnp.array([3.0, 0.0, 3.0])
    with kinkcheck.trace(backends="jax", probe=1) as t:
        jax.grad(lambda v: jnp.max(v))(x)  # a reduction's tie: not probed
    (site,) = [s for s in jax_sites(t) if "reduce_max" in s["op"]]
    assert "no alternative subgradient" in site["probe"]["uncovered"]


def test_unprobed_steps_run_without_replays():
    W = jnp.array([[1.0, -1.0], [2.0, 0.5]])
    x = jnp.array([[1.0, 1.0], [0.5, 3.0]])
    step = jax.jit(jax.grad(lambda w: jax.nn.relu(x @ w.T).sum()))
    with kinkcheck.trace(backends="jax", probe=Probe(every=3)) as t:
        for _ in range(7):
            jax.block_until_ready(step(W))  # a loop that reads its loss: each step closes before the next
    rows = _probed(t)["steps"]
    assert [r[0] for r in rows] == [0, 3, 6]
    assert t.to_dict()["probe"]["steps"] == 3 and t.to_dict()["steps"] == 7


def test_show_prints_the_probe(tmp_path):
    from rich.console import Console

    from kinkcheck.trace.show import render

    W = jnp.array([[1.0, -1.0], [2.0, 0.5]])
    x = jnp.array([[1.0, 1.0], [0.5, 3.0]])
    out = tmp_path / "t.json"
    with kinkcheck.trace(backends="jax", probe=Probe(every=1), output=out):
        jax.jit(jax.grad(lambda w: jax.nn.relu(x @ w.T).sum()))(W)
    data = tracefile.load(out)
    (rec,) = [r for r in data.sites if r.probe is not None]
    assert rec.probe.probed == 1 and rec.probe.steps[0][:2] == (0, 1)
    console = Console(width=200, record=True)
    console.print(render(data))
    assert "1/1 steps sensitive" in console.export_text()
