"""Log-probabilities, entropies and KLs of the policy distributions used by the losses."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from rlobjectives.math_utils import Array

LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_softmax(logits: Array) -> Array:
    """Log-softmax over the last axis with the usual max shift."""
    shifted = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


def mask_illegal_actions(logits: Array, legal_actions: Array) -> Array:
    """Give illegal actions a large negative logit so they get (numerically) zero mass."""
    return jnp.where(legal_actions > 0, logits, -1e9)


def categorical_log_prob(logits: Array, actions: Array) -> Array:
    log_probs = log_softmax(logits)
    index = actions[..., None].astype(jnp.int32)
    return jnp.take_along_axis(log_probs, index, axis=-1)[..., 0]


def categorical_entropy(logits: Array) -> Array:
    log_probs = log_softmax(logits)
    return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def categorical_kl(p_logits: Array, q_logits: Array) -> Array:
    """KL(p || q) between two categorical distributions given by logits."""
    p_log = log_softmax(p_logits)
    q_log = log_softmax(q_logits)
    return jnp.sum(jnp.exp(p_log) * (p_log - q_log), axis=-1)


def normalized_entropy(logits: Array) -> Array:
    """Entropy as a fraction of its maximum, log(num_actions)."""
    return categorical_entropy(logits) / jnp.log(logits.shape[-1])


def _bounded_log_std(log_std: Array) -> Array:
    return jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def gaussian_log_prob(mean: Array, log_std: Array, x: Array) -> Array:
    """Log-density of a diagonal Gaussian, summed over the action dimension."""
    log_std = _bounded_log_std(log_std)
    z = (x - mean) / jnp.exp(log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, axis=-1)


def gaussian_entropy(log_std: Array) -> Array:
    log_std = _bounded_log_std(log_std)
    return jnp.sum(log_std + 0.5 + _HALF_LOG_2PI, axis=-1)


def squashed_gaussian_log_prob(mean: Array, log_std: Array, action: Array, eps: float = 1e-6) -> Array:
    """Log-density of a stored action a = tanh(u), u ~ N(mean, std^2)."""
    action = jnp.clip(action, -1.0 + eps, 1.0 - eps)
    pre_tanh = jnp.arctanh(action)
    log_prob = gaussian_log_prob(mean, log_std, pre_tanh)
    return log_prob - jnp.sum(jnp.log(1.0 - jnp.square(action)), axis=-1)


def sample_squashed_gaussian(key: jax.Array, mean: Array, log_std: Array):
    """Reparameterised sample a = tanh(mean + std * noise) and its log-density."""
    noise = jax.random.normal(key, mean.shape, mean.dtype)
    pre_tanh = mean + jnp.exp(_bounded_log_std(log_std)) * noise
    action = jnp.tanh(pre_tanh)
    log_prob = gaussian_log_prob(mean, log_std, pre_tanh)
    log_prob = log_prob - jnp.sum(jnp.log(1.0 - jnp.square(action)), axis=-1)
    return action, log_prob


def squashed_gaussian_entropy(key: jax.Array, mean: Array, log_std: Array, num_samples: int = 1) -> Array:
    """Monte-Carlo entropy estimate; the tanh-squashed Gaussian has no closed form."""
    keys = jax.random.split(key, num_samples)
    _, log_probs = jax.vmap(lambda k: sample_squashed_gaussian(k, mean, log_std))(keys)
    return -jnp.mean(log_probs, axis=0)
