"""Signed distance fields and penalty contact with regularised Coulomb friction."""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import jax
import jax.numpy as jnp

from clothsim.config import ContactConfig

SDF = Callable[[jnp.ndarray], jnp.ndarray]


def sphere_sdf(p, center, radius):
    return jnp.linalg.norm(p - center, axis=-1) - radius


def box_sdf(p, center, half_extents):
    q = jnp.abs(p - center) - half_extents
    outside = jnp.linalg.norm(jnp.maximum(q, 0.0), axis=-1)
    inside = jnp.minimum(jnp.max(q, axis=-1), 0.0)
    return outside + inside


def capsule_sdf(p, a, b, radius):
    pa, ba = p - a, b - a
    h = jnp.clip(jnp.sum(pa * ba, axis=-1) / jnp.dot(ba, ba), 0.0, 1.0)
    return jnp.linalg.norm(pa - h[..., None] * ba, axis=-1) - radius


def smooth_union(d1, d2, k: float = 0.02):
    """Log-sum-exp soft minimum of two distance fields."""
    return -k * jax.nn.logsumexp(jnp.stack([-d1 / k, -d2 / k]), axis=0)


def make_scene_sdf(shapes: Sequence[Dict], smooth: float = 0.0) -> SDF:
    """Combine primitive shapes, given as dicts with a ``type`` key, into one SDF."""

    def one(shape, p):
        kind = shape["type"]
        if kind == "sphere":
            return sphere_sdf(p, shape["center"], shape["radius"])
        if kind == "box":
            return box_sdf(p, shape["center"], shape["half_extents"])
        if kind == "capsule":
            return capsule_sdf(p, shape["a"], shape["b"], shape["radius"])
        raise ValueError(f"unknown shape type {kind!r}")

    def sdf(p):
        d = one(shapes[0], p)
        for shape in shapes[1:]:
            if smooth > 0:
                d = smooth_union(d, one(shape, p), smooth)
            else:
                d = jnp.minimum(d, one(shape, p))
        return d

    return sdf


def sdf_normal(sdf_fn: SDF, p):
    """Outward unit normals from the spatial gradient of the distance field."""
    g = jax.vmap(jax.grad(sdf_fn))(p)
    return g / jnp.linalg.norm(g, axis=-1, keepdims=True)


def penalty_energy(d, stiffness, thickness):
    """Quadratic barrier on the signed distance, zero outside the contact shell."""
    return 0.5 * stiffness * jnp.sum(jax.nn.relu(thickness - d) ** 2)


def contact_forces(x, v, sdf_fn: SDF, cfg: ContactConfig, friction):
    """Normal penalty force and friction for every vertex against a static SDF."""
    d = jax.vmap(sdf_fn)(x) - cfg.thickness
    normal = jax.lax.stop_gradient(sdf_normal(sdf_fn, x))
    if cfg.smooth_contact:
        depth = cfg.thickness * jax.nn.softplus(-d / cfg.thickness)
    else:
        depth = jnp.maximum(-d, 0.0)
    fn = cfg.stiffness * depth
    vn = jnp.sum(v * normal, axis=-1, keepdims=True)
    vt = v - vn * normal
    vt_norm = jnp.linalg.norm(vt, axis=-1, keepdims=True)
    stick = vt_norm / cfg.friction_regularization
    fric_mag = jnp.minimum(friction * fn[:, None], friction * fn[:, None] * stick)
    f_fric = -fric_mag * vt / (vt_norm + 1e-8)
    return fn[:, None] * normal + f_fric


def ground_contact(x, v, height, stiffness, friction):
    """Penalty contact with the plane y = height, with smoothed Coulomb friction."""
    pen = height - x[:, 1]
    fn = jnp.where(pen > 0.0, stiffness * pen, 0.0)
    vt = v.at[:, 1].set(0.0)
    speed = jnp.sqrt(jnp.sum(vt * vt, axis=-1) + 1e-10)
    ft = -friction * fn[:, None] * vt / speed[:, None]
    return ft.at[:, 1].add(fn)


def self_collision_energy(x, radius, stiffness, exclude):
    """Pairwise repulsion between vertices closer than ``radius``."""
    diff = x[:, None, :] - x[None, :, :]
    dist = jnp.sqrt(jnp.sum(diff * diff, axis=-1))
    overlap = jax.nn.relu(radius - dist)
    energy = jnp.where(exclude, 0.0, overlap**2)
    return 0.25 * stiffness * jnp.sum(energy)


def self_collision_forces(x, radius, stiffness, exclude):
    return -jax.grad(self_collision_energy)(x, radius, stiffness, exclude)
