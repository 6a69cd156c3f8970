"""Return and advantage estimators for time-major trajectories of shape [T, B].

Everything here consumes rollout data (rewards, discounts, and the value
estimates recorded by the actor), so the outputs are regression targets or
policy-gradient weights rather than quantities to differentiate through.
"""
from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from rlobjectives.math_utils import Array, masked_mean, percentile_range, signed_hyperbolic, signed_parabolic


def discounted_returns(rewards: Array, discounts: Array, bootstrap_value: Array) -> Array:
    def step(acc, xs):
        reward, discount = xs
        acc = reward + discount * acc
        return acc, acc

    _, returns = jax.lax.scan(step, bootstrap_value, (rewards, discounts), reverse=True)
    return returns


def generalized_advantage_estimation(
    rewards: Array,
    values: Array,
    dones: Array,
    bootstrap_value: Array,
    gamma: float,
    gae_lambda: float,
) -> Tuple[Array, Array]:
    """GAE(gamma, lambda) (Schulman et al., 2016); ``dones[t]`` ends the episode after step t."""
    not_done = 1.0 - dones.astype(values.dtype)
    next_values = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)
    deltas = rewards + gamma * not_done * next_values - values

    def step(gae, xs):
        delta, nd = xs
        gae = delta + gamma * gae_lambda * nd * gae
        return gae, gae

    _, advantages = jax.lax.scan(step, jnp.zeros_like(bootstrap_value), (deltas, not_done), reverse=True)
    return advantages, advantages + values


def lambda_returns(
    rewards: Array,
    discounts: Array,
    values: Array,
    bootstrap_value: Array,
    lambda_: float = 1.0,
    stop_target_gradients: bool = True,
) -> Array:
    """TD(lambda) returns G_t = r_t + d_t ((1 - lambda) v_{t+1} + lambda G_{t+1})."""
    next_values = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)

    def step(g, xs):
        reward, discount, v = xs
        g = reward + discount * ((1.0 - lambda_) * v + lambda_ * g)
        return g, g

    _, returns = jax.lax.scan(step, bootstrap_value, (rewards, discounts, next_values), reverse=True)
    if stop_target_gradients:
        returns = jax.lax.stop_gradient(returns)
    return returns


def upgo_returns(rewards: Array, discounts: Array, q_values: Array, values: Array, bootstrap_value: Array) -> Array:
    """Upgoing policy-update returns (Vinyals et al., 2019): follow the trajectory only while it beats V."""
    next_q = jnp.concatenate([q_values[1:], bootstrap_value[None]], axis=0)
    next_v = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)

    def step(g, xs):
        reward, discount, q, v = xs
        g = reward + discount * jnp.where(q >= v, g, v)
        return g, g

    _, returns = jax.lax.scan(step, bootstrap_value, (rewards, discounts, next_q, next_v), reverse=True)
    return returns


def normalize_advantages(advantages: Array, mask: Optional[Array] = None, eps: float = 1e-8) -> Array:
    """Per-minibatch standardisation of the advantages."""
    if mask is None:
        return (advantages - advantages.mean()) / (advantages.std() + eps)
    mean = masked_mean(advantages, mask)
    var = masked_mean(jnp.square(advantages - mean), mask)
    return (advantages - mean) * jax.lax.rsqrt(var + eps)


def scale_by_return_range(advantages: Array, returns: Array, low: float = 5.0, high: float = 95.0) -> Array:
    """DreamerV3-style scaling by the 5-95 percentile range of the returns; never amplifies."""
    scale = jnp.maximum(1.0, percentile_range(returns, low, high))
    return advantages / scale


def rescaled_n_step_targets(rewards: Array, discounts: Array, bootstrap_values: Array, eps: float = 1e-3) -> Array:
    """R2D2 targets h(r + d h^-1(q')) with q' taken from the target network."""
    return signed_hyperbolic(rewards + discounts * signed_parabolic(bootstrap_values, eps), eps)
