"""Internal forces of the mass-spring cloth model.

Stretch and shear springs are linear in the length change with Rayleigh-style damping
along the spring direction.  Bending uses dihedral angles on interior edges
(Bridson et al. 2003) through the gradient of a bending energy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-9


def material_stiffness(params, spring_kind) -> jnp.ndarray:
    """Per-spring stiffness from log-space material parameters."""
    log_k = jnp.stack([params["log_stretch"], params["log_shear"], params["log_bend_spring"]])
    return jnp.exp(log_k)[spring_kind]


def spring_vectors(x, springs) -> jnp.ndarray:
    return x[springs[:, 1]] - x[springs[:, 0]]


def spring_forces(x, v, springs, rest, stiffness, damping) -> jnp.ndarray:
    """Hooke forces plus damping of the relative velocity along each spring."""
    d = spring_vectors(x, springs)
    length = jnp.linalg.norm(d, axis=-1)
    direction = d / length[:, None]
    stretch = length - rest
    dv = v[springs[:, 1]] - v[springs[:, 0]]
    rel_speed = jnp.sum(dv * direction, axis=-1)
    magnitude = stiffness * stretch + damping * rel_speed
    f = magnitude[:, None] * direction
    forces = jnp.zeros_like(x).at[springs[:, 0]].add(f)
    return forces.at[springs[:, 1]].add(-f)


def spring_energy(x, springs, rest, stiffness) -> jnp.ndarray:
    d = spring_vectors(x, springs)
    length = jnp.sqrt(jnp.sum(d * d, axis=-1) + EPS)
    strain = length / rest - 1.0
    return 0.5 * jnp.sum(stiffness * rest * strain**2)


def strain_limit(x, springs, rest, max_strain, inv_degree) -> jnp.ndarray:
    """One Jacobi sweep of position-based strain limiting (Provot 1995)."""
    d = spring_vectors(x, springs)
    length = jnp.sqrt(jnp.sum(d * d, axis=-1) + EPS)
    target = jnp.clip(length, rest * (1.0 - max_strain), rest * (1.0 + max_strain))
    corr = 0.5 * (1.0 - target / length)[:, None] * d
    dx = jnp.zeros_like(x).at[springs[:, 0]].add(corr)
    dx = dx.at[springs[:, 1]].add(-corr)
    return x + dx * inv_degree[:, None]


def triangle_normals(x, triangles) -> jnp.ndarray:
    e1 = x[triangles[:, 1]] - x[triangles[:, 0]]
    e2 = x[triangles[:, 2]] - x[triangles[:, 0]]
    n = jnp.cross(e1, e2)
    return n / (jnp.linalg.norm(n, axis=-1, keepdims=True) + EPS)


def triangle_areas(x, triangles) -> jnp.ndarray:
    e1 = x[triangles[:, 1]] - x[triangles[:, 0]]
    e2 = x[triangles[:, 2]] - x[triangles[:, 0]]
    cr = jnp.cross(e1, e2)
    return 0.5 * jnp.sqrt(jnp.sum(cr * cr, axis=-1) + EPS)


def dihedral_angles(x, hinges) -> jnp.ndarray:
    """Signed dihedral angle across each interior edge; zero for a flat sheet."""
    x0, x1, x2, x3 = (x[hinges[:, i]] for i in range(4))
    e = x1 - x0
    n1 = jnp.cross(e, x2 - x0)
    n2 = jnp.cross(x3 - x0, e)
    n1 = n1 / jnp.linalg.norm(n1, axis=-1, keepdims=True)
    n2 = n2 / jnp.linalg.norm(n2, axis=-1, keepdims=True)
    cos = jnp.clip(jnp.sum(n1 * n2, axis=-1), -1.0, 1.0)
    e_hat = e / jnp.sqrt(jnp.sum(e * e, axis=-1, keepdims=True) + EPS)
    sin = jnp.sum(jnp.cross(n1, n2) * e_hat, axis=-1)
    return jnp.sign(sin) * jnp.arccos(cos)


def bending_energy(x, hinges, rest_angles, k_bend) -> jnp.ndarray:
    theta = dihedral_angles(x, hinges)
    return 0.5 * k_bend * jnp.sum((theta - rest_angles) ** 2)


def bending_forces(x, hinges, rest_angles, k_bend) -> jnp.ndarray:
    return -jax.grad(bending_energy)(x, hinges, rest_angles, k_bend)


def internal_energy(x, mesh, params) -> jnp.ndarray:
    """Elastic energy of the cloth, used for energy-based diagnostics and losses."""
    k = material_stiffness(params, mesh.spring_kind)
    e = spring_energy(x, mesh.springs, mesh.rest_lengths, k)
    k_bend = jnp.exp(params["log_bend"])
    return e + bending_energy(x, mesh.hinges, mesh.rest_angles, k_bend)
