"""The subgradient each rule claims is what the installed torch and jax really return at the
kink: `expr` is differentiated at `at` (float64) and compared with `grad` (nan == nan,
inf == inf). Entries without `expr` are text only (gradient cut, integer outputs, an error)
and are skipped here; the torch heaviside error is checked on its own below."""

from __future__ import annotations

import math

import pytest

from kinkcheck import catalog

CAT = catalog.load()
CASES = [(r.code, s) for r in CAT.values() for s in r.subgradients if s.expr]


def same(a: float, b: float) -> bool:
    if math.isnan(b):
        return math.isnan(a)
    return a == b


def torch_grad(expr: str, at: dict) -> dict:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    xs = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in at.items()}
    out = eval(expr, {"torch": torch, "F": F}, dict(xs))  # noqa: S307 - catalog data, written by us
    grads = torch.autograd.grad(out, list(xs.values()), allow_unused=True)
    return {k: (0.0 if g is None else g.item()) for k, g in zip(xs, grads)}


def jax_grad(expr: str, at: dict) -> dict:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)  # float64 like the torch side; restored below
    try:
        names = list(at)
        fn = eval(f"lambda {', '.join(names)}: {expr}", {"jax": jax, "jnp": jnp})  # noqa: S307
        grads = jax.grad(fn, argnums=tuple(range(len(names))))(*[jnp.float64(at[n]) for n in names])
        return {n: float(g) for n, g in zip(names, grads)}
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("code,sub", CASES, ids=[f"{c}-{s.framework}" for c, s in CASES])
def test_subgradient_matches_installed_framework(code, sub):
    compute = {"torch": torch_grad, "jax": jax_grad}[sub.framework]
    got = compute(sub.expr, dict(sub.at))
    assert set(got) == set(sub.grad), f"{code}: grad keys {sorted(sub.grad)} vs variables {sorted(got)}"
    assert all(same(got[k], float(sub.grad[k])) for k in got), f"{code} {sub.framework}: measured {got}, catalog says {dict(sub.grad)}"


def test_torch_heaviside_has_no_backward_as_the_catalog_says():
    torch = pytest.importorskip("torch")
    assert "not implemented" in CAT["KC305"].subgradient("torch").value
    x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="not implemented"):
        torch.heaviside(x, torch.tensor(0.5, dtype=torch.float64)).backward()


def test_torch_floor_divide_has_no_backward_as_the_catalog_says():
    torch = pytest.importorskip("torch")
    assert "not implemented" in CAT["KC302"].subgradient("torch").value
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="not implemented"):
        (x // 1.0).backward()


@pytest.mark.parametrize(
    "expr,at,grad",
    [
        # the frameworks disagree at the same kink: the texts in the catalog say so
        ("F.hardtanh(x)", {"x": 1.0}, {"x": 0.0}),          # KC103: hardtanh bound 0, clamp bound 1
        ("F.relu6(x)", {"x": 6.0}, {"x": 0.0}),
        ("torch.clamp_min(x, 0.0)", {"x": 0.0}, {"x": 1.0}),
        ("F.leaky_relu(x, 0.1)", {"x": 0.0}, {"x": 0.1}),   # KC102: negative slope at 0
        ("torch.fmax(x, y)", {"x": 1.0, "y": 1.0}, {"x": 1.0, "y": 0.0}),
        ("torch.stack([x, y]).max(0).values", {"x": 1.0, "y": 1.0}, {"x": 1.0, "y": 0.0}),  # max(dim) by index
        ("torch.rsqrt(x)", {"x": 0.0}, {"x": -math.inf}),
        ("torch.pow(x, -1.0)", {"x": 0.0}, {"x": -math.inf}),
    ],
)
def test_torch_values_quoted_in_rule_texts(expr, at, grad):
    assert torch_grad(expr, at) == grad


@pytest.mark.parametrize(
    "expr,at,grad",
    [
        ("jax.lax.clamp(0.0, x, 1.0)", {"x": 1.0}, {"x": 0.0}),
        ("jax.nn.hard_tanh(x)", {"x": 1.0}, {"x": 1.0}),
        ("jax.nn.leaky_relu(x, 0.1)", {"x": 0.0}, {"x": 1.0}),
        ("jnp.maximum(x, 0.0)", {"x": 0.0}, {"x": 0.5}),
        ("jnp.fmax(x, y)", {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}),
        ("jnp.angle(x)", {"x": 0.0}, {"x": math.nan}),
    ],
)
def test_jax_values_quoted_in_rule_texts(expr, at, grad):
    got = jax_grad(expr, at)
    assert all(same(got[k], grad[k]) for k in grad), got
