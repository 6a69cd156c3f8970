"""The JAX backend under each transformation: eager, jit, grad, value_and_grad, vmap, scan,
while_loop and cond; every count lands on the user's line with the number of kink hits.
Forward-only calls count with ``only_differentiated=False`` (the default counts only what
is differentiated: tests/trace/test_jax_differentiated.py)."""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax_helpers import at, jax_sites, line_of  # noqa: E402

import kinkcheck  # noqa: E402

HERE = "test_jax_transforms.py"
X = jnp.array([0.0, 1.0, -2.0, 0.0])  # two exact zeros


def one(t, marker, code):
    sites = [s for s in at(t, HERE, line_of(__file__, marker)) if s["code"] == code]
    assert len(sites) == 1, jax_sites(t)
    return sites[0]


def test_the_issue_repro_counts_the_users_line_and_no_jax_internals():
    f = jax.jit(jax.grad(lambda x: (jnp.maximum(jnp.abs(x), 0.0) + jnp.sqrt(x * x)).sum()))  # repro
    with kinkcheck.trace(backends=("jax",)) as t:
        g = f(jnp.zeros(8))
    assert bool(jnp.isnan(g).all())  # sqrt'(0): the kink the trace explains
    sites = jax_sites(t)
    assert sorted((s["code"], s["op"]) for s in sites) == [("KC101", "lax.abs"), ("KC104", "lax.max"),
                                                          ("KC201", "lax.sqrt")]
    for s in sites:
        assert s["path"].endswith(HERE) and s["line"] == line_of(__file__, "repro")
        assert (s["evaluations"], s["exact"], s["near"]) == (8, 8, 0)
        assert s["per_step"] == [[0, 8, 8, 0]]  # a gradient program's call is one step
    assert not [s for s in t.to_dict()["sites"] if "jax/_src" in s["path"]]
    assert one(t, "repro", "KC101")["subgradient"] == {"framework": "jax", "value": "1"}
    # what JAX computes there, differentiated at the kink rather than quoted from the catalog
    assert [one(t, "repro", c)["observed"]["grad"] for c in ("KC101", "KC104", "KC201")] == [
        ["1"], ["0.5", "0.5"], ["inf"]]


@pytest.mark.slow
def test_the_default_backends_trace_jax_and_find_nothing_inside_jax():
    f = jax.jit(jax.grad(lambda x: (jnp.maximum(jnp.abs(x), 0.0) + jnp.sqrt(x * x)).sum()))  # default
    with kinkcheck.trace() as t:
        f(jnp.zeros(8))
    assert "jax" in t.backend_names
    sites = t.to_dict()["sites"]
    assert {(s["backend"], s["line"]) for s in sites} == {("jax", line_of(__file__, "default"))}
    assert len(sites) == 3


@pytest.mark.slow
def test_eager_ops_count_at_their_own_lines():
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jnp.abs(X)  # eager-a
        jnp.abs(X)  # eager-b
        jnp.maximum(X, 0.0)  # eager-c
    assert one(t, "eager-a", "KC101")["exact"] == 2
    assert one(t, "eager-b", "KC101")["exact"] == 2
    assert one(t, "eager-c", "KC104")["exact"] == 2


@pytest.mark.slow
def test_two_calls_of_one_jnp_function_in_a_jitted_function_are_two_sites():
    def two(a, b):
        p = jnp.abs(a)  # jit-a
        q = jnp.abs(b)  # jit-b
        return (p + q).sum()

    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(two)(X, jnp.zeros(4))
    assert one(t, "jit-a", "KC101")["exact"] == 2
    assert one(t, "jit-b", "KC101")["exact"] == 4


def loss(x):
    return jnp.abs(x).sum() + jnp.sqrt(x * x + 1.0).sum()  # grad-loss


@pytest.mark.parametrize("make", [jax.grad, jax.value_and_grad, lambda f: jax.jit(jax.grad(f)),
                                  lambda f: jax.jit(jax.value_and_grad(f))],
                         ids=["grad", "value_and_grad", "jit-grad", "jit-value_and_grad"])
@pytest.mark.slow
def test_grad_counts_the_forward_once(make):
    with kinkcheck.trace(backends="jax") as t:
        make(loss)(X)
    s = one(t, "grad-loss", "KC101")
    assert (s["evaluations"], s["exact"]) == (4, 2)  # the backward pass adds nothing
    assert one(t, "grad-loss", "KC201")["exact"] == 0  # sqrt(x * x + 1) never reaches 0


@pytest.mark.slow
def test_vmap_counts_the_whole_batch():
    f = jax.vmap(lambda v: jnp.max(jnp.abs(v)))  # vmap
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(f)(jnp.zeros((3, 4)))
        f(jnp.zeros((3, 4)))
    s = one(t, "vmap", "KC101")
    assert (s["evaluations"], s["exact"]) == (24, 24)
    tie = one(t, "vmap", "KC105")  # each row's max ties with 3 others
    assert (tie["evaluations"], tie["exact"]) == (6, 6)


