"""Actor objectives: A2C, PPO (clipped surrogate, clipped value loss), V-MPO and SAC."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp

from rlobjectives.advantages import normalize_advantages
from rlobjectives.config import PPOConfig, VMPOConfig
from rlobjectives.distributions import categorical_entropy, categorical_kl, categorical_log_prob
from rlobjectives.math_utils import Array, explained_variance, huber_loss, masked_mean

Metrics = Dict[str, Array]


def a2c_loss(
    logits: Array,
    values: Array,
    actions: Array,
    returns: Array,
    value_coef: float = 0.5,
    entropy_coef: float = 0.01,
    entropy_floor: Optional[float] = None,
) -> Tuple[Array, Metrics]:
    """Synchronous advantage actor-critic loss on a flat batch of n-step returns."""
    advantages = returns - jax.lax.stop_gradient(values)
    log_probs = categorical_log_prob(logits, actions)
    pg_loss = -jnp.mean(log_probs * advantages)
    value_loss = 0.5 * jnp.mean(jnp.square(advantages))
    entropy = jnp.mean(categorical_entropy(logits))
    if entropy_floor is not None and entropy < entropy_floor:
        entropy_coef = 10.0 * entropy_coef
    loss = pg_loss + value_coef * value_loss - entropy_coef * entropy
    return loss, {"pg_loss": pg_loss, "value_loss": value_loss, "entropy": entropy}


def clipped_surrogate(
    log_probs: Array,
    old_log_probs: Array,
    advantages: Array,
    clip_eps: float,
    dual_clip: Optional[float] = None,
) -> Array:
    """Per-sample negative clipped surrogate, optionally dual-clipped (Ye et al., 2020)."""
    ratio = jnp.exp(log_probs - old_log_probs)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = jnp.minimum(ratio * advantages, clipped_ratio * advantages)
    if dual_clip is not None:
        bounded = jnp.maximum(surrogate, dual_clip * advantages)
        surrogate = jnp.where(advantages < 0.0, bounded, surrogate)
    return -surrogate


def clipped_value_loss(
    values: Array,
    old_values: Array,
    returns: Array,
    clip_eps: Optional[float] = None,
    loss_type: str = "mse",
) -> Array:
    """PPO value loss; with ``clip_eps`` the pessimistic max of clipped and unclipped errors."""

    def error(x):
        return huber_loss(x) if loss_type == "huber" else 0.5 * jnp.square(x)

    unclipped = error(values - returns)
    if clip_eps is None:
        return unclipped
    values_clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return jnp.maximum(unclipped, error(values_clipped - returns))


def ppo_diagnostics(log_probs: Array, old_log_probs: Array, clip_eps: float, mask: Optional[Array] = None) -> Metrics:
    log_ratio = log_probs - old_log_probs
    ratio = jnp.exp(log_ratio)
    clipped = (jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)
    return {
        "approx_kl": masked_mean((ratio - 1.0) - log_ratio, mask),
        "clip_fraction": masked_mean(clipped, mask),
        "max_ratio": jnp.max(ratio),
    }


def ppo_loss(
    log_probs: Array,
    entropy: Array,
    values: Array,
    batch: Mapping[str, Array],
    cfg: PPOConfig,
) -> Tuple[Array, Metrics]:
    """Total PPO loss on one minibatch.

    ``log_probs``, ``entropy`` and ``values`` come from the current parameters; ``batch``
    holds rollout data: old_log_probs, old_values, advantages, returns and optionally mask.
    """
    mask = batch.get("mask")
    advantages = batch["advantages"]
    if cfg.normalize_advantages:
        advantages = normalize_advantages(advantages, mask)

    surrogate = clipped_surrogate(log_probs, batch["old_log_probs"], advantages, cfg.clip_eps, cfg.dual_clip)
    pg_loss = masked_mean(surrogate, mask)
    value_err = clipped_value_loss(values, batch["old_values"], batch["returns"], cfg.value_clip_eps, cfg.value_loss)
    value_loss = masked_mean(value_err, mask)
    mean_entropy = masked_mean(entropy, mask)

    entropy_coef = cfg.entropy_coef
    if cfg.entropy_floor is not None:
        boosted = cfg.entropy_boost * cfg.entropy_coef
        entropy_coef = jnp.where(mean_entropy < cfg.entropy_floor, boosted, cfg.entropy_coef)
    loss = pg_loss + cfg.value_coef * value_loss - entropy_coef * mean_entropy

    metrics = {
        "pg_loss": pg_loss,
        "value_loss": value_loss,
        "entropy": mean_entropy,
        "entropy_coef": entropy_coef,
        "explained_variance": explained_variance(values, batch["returns"]),
        **ppo_diagnostics(log_probs, batch["old_log_probs"], cfg.clip_eps, mask),
    }
    return loss, jax.lax.stop_gradient(metrics)


def vmpo_loss(
    logits: Array,
    old_logits: Array,
    actions: Array,
    advantages: Array,
    temperature_param: Array,
    alpha_param: Array,
    cfg: VMPOConfig,
) -> Tuple[Array, Metrics]:
    """V-MPO policy, temperature and trust-region losses on a flat batch.

    ``advantages`` are rollout targets; ``temperature_param`` and ``alpha_param`` are
    learnable Lagrange multipliers kept positive through a softplus.
    """
    temperature = jax.nn.softplus(temperature_param) + cfg.min_temperature
    alpha = jax.nn.softplus(alpha_param) + cfg.min_temperature

    num_selected = max(1, int(advantages.shape[0] * cfg.top_fraction))
    top_advantages, top_index = jax.lax.top_k(advantages, num_selected)

    # E-step: non-parametric target over the selected samples, temperature held fixed.
    weights = jax.nn.softmax(top_advantages / jax.lax.stop_gradient(temperature))
    log_probs = categorical_log_prob(logits[top_index], actions[top_index])
    policy_loss = -jnp.sum(weights * log_probs)

    log_mean_exp = jax.nn.logsumexp(top_advantages / temperature) - jnp.log(float(num_selected))
    temperature_loss = temperature * cfg.epsilon_eta + temperature * log_mean_exp

    kl = jnp.mean(categorical_kl(old_logits, logits))
    alpha_loss = alpha * (cfg.epsilon_alpha - jax.lax.stop_gradient(kl)) + jax.lax.stop_gradient(alpha) * kl

    loss = policy_loss + temperature_loss + alpha_loss
    return loss, {"policy_loss": policy_loss, "temperature": temperature, "alpha": alpha, "kl": kl}


def sac_actor_loss(q1: Array, q2: Array, log_probs: Array, alpha: Array) -> Array:
    """SAC policy loss; ``q1``/``q2`` are both critics evaluated at reparameterised actions."""
    min_q = jnp.minimum(q1, q2)
    return jnp.mean(jax.lax.stop_gradient(alpha) * log_probs - min_q)


def sac_critic_targets(
    next_q1: Array, next_q2: Array, next_log_probs: Array, rewards: Array, discounts: Array, alpha: Array
) -> Array:
    """Soft Bellman targets from the target critics at a' ~ pi(.|s')."""
    next_v = jnp.minimum(next_q1, next_q2) - alpha * next_log_probs
    return jax.lax.stop_gradient(rewards + discounts * next_v)


def sac_temperature_loss(log_alpha: Array, log_probs: Array, target_entropy: float) -> Array:
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_probs + target_entropy))
