"""Objectives that compare simulated cloth with observations for system identification.

Observations are either tracked vertices (with per-frame visibility) or unordered
point clouds from a depth camera; both may be sampled at times that do not coincide
with simulation frames.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from clothsim.config import SysIdConfig
from clothsim.contact import penalty_energy
from clothsim.springs import triangle_areas, triangle_normals


def reduce_loss(x, reduction: str):
    if reduction == "mean":
        return jnp.mean(x)
    if reduction == "sum":
        return jnp.sum(x)
    if reduction == "none":
        return x
    raise ValueError(f"unknown reduction {reduction!r}")


def sample_trajectory(traj, times, dt: float):
    """Linearly interpolate a (T, V, 3) trajectory at continuous ``times`` (seconds)."""
    s = times / dt
    i0 = jnp.floor(s)
    alpha = (s - lax.stop_gradient(i0))[:, None, None]
    idx = jnp.clip(i0.astype(jnp.int32), 0, traj.shape[0] - 2)
    return traj[idx] * (1.0 - alpha) + traj[idx + 1] * alpha


def frame_indices(times, dt: float):
    """Nearest simulation frame for each observation time."""
    return jnp.round(times / dt).astype(jnp.int32)


def huber(residual, delta: float):
    a = jnp.abs(residual)
    quadratic = 0.5 * a**2
    linear = delta * (a - 0.5 * delta)
    return jnp.where(a <= delta, quadratic, linear)


def pairwise_sq_dists(a, b):
    aa = jnp.sum(a * a, axis=-1)[:, None]
    bb = jnp.sum(b * b, axis=-1)[None, :]
    return jnp.maximum(aa + bb - 2.0 * a @ b.T, 0.0)


def chamfer_distance(pred, obs, obs_mask=None, squared: bool = True):
    """Symmetric chamfer distance between simulated vertices and an observed point cloud."""
    d2 = pairwise_sq_dists(pred, obs)
    if not squared:
        d2 = jnp.sqrt(d2)
    if obs_mask is None:
        obs_mask = jnp.ones(obs.shape[0], dtype=bool)
    d2 = jnp.where(obs_mask[None, :], d2, jnp.inf)
    fwd = jnp.mean(jnp.min(d2, axis=1))
    bwd_all = jnp.min(d2, axis=0)
    bwd = jnp.sum(jnp.where(obs_mask, bwd_all, 0.0)) / jnp.maximum(jnp.sum(obs_mask), 1)
    return fwd + bwd


def hausdorff_distance(pred, obs):
    d2 = pairwise_sq_dists(pred, obs)
    fwd = jnp.max(jnp.min(d2, axis=1))
    bwd = jnp.max(jnp.min(d2, axis=0))
    return jnp.sqrt(jnp.maximum(fwd, bwd) + 1e-12)


def nearest_point_loss(pred, obs):
    """One-sided registration loss with hard nearest-neighbour correspondences."""
    idx = jnp.argmin(pairwise_sq_dists(pred, obs), axis=1)
    target = obs[idx]
    return jnp.mean(jnp.sum((pred - target) ** 2, axis=-1))


class TrajectoryLoss:
    """Masked position error between simulated and tracked vertices.

    ``pred`` and ``obs`` are (T, V, 3); ``visibility`` is a (T, V) confidence from the
    tracker in [0, 1].
    """

    def __init__(self, cfg: SysIdConfig, visibility_threshold: float = 0.5):
        self.cfg = cfg
        self.visibility_threshold = visibility_threshold

    def residuals(self, pred, obs):
        return jnp.sum((pred - obs) ** 2, axis=-1)

    def __call__(self, pred, obs, visibility):
        err = self.residuals(pred, obs)
        w = (visibility > self.visibility_threshold).astype(err.dtype)
        if self.cfg.robust_delta > 0:
            err = huber(jnp.sqrt(err + 1e-12), self.cfg.robust_delta)
        if self.cfg.worst_k > 0:
            per_vertex = jnp.sum(err * w, axis=0) / jnp.maximum(jnp.sum(w, axis=0), 1.0)
            worst, _ = lax.top_k(per_vertex, self.cfg.worst_k)
            return jnp.mean(worst)
        if self.cfg.reduction == "mean":
            return jnp.sum(err * w) / jnp.maximum(jnp.sum(w), 1.0)
        return reduce_loss(err * w, self.cfg.reduction)


def l1_position_loss(pred, obs):
    return jnp.mean(jnp.abs(pred - obs))


def noise_nll(residual_sq, noise_std):
    """Gaussian negative log-likelihood with a learned isotropic noise level."""
    var = noise_std**2
    return 0.5 * jnp.mean(residual_sq / var + jnp.log(var))


def log_normal_prior(params, means, stds):
    """Prior on log-space material parameters around nominal values."""
    total = 0.0
    for name, mean in means.items():
        z = (params[name] - jnp.log(mean)) / stds[name]
        total = total + 0.5 * z**2
    return total


def energy_drift_loss(energies, relative: bool = True):
    """Penalise non-physical energy gain over a passive rollout."""
    e0 = energies[0]
    drift = energies[1:] - e0
    if relative:
        drift = drift / e0
    return jnp.mean(jnp.abs(drift))


def penetration_loss(traj, sdf_fn, thickness: float):
    """Mean squared penetration depth over vertices inside the contact shell."""
    d = jax.vmap(jax.vmap(sdf_fn))(traj)
    inside = d < thickness
    depth = jnp.where(inside, thickness - d, 0.0)
    count = jnp.sum(inside)
    return jnp.sum(depth**2) / jnp.maximum(count, 1)


def barrier_loss(traj, sdf_fn, stiffness: float, thickness: float):
    d = jax.vmap(jax.vmap(sdf_fn))(traj)
    return penalty_energy(d, stiffness, thickness) / traj.shape[0]


def area_preservation_loss(traj, triangles, rest_areas):
    areas = jax.vmap(triangle_areas, in_axes=(0, None))(traj, triangles)
    ratio = areas / rest_areas[None]
    return jnp.mean((ratio - 1.0) ** 2)


def normal_consistency_loss(pred, obs, triangles):
    n_pred = triangle_normals(pred, triangles)
    n_obs = triangle_normals(obs, triangles)
    return jnp.mean(1.0 - jnp.sum(n_pred * n_obs, axis=-1))


def temporal_smoothness(traj):
    """Pull each frame towards the midpoint of its neighbours (frozen target)."""
    target = lax.stop_gradient(0.5 * (traj[:-2] + traj[2:]))
    return jnp.mean(jnp.sum((traj[1:-1] - target) ** 2, axis=-1))
