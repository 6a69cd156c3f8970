"""Fit simulation parameters to observed cloth motion with optax."""

from __future__ import annotations

import functools
import logging
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from clothsim.config import ClothConfig, ContactConfig, SimConfig, SysIdConfig
from clothsim.integrate import rest_state, rollout
from clothsim.losses import (TrajectoryLoss, chamfer_distance, energy_drift_loss, frame_indices,
                             log_normal_prior, noise_nll, penetration_loss, sample_trajectory)
from clothsim.mesh import ClothMesh
from clothsim.springs import internal_energy

logger = logging.getLogger(__name__)

Params = Dict[str, jnp.ndarray]


class Observation(NamedTuple):
    times: jnp.ndarray  # (F,) seconds
    points: jnp.ndarray  # (F, V, 3) tracked vertices
    visibility: jnp.ndarray  # (F, V)
    cloud_times: Optional[jnp.ndarray] = None  # (C,)
    clouds: Optional[jnp.ndarray] = None  # (C, P, 3) depth point clouds
    cloud_mask: Optional[jnp.ndarray] = None  # (C, P)


def init_params(cloth: ClothConfig, contact: ContactConfig) -> Params:
    return {
        "log_stretch": jnp.log(cloth.stretch_stiffness),
        "log_shear": jnp.log(cloth.shear_stiffness),
        "log_bend_spring": jnp.log(0.1 * cloth.shear_stiffness),
        "log_bend": jnp.log(cloth.bend_stiffness),
        "damping": jnp.asarray(cloth.damping),
        "friction": jnp.asarray(contact.friction),
        "time_offset": jnp.asarray(0.0),
        "noise_std": jnp.asarray(0.01),
    }


def total_energy(xs, vs, mesh: ClothMesh, params: Params, gravity) -> jnp.ndarray:
    kinetic = 0.5 * jnp.sum(mesh.masses[None, :, None] * vs**2, axis=(1, 2))
    potential = -jnp.sum(mesh.masses[None, :] * (xs @ jnp.asarray(gravity)), axis=1)
    elastic = jax.vmap(internal_energy, in_axes=(0, None, None))(xs, mesh, params)
    return kinetic + potential + elastic


def make_loss_fn(mesh: ClothMesh, obs: Observation, sim_cfg: SimConfig,
                 contact_cfg: ContactConfig, cfg: SysIdConfig, sdf_fn=None,
                 priors: Optional[Tuple[Dict, Dict]] = None,
                 max_strain: Optional[float] = None) -> Callable:
    traj_loss = TrajectoryLoss(cfg)
    init = rest_state(mesh)

    def loss_fn(params: Params):
        p = dict(params)
        if cfg.freeze_damping:
            p["damping"] = jax.lax.stop_gradient(p["damping"])
        xs, vs = rollout(p, init, mesh, sim_cfg, contact_cfg, sdf_fn, max_strain)
        times = obs.times + p["time_offset"] if cfg.fit_time_offset else obs.times
        frames = sample_trajectory(xs, times, sim_cfg.dt)
        pos = traj_loss(frames, obs.points, obs.visibility)
        loss = cfg.position_weight * pos
        aux = {"position": pos}
        if cfg.chamfer_weight > 0 and obs.clouds is not None:
            idx = frame_indices(obs.cloud_times, sim_cfg.dt)
            cd = jax.vmap(functools.partial(chamfer_distance, squared=False))(
                xs[idx], obs.clouds, obs.cloud_mask)
            aux["chamfer"] = jnp.mean(cd)
            loss = loss + cfg.chamfer_weight * aux["chamfer"]
        if cfg.energy_weight > 0:
            e = total_energy(xs, vs, mesh, p, sim_cfg.gravity)
            aux["energy"] = energy_drift_loss(e)
            loss = loss + cfg.energy_weight * aux["energy"]
        if cfg.penetration_weight > 0 and sdf_fn is not None:
            aux["penetration"] = penetration_loss(xs, sdf_fn, contact_cfg.thickness)
            loss = loss + cfg.penetration_weight * aux["penetration"]
        if cfg.noise_weight > 0:
            res = jnp.sum((frames - obs.points) ** 2, axis=-1)
            aux["nll"] = noise_nll(res, p["noise_std"])
            loss = loss + cfg.noise_weight * aux["nll"]
        if priors:
            means, stds = priors
            loss = loss + cfg.prior_weight * log_normal_prior(p, means, stds)
        return loss, aux

    return loss_fn


def make_optimizer(cfg: SysIdConfig) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, cfg.num_iters, alpha=0.1)
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), optax.adam(schedule))


def project_params(params: Params, cfg: SysIdConfig) -> Params:
    """Keep physically meaningful ranges after each optimiser update."""
    out = dict(params)
    out["damping"] = jnp.clip(params["damping"], 0.0, 1.0)
    out["friction"] = jnp.maximum(params["friction"], 0.0)
    out["time_offset"] = jnp.clip(params["time_offset"], -cfg.max_time_offset, cfg.max_time_offset)
    return out


def fit(loss_fn: Callable, params: Params, cfg: SysIdConfig):
    opt = make_optimizer(cfg)
    opt_state = opt.init(params)

    @jax.jit
    def update(params, opt_state):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = project_params(optax.apply_updates(params, updates), cfg)
        return params, opt_state, loss, aux, optax.global_norm(grads)

    best_loss, best_params, history = np.inf, params, []
    for it in range(cfg.num_iters):
        params, opt_state, loss, aux, gnorm = update(params, opt_state)
        loss_val = float(loss)
        if not np.isfinite(loss_val):
            logger.warning("non-finite loss at iteration %d; stopping", it)
            break
        if loss_val < best_loss:
            best_loss, best_params = loss_val, params
        record = {k: v.item() for k, v in aux.items()}
        record.update(loss=loss_val, grad_norm=gnorm.item())
        history.append(record)
        if it % cfg.log_every == 0:
            logger.info("iter %4d  loss %.5e  |g| %.3e", it, loss_val, record["grad_norm"])
    return best_params, history
