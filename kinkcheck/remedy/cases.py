"""The inputs the harness (:mod:`kinkcheck.remedy.prove`) runs every remedy on: per rule, the
original expressions in torch, JAX and NumPy spelling, and a generator of inputs away from
the kink (at least :data:`AWAY` from it, where a remedy's stated error must hold) and at
the kink (where its gradient must be finite).

Inputs are NumPy float32 arrays named ``a``, ``b``, ``c``, ``d``; the harness turns them
into the framework's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: how far from the kink "away" inputs are: a remedy's ``error`` holds there
AWAY = 0.5
SHAPE = (6, 5)

Gen = Callable[[np.random.Generator, str], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Case:
    code: str
    exprs: dict[str, tuple[str, ...]]  # framework -> original expressions
    inputs: Gen


def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _away_from(points, rng, shape=SHAPE, lo=-4.0, hi=4.0) -> np.ndarray:
    """Uniform values in [lo, hi] at least AWAY from every point in ``points``."""
    out = rng.uniform(lo, hi, size=shape)
    for _ in range(100):
        bad = np.zeros(shape, bool)
        for p in points:
            bad |= np.abs(out - p) < AWAY
        if not bad.any():
            break
        out[bad] = rng.uniform(lo, hi, size=int(bad.sum()))
    return _f32(out)


def _at(points, rng, shape=SHAPE, lo=-4.0, hi=4.0) -> np.ndarray:
    """Half the elements exactly at a kink point, the rest anywhere in [lo, hi]."""
    out = rng.uniform(lo, hi, size=shape)
    mask = rng.uniform(size=shape) < 0.5
    out[mask] = rng.choice(np.asarray(points, dtype=float), size=int(mask.sum()))
    return _f32(out)


def one(points, lo=-4.0, hi=4.0) -> Gen:
    """One input ``a`` with kinks at ``points``."""
    def gen(rng, where):
        make = _away_from if where == "away" else _at
        return {"a": make(points, rng, lo=lo, hi=hi)}
    return gen


def tie() -> Gen:
    """Two inputs ``a``, ``b``: apart by at least AWAY, or equal in half the elements."""
    def gen(rng, where):
        a = rng.uniform(-4, 4, size=SHAPE)
        if where == "away":
            b = a + rng.choice([-1, 1], size=SHAPE) * rng.uniform(AWAY, 3, size=SHAPE)
        else:
            b = np.where(rng.uniform(size=SHAPE) < 0.5, a, rng.uniform(-4, 4, size=SHAPE))
        return {"a": _f32(a), "b": _f32(b)}
    return gen


def ratio() -> Gen:
    """A numerator ``a`` anywhere and a non-negative denominator ``b`` (0 at the kink)."""
    def gen(rng, where):
        a = rng.uniform(-4, 4, size=SHAPE)
        b = one([0.0], lo=0.0, hi=4.0)(rng, where)["a"]
        return {"a": _f32(a), "b": b}
    return gen


def rows() -> Gen:
    """A matrix ``a`` whose rows are all far from 0, or half of them exactly 0; ``b`` any."""
    def gen(rng, where):
        a = rng.uniform(-4, 4, size=SHAPE)
        a[np.linalg.norm(a, axis=1) < 1] += 1
        if where == "kink":
            a[::2] = 0.0
        return {"a": _f32(a), "b": _f32(rng.uniform(-4, 4, size=SHAPE))}
    return gen


def rows_constant() -> Gen:
    """A matrix ``a`` whose columns and rows vary by at least AWAY, or with constant rows
    and columns at the kink (a std of 0)."""
    def gen(rng, where):
        a = rng.uniform(-4, 4, size=SHAPE)
        a += np.arange(SHAPE[1]) * 1.5 + np.arange(SHAPE[0])[:, None] * 1.1
        if where == "kink":
            a[::2] = 1.0
            a[:, 0] = 2.0
        return {"a": _f32(a)}
    return gen


def spread() -> Gen:
    """Distinct values at least AWAY apart in every row and column, or ties of the row
    maximum and minimum at the kink."""
    def gen(rng, where):
        n = SHAPE[0] * SHAPE[1]
        a = rng.permutation(n).reshape(SHAPE) * AWAY - n * AWAY / 2
        if where == "kink":
            a[:, 1] = a.max(axis=1)
            a[:, 2] = a.min(axis=1)
        return {"a": _f32(a)}
    return gen


def angle() -> Gen:
    def gen(rng, where):
        a, b = rng.uniform(-4, 4, size=SHAPE), rng.uniform(-4, 4, size=SHAPE)
        if where == "away":
            r = np.hypot(a, b)
            a, b = np.where(r < AWAY, a + 1, a), np.where(r < AWAY, b + 1, b)
        else:
            mask = rng.uniform(size=SHAPE) < 0.5
            a, b = np.where(mask, 0.0, a), np.where(mask, 0.0, b)
        return {"a": _f32(a), "b": _f32(b)}
    return gen


def logits() -> Gen:
    """``a`` positive (log's domain); ``b`` logits, spread by 200 at the kink so that a
    softmax or sigmoid of them underflows to 0."""
    def gen(rng, where):
        a = one([0.0], lo=0.0, hi=4.0)(rng, where)["a"]
        b = rng.uniform(-3, 3, size=SHAPE)
        if where == "kink":
            b[:, 0] = -200.0
        return {"a": a, "b": _f32(b)}
    return gen


def branch() -> Gen:
    """A 0-d condition ``c`` (AWAY from 0, or 0) and two values ``a``, ``b``."""
    def gen(rng, where):
        c = rng.choice([-1, 1]) * rng.uniform(AWAY, 2) if where == "away" else 0.0
        return {"a": _f32(rng.uniform(-2, 2, size=SHAPE)), "b": _f32(rng.uniform(-2, 2, size=SHAPE)),
                "c": _f32(c)}
    return gen


def select() -> Gen:
    """``where(c > d, a, b)``: c and d apart by AWAY, or equal in half the elements."""
    def gen(rng, where):
        t = tie()(rng, where)
        return {"a": _f32(rng.uniform(-2, 2, size=SHAPE)), "b": _f32(rng.uniform(-2, 2, size=SHAPE)),
                "c": t["a"], "d": t["b"]}
    return gen


def pools() -> Gen:
    def gen(rng, where):
        a = rng.uniform(-4, 4, size=(1, 2, 4, 4))
        if where == "kink":
            a[..., :2, :2] = 1.0
        return {"a": _f32(a)}
    return gen


def rank() -> Gen:
    """A matrix ``a`` whose singular values are all at least AWAY, or whose smallest is 0."""
    def gen(rng, where):
        u, s, vt = np.linalg.svd(rng.uniform(-4.0, 4.0, size=SHAPE), full_matrices=False)
        s = np.maximum(s, AWAY) if where == "away" else np.concatenate([s[:-1], [0.0]])
        return {"a": _f32((u * s) @ vt)}
    return gen


def _all(torch=(), jax=(), numpy=()) -> dict[str, tuple[str, ...]]:
    return {"torch": tuple(torch), "jax": tuple(jax), "numpy": tuple(numpy)}


CASES: tuple[Case, ...] = (
    Case("KC101", _all(["torch.abs(a - b)", "(a - b).abs()"], ["jnp.abs(a - b)"], ["np.abs(a - b)"]), tie()),
    Case("KC102", _all(["torch.relu(a)", "F.relu(a)", "F.leaky_relu(a, 0.1)", "F.leaky_relu(a, negative_slope=0.2)"],
                       ["jax.nn.relu(a)", "jax.nn.leaky_relu(a, 0.1)"]), one([0.0])),
    Case("KC103", _all(["torch.clamp(a, -1.0, 1.0)", "F.hardtanh(a)"], ["jnp.clip(a, -1.0, 1.0)"],
                       ["np.clip(a, -1.0, 1.0)"]), one([-1.0, 1.0])),
    Case("KC103", _all(["a.clamp(min=0.0)"], ["jnp.clip(a, 0.0, None)"], ["np.clip(a, 0.0, None)"]), one([0.0])),
    Case("KC103", _all(["a.clamp(max=0.5)"], ["jnp.clip(a, None, 0.5)"], ["np.clip(a, None, 0.5)"]), one([0.5])),
    Case("KC103", _all(["a.clamp_min(0.1)"]), one([0.1])),
    Case("KC103", _all(["F.relu6(a)"]), one([0.0, 6.0], lo=-8.0, hi=8.0)),
    Case("KC104", _all(["torch.maximum(a, b)", "torch.minimum(a, b)", "a.maximum(b)", "torch.fmin(a, b)"],
                       ["jnp.maximum(a, b)", "jnp.minimum(a, b)"], ["np.maximum(a, b)", "np.fmin(a, b)"]), tie()),
    Case("KC105", _all(["torch.amax(a, dim=1)", "a.amax(1, keepdim=True)", "torch.amin(a, dim=-1)", "a.max()",
                        "torch.min(a)", "a.max(dim=1).values", "torch.min(a, -1, keepdim=True)[0]"],
                       ["jnp.max(a, axis=1)", "jnp.min(a, axis=0, keepdims=True)", "jnp.max(a)", "jnp.min(a)"],
                       ["np.max(a, axis=1)", "np.amin(a)", "np.min(a, axis=0, keepdims=True)", "np.max(a)"]),
         spread()),
    Case("KC106", _all(["F.max_pool2d(a, 2)"]), pools()),
    Case("KC201", _all(["torch.sqrt(a)", "a.sqrt()"], ["jnp.sqrt(a)"], ["np.sqrt(a)"]), one([0.0], lo=0.0)),
    Case("KC201", _all(["a.std(0)", "torch.std(a, dim=1, keepdim=True)", "a.std(dim=1, correction=0)"],
                       ["jnp.std(a, axis=0)"], ["np.std(a, axis=1)"]), rows_constant()),
    Case("KC202", _all(["a ** 0.5", "torch.pow(a, 0.25)", "a.pow(0.5)"], ["a ** 0.5", "jnp.power(a, 0.25)"],
                       ["a ** 0.5", "np.power(a, 0.25)"]), one([0.0], lo=0.0)),
    Case("KC203", _all(["torch.norm(a, dim=1)", "a.norm(dim=-1, keepdim=True)", "torch.linalg.vector_norm(a, dim=1)",
                        "a.norm()"],
                       ["jnp.linalg.norm(a, axis=1)", "jnp.linalg.norm(a)"],
                       ["np.linalg.norm(a, axis=1)", "np.linalg.norm(a)"]), rows()),
    Case("KC204", _all(["torch.log(a)", "a.log()", "torch.log(torch.softmax(b, dim=-1))", "torch.log(torch.sigmoid(b))"],
                       ["jnp.log(a)", "jnp.log(jax.nn.softmax(b, axis=-1))", "jnp.log(jax.nn.sigmoid(b))"],
                       ["np.log(a)"]), logits()),
    Case("KC205", _all(["a / b", "torch.div(a, b)", "torch.reciprocal(b)", "b.reciprocal()", "a / (b + 1e-8)"],
                       ["a / b", "jnp.reciprocal(b)"], ["a / b", "np.reciprocal(b)"]), ratio()),
    Case("KC206", _all(["torch.acos(a)", "a.arccos()", "torch.asin(a)"], ["jnp.arccos(a)", "jnp.arcsin(a)"],
                       ["np.arccos(a)", "np.arcsin(a)"]), one([-1.0, 1.0], lo=-1.0, hi=1.0)),
    Case("KC207", _all(["torch.atan2(a, b)", "a.atan2(b)"], ["jnp.arctan2(a, b)"], ["np.arctan2(a, b)"]), angle()),
    Case("KC208", _all(["torch.linalg.svdvals(a)"], ["jnp.linalg.svdvals(a)"], ["np.linalg.svdvals(a)"]), rank()),
    Case("KC301", _all(["torch.sign(a)", "a.sign()"], ["jnp.sign(a)"], ["np.sign(a)"]), one([0.0])),
    Case("KC302", _all(["torch.round(a)", "torch.floor(a)", "a.ceil()"], ["jnp.round(a)", "jnp.floor(a)"],
                       ["np.round(a)", "np.floor(a)"]), one([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -2.0, -1.0, 0.0, 1.0, 2.0])),
    Case("KC303", _all(["a.argmax(-1)", "torch.argmax(a, dim=-1)"]), spread()),
    Case("KC304", _all(["a > b", "a <= b"], ["a > b"], ["a > b"]), tie()),
    Case("KC305", _all(["torch.heaviside(a, torch.tensor(0.5))"], ["jnp.heaviside(a, 0.5)"], ["np.heaviside(a, 0.5)"]),
         one([0.0])),
    Case("KC401", _all(["a if c > 0.0 else b", "a if c < 0.0 else b * 2"], ["a if c > 0.0 else b"],
                       ["a if c > 0.0 else b"]), branch()),
    Case("KC402", _all(["torch.where(c > d, a, b)"], ["jnp.where(c > d, a, b)"], ["np.where(c > d, a, b)"]), select()),
    Case("KC501", _all(["a.sum().item()"], ["a.sum().item()"]), one([0.0])),
    Case("KC502", _all(["a.numpy()"]), one([0.0])),
    Case("KC503", _all(["a.detach()"], ["jax.lax.stop_gradient(a)"]), one([0.0])),
    Case("KC504", _all(["float(a.sum())"], ["float(a.sum())"]), one([0.0])),
    Case("KC507", _all(["torch.tensor(a * 2.0)"]), one([0.0])),
    Case("KC209", _all(["torch.special.entr(a)"], ["jax.scipy.special.entr(a)"]), one([0.0], lo=0.0)),
    Case("KC901", _all(["a.clamp_min(1e-8)", "torch.clamp(a, min=1e-6)"], ["jnp.clip(a, 1e-6)"],
                       ["np.clip(a, 1e-6, None)"]), one([0.0], lo=0.0)),
)
