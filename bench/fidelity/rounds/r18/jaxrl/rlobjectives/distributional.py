"""Distributional value losses: QR-DQN and IQN quantile regression, C51 categorical projection."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from rlobjectives.config import QuantileConfig
from rlobjectives.math_utils import Array, huber_loss, safe_log


def quantile_midpoints(num_quantiles: int) -> Array:
    """tau_hat_i = (2i + 1) / (2N), the QR-DQN quantile midpoints."""
    return (2.0 * jnp.arange(num_quantiles) + 1.0) / (2.0 * num_quantiles)


def quantile_huber_loss(pred_quantiles: Array, target_quantiles: Array, taus: Array, kappa: float = 1.0) -> Array:
    """Quantile Huber loss (Dabney et al., 2018) for one transition.

    pred_quantiles: [N] online quantiles at ``taus`` [N]; target_quantiles: [M] Bellman targets.
    """
    target_quantiles = jax.lax.stop_gradient(target_quantiles)
    u = target_quantiles[None, :] - pred_quantiles[:, None]
    weight = jnp.abs(taus[:, None] - (u < 0.0).astype(u.dtype))
    loss = weight * huber_loss(u, kappa) / kappa
    return jnp.sum(jnp.mean(loss, axis=1), axis=0)


def quantile_regression_loss(pred_quantiles: Array, target_quantiles: Array, taus: Array) -> Array:
    """Pinball loss without Huber smoothing (the kappa -> 0 limit)."""
    u = jax.lax.stop_gradient(target_quantiles)[None, :] - pred_quantiles[:, None]
    loss = jnp.where(u < 0.0, (taus[:, None] - 1.0) * u, taus[:, None] * u)
    return jnp.sum(jnp.mean(loss, axis=1), axis=0)


def qr_dqn_loss(
    online_quantiles: Array,
    target_next_quantiles: Array,
    online_next_quantiles: Array,
    actions: Array,
    rewards: Array,
    discounts: Array,
    cfg: QuantileConfig,
) -> Array:
    """Batched QR-DQN loss; the *_quantiles arrays have shape [B, A, N]."""
    taus = quantile_midpoints(cfg.num_quantiles)
    selector = online_next_quantiles if cfg.double_q else target_next_quantiles
    next_actions = jnp.argmax(jnp.mean(selector, axis=-1), axis=-1)
    next_quantiles = jnp.take_along_axis(target_next_quantiles, next_actions[:, None, None], axis=1)[:, 0]
    targets = rewards[:, None] + discounts[:, None] * next_quantiles

    chosen = jnp.take_along_axis(online_quantiles, actions[:, None, None], axis=1)[:, 0]
    if cfg.sort_quantiles:
        chosen = jnp.sort(chosen, axis=-1)
    per_sample = jax.vmap(quantile_huber_loss, in_axes=(0, 0, None, None))(chosen, targets, taus, cfg.kappa)
    return jnp.mean(per_sample)


def iqn_loss(online_quantiles: Array, taus: Array, target_quantiles: Array, kappa: float = 1.0) -> Array:
    """IQN loss: online_quantiles [B, N] at sampled taus [B, N] against target samples [B, M]."""
    taus = jax.lax.stop_gradient(taus)
    loss_fn = jax.vmap(quantile_huber_loss, in_axes=(0, 0, 0, None))
    return jnp.mean(loss_fn(online_quantiles, target_quantiles, taus, kappa))


def truncated_quantile_targets(critic_quantiles: Array, num_dropped: int) -> Array:
    """TQC: pool the target critics' atoms [B, C, N], sort them, drop the largest ``num_dropped``."""
    pooled = jnp.sort(critic_quantiles.reshape(critic_quantiles.shape[0], -1), axis=-1)
    return jax.lax.stop_gradient(pooled[:, : pooled.shape[1] - num_dropped])


def categorical_projection(next_probs: Array, rewards: Array, discounts: Array, support: Array) -> Array:
    """Project the target distribution of r + d z onto the fixed support (Bellemare et al., 2017)."""
    v_min, v_max = support[0], support[-1]
    delta_z = support[1] - support[0]
    num_atoms = support.shape[0]

    tz = jnp.clip(rewards[:, None] + discounts[:, None] * support[None, :], v_min, v_max)
    b = (tz - v_min) / delta_z
    lower = jnp.floor(b)
    upper = jnp.ceil(b)
    # When b lands exactly on an atom, lower == upper and that atom receives the whole mass.
    lower_weight = jnp.where(upper == lower, 1.0, upper - b)
    upper_weight = b - lower

    lower_onehot = jax.nn.one_hot(lower.astype(jnp.int32), num_atoms)
    upper_onehot = jax.nn.one_hot(upper.astype(jnp.int32), num_atoms)
    projected = jnp.einsum("bi,bij->bj", next_probs * lower_weight, lower_onehot)
    projected += jnp.einsum("bi,bij->bj", next_probs * upper_weight, upper_onehot)
    return jax.lax.stop_gradient(projected)


def cramer_distance(logits: Array, target_probs: Array, support: Array, p: float = 2.0) -> Array:
    """l_p distance between the CDFs of softmax(logits) and ``target_probs`` on a shared support."""
    cdf_diff = jnp.cumsum(jax.nn.softmax(logits, axis=-1) - target_probs, axis=-1)
    widths = jnp.diff(support)
    integrand = jnp.abs(cdf_diff[..., :-1]) ** p * widths
    return jnp.sum(integrand, axis=-1) ** (1.0 / p)


def categorical_td_loss(
    online_logits: Array,
    target_next_logits: Array,
    online_next_logits: Array,
    actions: Array,
    rewards: Array,
    discounts: Array,
    support: Array,
    cfg: QuantileConfig,
) -> Array:
    """C51 loss; the *_logits arrays have shape [B, A, K] over ``support`` [K]."""
    next_probs = jax.nn.softmax(target_next_logits, axis=-1)
    selector = online_next_logits if cfg.double_q else target_next_logits
    next_q = jnp.sum(jax.nn.softmax(selector, axis=-1) * support, axis=-1)
    next_actions = jnp.argmax(next_q, axis=-1)
    next_probs = jnp.take_along_axis(next_probs, next_actions[:, None, None], axis=1)[:, 0]
    target_probs = categorical_projection(next_probs, rewards, discounts, support)

    logits = jnp.take_along_axis(online_logits, actions[:, None, None], axis=1)[:, 0]
    if cfg.categorical_loss == "cramer":
        return jnp.mean(cramer_distance(logits, target_probs, support, cfg.cramer_p))
    probs = jax.nn.softmax(logits, axis=-1)
    return -jnp.mean(jnp.sum(target_probs * safe_log(probs), axis=-1))
