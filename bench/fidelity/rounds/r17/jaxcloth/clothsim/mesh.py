"""Topology and rest-state quantities of a rectangular cloth grid.

Everything here is computed once from the rest configuration and is treated as a
constant by the simulator.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from clothsim.config import ClothConfig

STRETCH, SHEAR, BEND = 0, 1, 2


class ClothMesh(NamedTuple):
    rest_positions: jnp.ndarray  # (V, 3)
    springs: jnp.ndarray  # (S, 2) int32
    spring_kind: jnp.ndarray  # (S,) int32 in {STRETCH, SHEAR, BEND}
    rest_lengths: jnp.ndarray  # (S,)
    triangles: jnp.ndarray  # (T, 3) int32
    hinges: jnp.ndarray  # (H, 4) int32: shared edge (0, 1), opposite vertices (2, 3)
    rest_angles: jnp.ndarray  # (H,)
    masses: jnp.ndarray  # (V,)
    inv_degree: jnp.ndarray  # (V,)
    pinned: jnp.ndarray  # (V,) bool
    collision_exclude: jnp.ndarray  # (V, V) bool


def _vid(r: int, c: int, cols: int) -> int:
    return r * cols + c


def grid_vertices(cfg: ClothConfig) -> np.ndarray:
    """Vertices of a horizontal sheet centred at the origin, in the x-z plane."""
    dx, dz = cfg.spacing
    u = np.arange(cfg.cols) * dx - 0.5 * cfg.width
    w = np.arange(cfg.rows) * dz - 0.5 * cfg.height
    uu, ww = np.meshgrid(u, w)
    pos = np.stack([uu, np.zeros_like(uu), ww], axis=-1)
    return pos.reshape(-1, 3).astype(np.float32)


def build_springs(rows: int, cols: int):
    pairs, kinds = [], []
    for r in range(rows):
        for c in range(cols):
            i = _vid(r, c, cols)
            if c + 1 < cols:
                pairs.append((i, _vid(r, c + 1, cols)))
                kinds.append(STRETCH)
            if r + 1 < rows:
                pairs.append((i, _vid(r + 1, c, cols)))
                kinds.append(STRETCH)
            if r + 1 < rows and c + 1 < cols:
                pairs.append((i, _vid(r + 1, c + 1, cols)))
                pairs.append((_vid(r, c + 1, cols), _vid(r + 1, c, cols)))
                kinds.extend([SHEAR, SHEAR])
            if c + 2 < cols:
                pairs.append((i, _vid(r, c + 2, cols)))
                kinds.append(BEND)
            if r + 2 < rows:
                pairs.append((i, _vid(r + 2, c, cols)))
                kinds.append(BEND)
    return np.asarray(pairs, dtype=np.int32), np.asarray(kinds, dtype=np.int32)


def build_triangles(rows: int, cols: int) -> np.ndarray:
    tris = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a, b = _vid(r, c, cols), _vid(r, c + 1, cols)
            d, e = _vid(r + 1, c, cols), _vid(r + 1, c + 1, cols)
            tris.append((a, b, e))
            tris.append((a, e, d))
    return np.asarray(tris, dtype=np.int32)


def build_hinges(triangles: np.ndarray) -> np.ndarray:
    """Pairs of triangles sharing an interior edge."""
    first_opposite = {}
    hinges = []
    for tri in triangles:
        for k in range(3):
            edge = tuple(sorted((int(tri[k]), int(tri[(k + 1) % 3]))))
            opposite = int(tri[(k + 2) % 3])
            if edge in first_opposite:
                hinges.append((edge[0], edge[1], first_opposite[edge], opposite))
            else:
                first_opposite[edge] = opposite
    return np.asarray(hinges, dtype=np.int32).reshape(-1, 4)


def rest_lengths(positions, springs) -> jnp.ndarray:
    d = positions[springs[:, 1]] - positions[springs[:, 0]]
    return jnp.linalg.norm(d, axis=-1)


def lumped_masses(positions, triangles, density: float) -> jnp.ndarray:
    """Each triangle gives a third of its mass to each of its vertices."""
    e1 = positions[triangles[:, 1]] - positions[triangles[:, 0]]
    e2 = positions[triangles[:, 2]] - positions[triangles[:, 0]]
    area = 0.5 * jnp.linalg.norm(jnp.cross(e1, e2), axis=-1)
    share = jnp.repeat(area * density / 3.0, 3)
    return jnp.zeros(positions.shape[0]).at[triangles.reshape(-1)].add(share)


def vertex_inv_degree(springs, num_vertices: int) -> jnp.ndarray:
    degree = jnp.bincount(springs.reshape(-1), length=num_vertices)
    return 1.0 / jnp.maximum(degree, 1)


def corner_pins(positions: np.ndarray) -> np.ndarray:
    """Pin the two corners of the far edge, like a cloth hung from two clips."""
    x, z = positions[:, 0], positions[:, 2]
    tol = 1e-6
    far_edge = z >= z.max() - tol
    left = x <= x.min() + tol
    right = x >= x.max() - tol
    return far_edge & (left | right)


def collision_exclusion(springs, num_vertices: int) -> jnp.ndarray:
    """Vertex pairs that never collide: each vertex with itself and its spring neighbours."""
    excl = jnp.eye(num_vertices, dtype=bool)
    excl = excl.at[springs[:, 0], springs[:, 1]].set(True)
    return excl.at[springs[:, 1], springs[:, 0]].set(True)


def build_mesh(cfg: ClothConfig) -> ClothMesh:
    pos_np = grid_vertices(cfg)
    springs_np, kinds_np = build_springs(cfg.rows, cfg.cols)
    tris_np = build_triangles(cfg.rows, cfg.cols)
    hinges_np = build_hinges(tris_np)
    pos = jnp.asarray(pos_np)
    springs = jnp.asarray(springs_np)
    if cfg.pin_corners:
        pinned = jnp.asarray(corner_pins(pos_np))
    else:
        pinned = jnp.zeros(pos.shape[0], dtype=bool)
    return ClothMesh(
        rest_positions=pos,
        springs=springs,
        spring_kind=jnp.asarray(kinds_np),
        rest_lengths=rest_lengths(pos, springs),
        triangles=jnp.asarray(tris_np),
        hinges=jnp.asarray(hinges_np),
        rest_angles=jnp.zeros(hinges_np.shape[0]),
        masses=lumped_masses(pos, jnp.asarray(tris_np), cfg.density),
        inv_degree=vertex_inv_degree(springs, pos.shape[0]),
        pinned=pinned,
        collision_exclude=collision_exclusion(springs, pos.shape[0]),
    )