@pytest.mark.slow
def test_scan_counts_every_iteration_in_the_program():
    def body(c, a):
        return c + jnp.sqrt(jnp.abs(a)), a  # scan-body

    f = jax.jit(jax.value_and_grad(lambda v: lax.scan(body, 0.0, v)[0]))
    with kinkcheck.trace(backends="jax") as t:
        f(X)
        f(X)
    s = one(t, "scan-body", "KC101")
    assert (s["evaluations"], s["exact"]) == (8, 4)
    assert s["per_step"] == [[0, 4, 2, 0], [1, 4, 2, 0]]


@pytest.mark.slow
def test_cond_counts_the_branch_taken_and_while_every_trip():
    def f(v, flag):
        a = lax.cond(flag, lambda u: jnp.abs(u), lambda u: jnp.sign(u), v)  # cond
        n, w = lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] + jnp.abs(c[1] * 0)), (0, v))  # while
        return a.sum() + w.sum()

    g = jax.jit(f)
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        g(X, True)
        g(X, True)
    taken = one(t, "cond", "KC101")
    assert (taken["evaluations"], taken["exact"]) == (8, 4)
    assert not [s for s in at(t, HERE, line_of(__file__, "cond")) if s["code"] == "KC301"]  # sign never ran
    assert one(t, "while", "KC101")["evaluations"] == 2 * 3 * 4


@pytest.mark.slow
def test_library_functions_count_as_their_rule_and_smooth_ones_not_at_all():
    def f(v):
        return (jax.nn.relu(v).sum() + jnp.clip(v, 0.0, 1.0).sum() + jnp.linalg.norm(v * 0)  # lib
                + jax.nn.log_softmax(v).sum() + jnp.mean(v))

    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(f)(X)
    codes = sorted((s["code"], s["op"]) for s in at(t, HERE, line_of(__file__, "lib")))
    assert codes == [("KC102", "lax.max"), ("KC103", "lax.max"), ("KC103", "lax.min"), ("KC203", "lax.sqrt")]
    assert one(t, "lib", "KC102")["exact"] == 2
    observed = {(s["code"], s["op"]): s.get("observed", {}).get("grad") for s in at(t, HERE, line_of(__file__, "lib"))}
    assert observed == {("KC102", "lax.max"): ["0"], ("KC103", "lax.max"): ["0.5"], ("KC103", "lax.min"): ["0.5"],
                        ("KC203", "lax.sqrt"): ["nan", "nan"]}  # relu'(0) = 0; a clip bound 0.5; a norm at 0 nan


@pytest.mark.slow
def test_near_hits_and_their_decades():
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(lambda v: jnp.abs(v))(jnp.array([1e-20, 0.0, 1.0]))  # near
    s = one(t, "near", "KC101")
    assert (s["exact"], s["near"]) == (1, 1)
    assert s["histogram"] == {"exact": 1, "-20": 1}


@pytest.mark.slow
def test_near_follows_each_rules_scale():
    from kinkcheck import catalog

    if not hasattr(catalog.Runtime, "near"):
        pytest.skip("this catalog has no per-rule near scales")
    rules = catalog.load()
    assert rules["KC104"].runtime.near == "element" and rules["KC205"].runtime.near == "own"
    a = jnp.array([1.0, 1.0, 1000.0])
    b = jnp.array([1.0 + 1.2e-7, 1.0 + 1e-5, 2000.0])  # one ulp apart; 84 ulps apart; far apart
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(lambda u, v: jnp.maximum(u, v))(a, b)  # element
        jax.jit(lambda u, v: u / v)(b, jnp.array([1e-7, 2.0, 3.0]))  # own
    tie = one(t, "element", "KC104")
    assert (tie["exact"], tie["near"]) == (0, 1)  # at the tensor's scale (2000) the second would be near too
    div = one(t, "own", "KC205")
    assert (div["exact"], div["near"]) == (0, 0)  # 1e-7 is a normal number: a guard's floor, not a kink


def test_many_near_hits_keep_the_histogram_summing_to_the_near_count():
    v = jnp.concatenate([jnp.full(40, 1e-20), jnp.full(10, 1e-10), jnp.ones(1)])
    with kinkcheck.trace(backends="jax", only_differentiated=False) as t:
        jax.jit(lambda u: jnp.abs(u))(v)  # many-near
    s = one(t, "many-near", "KC101")
    assert s["near"] == 50
    hist = {k: n for k, n in s["histogram"].items() if k != "exact"}
    assert sum(hist.values()) == 50
    assert hist["-20"] >= 32  # the 32 nearest are binned exactly; the rest at or beyond them
