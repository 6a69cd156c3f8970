"""V-trace off-policy corrected targets and the IMPALA actor-critic loss (Espeholt et al., 2018)."""
from __future__ import annotations

from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp

from rlobjectives.config import VTraceConfig
from rlobjectives.distributions import categorical_log_prob
from rlobjectives.math_utils import Array


class VTraceOutput(NamedTuple):
    vs: Array
    pg_advantages: Array
    clipped_rhos: Array


def vtrace_returns(
    log_rhos: Array,
    discounts: Array,
    rewards: Array,
    values: Array,
    bootstrap_value: Array,
    lambda_: float = 1.0,
    clip_rho_threshold: float = 1.0,
    clip_pg_rho_threshold: float = 1.0,
) -> VTraceOutput:
    """V-trace targets for time-major [T, B] inputs. The outputs are treated as constants."""
    log_rhos = jax.lax.stop_gradient(log_rhos)
    values = jax.lax.stop_gradient(values)
    bootstrap_value = jax.lax.stop_gradient(bootstrap_value)

    rhos = jnp.exp(log_rhos)
    clipped_rhos = jnp.minimum(clip_rho_threshold, rhos)
    cs = lambda_ * jnp.minimum(1.0, rhos)
    next_values = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)
    deltas = clipped_rhos * (rewards + discounts * next_values - values)

    def step(acc, xs):
        delta, discount, c = xs
        acc = delta + discount * c * acc
        return acc, acc

    _, vs_minus_v = jax.lax.scan(step, jnp.zeros_like(bootstrap_value), (deltas, discounts, cs), reverse=True)
    vs = vs_minus_v + values

    next_vs = jnp.concatenate([vs[1:], bootstrap_value[None]], axis=0)
    clipped_pg_rhos = jnp.minimum(clip_pg_rho_threshold, rhos)
    pg_advantages = clipped_pg_rhos * (rewards + discounts * next_vs - values)
    return VTraceOutput(vs=vs, pg_advantages=pg_advantages, clipped_rhos=clipped_rhos)


def impala_loss(
    target_logits: Array,
    behaviour_logits: Array,
    actions: Array,
    values: Array,
    bootstrap_value: Array,
    rewards: Array,
    discounts: Array,
    cfg: VTraceConfig,
) -> Tuple[Array, dict]:
    """IMPALA loss; ``target_logits``/``values`` come from the learner, the rest from the actors."""
    target_log_probs = categorical_log_prob(target_logits, actions)
    behaviour_log_probs = categorical_log_prob(behaviour_logits, actions)
    vt = vtrace_returns(
        target_log_probs - behaviour_log_probs,
        discounts,
        rewards,
        values,
        bootstrap_value,
        cfg.lambda_,
        cfg.clip_rho_threshold,
        cfg.clip_pg_rho_threshold,
    )
    pg_loss = -jnp.sum(target_log_probs * vt.pg_advantages)
    baseline_loss = 0.5 * jnp.sum(jnp.square(vt.vs - values))

    policy = jax.nn.softmax(target_logits, axis=-1)
    entropy = -jnp.sum(policy * jnp.log(policy), axis=-1)
    entropy_loss = -jnp.sum(entropy)

    total = pg_loss + cfg.baseline_coef * baseline_loss + cfg.entropy_coef * entropy_loss
    metrics = {
        "pg_loss": pg_loss,
        "baseline_loss": baseline_loss,
        "entropy": jnp.mean(entropy),
        "mean_clipped_rho": jnp.mean(vt.clipped_rhos),
    }
    return total, metrics
