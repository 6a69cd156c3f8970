"""Semi-implicit (symplectic) Euler integration of the cloth and differentiable rollouts."""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from clothsim.config import ContactConfig, SimConfig
from clothsim.contact import contact_forces, ground_contact, self_collision_forces
from clothsim.mesh import ClothMesh
from clothsim.springs import bending_forces, material_stiffness, spring_forces, strain_limit


class ClothState(NamedTuple):
    x: jnp.ndarray  # (V, 3) positions
    v: jnp.ndarray  # (V, 3) velocities


def rest_state(mesh: ClothMesh, init_velocity=None) -> ClothState:
    v = jnp.zeros_like(mesh.rest_positions) if init_velocity is None else init_velocity
    return ClothState(mesh.rest_positions, v)


def total_forces(state, mesh, params, contact_cfg, gravity, sdf_fn=None):
    k = material_stiffness(params, mesh.spring_kind)
    damping = params["damping"] * k
    f = spring_forces(state.x, state.v, mesh.springs, mesh.rest_lengths, k, damping)
    f = f + bending_forces(state.x, mesh.hinges, mesh.rest_angles, jnp.exp(params["log_bend"]))
    f = f + mesh.masses[:, None] * jnp.asarray(gravity)
    friction = params["friction"]
    f = f + ground_contact(state.x, state.v, contact_cfg.ground_height,
                           contact_cfg.stiffness, friction)
    if sdf_fn is not None:
        f = f + contact_forces(state.x, state.v, sdf_fn, contact_cfg, friction)
    if contact_cfg.self_collision:
        f = f + self_collision_forces(state.x, contact_cfg.self_radius,
                                      contact_cfg.stiffness, mesh.collision_exclude)
    return f


def clamp_speed(v, max_speed):
    """Rescale velocities whose magnitude exceeds ``max_speed``."""
    speed = jnp.linalg.norm(v, axis=-1, keepdims=True)
    return jnp.where(speed > max_speed, v * (max_speed / speed), v)


def euler_substep(state, mesh, params, sim_cfg, contact_cfg, h, sdf_fn=None, max_strain=None):
    f = total_forces(state, mesh, params, contact_cfg, sim_cfg.gravity, sdf_fn)
    inv_m = jnp.where(mesh.pinned, 0.0, 1.0 / mesh.masses)
    v = state.v + h * f * inv_m[:, None]
    v = v * (1.0 - sim_cfg.air_drag * h)
    v = clamp_speed(v, sim_cfg.max_velocity)
    x = state.x + h * v
    if max_strain is not None:
        x_lim = strain_limit(x, mesh.springs, mesh.rest_lengths, max_strain, mesh.inv_degree)
        x = jnp.where(mesh.pinned[:, None], x, x_lim)
        v = (x - state.x) / h
    return ClothState(x, v)


def step(state, mesh, params, sim_cfg: SimConfig, contact_cfg: ContactConfig,
         sdf_fn=None, max_strain=None) -> ClothState:
    """One frame of ``sim_cfg.substeps`` substeps."""
    h = sim_cfg.substep_dt

    def body(s, _):
        return euler_substep(s, mesh, params, sim_cfg, contact_cfg, h, sdf_fn, max_strain), None

    state, _ = lax.scan(body, state, None, length=sim_cfg.substeps)
    return state


def rollout(params, init: ClothState, mesh: ClothMesh, sim_cfg: SimConfig,
            contact_cfg: ContactConfig, sdf_fn=None, max_strain=None,
            num_steps: Optional[int] = None):
    """Simulate ``num_steps`` frames; returns positions and velocities of shape (T + 1, V, 3)."""
    n = sim_cfg.num_steps if num_steps is None else num_steps
    trunc = sim_cfg.truncate_every

    def body(state, t):
        state = step(state, mesh, params, sim_cfg, contact_cfg, sdf_fn, max_strain)
        if trunc > 0:
            cut = (t + 1) % trunc == 0
            state = jax.tree_util.tree_map(
                lambda a: jnp.where(cut, lax.stop_gradient(a), a), state)
        return state, state

    _, traj = lax.scan(jax.checkpoint(body), init, jnp.arange(n))
    xs = jnp.concatenate([init.x[None], traj.x], axis=0)
    vs = jnp.concatenate([init.v[None], traj.v], axis=0)
    return xs, vs


def rollout_adaptive(params, init: ClothState, mesh: ClothMesh, sim_cfg: SimConfig,
                     contact_cfg: ContactConfig, sdf_fn: Callable, num_steps: int,
                     cfl: float = 0.5):
    """Eager (un-jitted) rollout that refines the time step during deep contact.

    Python control flow on the state is allowed because this function is meant to be
    differentiated with ``jax.grad`` without ``jax.jit``, for debugging stiff contacts.
    """
    if "log_contact" in params:
        contact_cfg = dataclasses.replace(
            contact_cfg, stiffness=float(jnp.exp(params["log_contact"])))
    spacing = float(jnp.min(mesh.rest_lengths))
    state, frames = init, [init.x]
    for _ in range(num_steps):
        h, elapsed = sim_cfg.dt, 0.0
        while elapsed < sim_cfg.dt:
            h = min(h, sim_cfg.dt - elapsed)
            speed = jnp.linalg.norm(state.v, axis=-1)
            h = 0.5 * h if jnp.any(speed * h > cfl * spacing) else h
            trial = euler_substep(state, mesh, params, sim_cfg, contact_cfg, h, sdf_fn)
            depth = jax.vmap(sdf_fn)(trial.x)
            if jnp.any(depth < -sim_cfg.max_penetration) and h > sim_cfg.min_dt:
                h = 0.5 * h
                continue
            state, elapsed = trial, elapsed + h
        frames.append(state.x)
    return jnp.stack(frames), state
