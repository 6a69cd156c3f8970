"""optax/flax update steps that wrap the objectives in ``jax.value_and_grad``."""
from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Mapping, Tuple

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from rlobjectives import distributions
from rlobjectives.advantages import generalized_advantage_estimation
from rlobjectives.config import OptimConfig, PPOConfig, QuantileConfig, VTraceConfig
from rlobjectives.distributional import qr_dqn_loss
from rlobjectives.math_utils import Array, global_norm
from rlobjectives.policy_gradient import ppo_loss
from rlobjectives.vtrace import impala_loss


class DQNTrainState(TrainState):
    target_params: Any = None


def make_optimizer(cfg: OptimConfig) -> optax.GradientTransformation:
    if cfg.anneal_lr:
        learning_rate = optax.linear_schedule(cfg.learning_rate, 0.0, cfg.total_updates)
    else:
        learning_rate = cfg.learning_rate
    return optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm),
        optax.adam(learning_rate, eps=cfg.adam_eps),
    )


def prepare_ppo_batch(rollout: Mapping[str, Array], bootstrap_value: Array, cfg: PPOConfig) -> Dict[str, Array]:
    """Compute GAE on a [T, B] rollout and flatten it into a [T * B] training batch."""
    advantages, returns = generalized_advantage_estimation(
        rollout["rewards"], rollout["values"], rollout["dones"], bootstrap_value, cfg.gamma, cfg.gae_lambda
    )
    batch = {
        "obs": rollout["obs"],
        "actions": rollout["actions"],
        "old_log_probs": rollout["log_probs"],
        "old_values": rollout["values"],
        "advantages": advantages,
        "returns": returns,
    }
    return jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), batch)


def make_ppo_loss_fn(apply_fn: Callable, cfg: PPOConfig, continuous: bool = False) -> Callable:
    def loss_fn(params, batch, key):
        if continuous:
            mean, log_std, values = apply_fn(params, batch["obs"])
            log_probs = distributions.squashed_gaussian_log_prob(mean, log_std, batch["actions"])
            entropy = distributions.squashed_gaussian_entropy(key, mean, log_std)
        else:
            logits, values = apply_fn(params, batch["obs"])
            log_probs = distributions.categorical_log_prob(logits, batch["actions"])
            entropy = distributions.categorical_entropy(logits)
        return ppo_loss(log_probs, entropy, values, batch, cfg)

    return loss_fn


def ppo_update_epoch(state: TrainState, batch, key, loss_fn: Callable, num_minibatches: int):
    """One pass over a shuffled batch, one optimiser step per minibatch."""
    perm_key, loss_key = jax.random.split(key)
    batch_size = batch["advantages"].shape[0]
    minibatch_size = batch_size // num_minibatches
    permutation = jax.random.permutation(perm_key, batch_size)
    shuffled = jax.tree_util.tree_map(lambda x: jnp.take(x, permutation, axis=0), batch)
    minibatches = jax.tree_util.tree_map(
        lambda x: x[: num_minibatches * minibatch_size].reshape((num_minibatches, minibatch_size) + x.shape[1:]),
        shuffled,
    )
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state, xs):
        minibatch, step_key = xs
        (loss, metrics), grads = grad_fn(state.params, minibatch, step_key)
        metrics = dict(metrics, loss=loss, grad_norm=global_norm(grads))
        return state.apply_gradients(grads=grads), metrics

    keys = jax.random.split(loss_key, num_minibatches)
    state, metrics = jax.lax.scan(step, state, (minibatches, keys))
    return state, jax.tree_util.tree_map(jnp.mean, metrics)


def ppo_train_iteration(state, rollout, bootstrap_value, key, loss_fn, cfg: PPOConfig):
    """Run ``cfg.update_epochs`` epochs over one rollout with KL-based early stopping."""
    batch = prepare_ppo_batch(rollout, bootstrap_value, cfg)
    update = jax.jit(functools.partial(ppo_update_epoch, loss_fn=loss_fn, num_minibatches=cfg.num_minibatches))
    history: List[Dict[str, float]] = []
    for _ in range(cfg.update_epochs):
        key, epoch_key = jax.random.split(key)
        state, metrics = update(state, batch, epoch_key)
        metrics = {name: float(value) for name, value in jax.device_get(metrics).items()}
        history.append(metrics)
        if cfg.target_kl is not None and metrics["approx_kl"] > 1.5 * cfg.target_kl:
            break
    return state, history


def adapt_kl_coef(kl_coef: float, observed_kl: float, target_kl: float) -> float:
    """Adaptive KL-penalty coefficient from section 4 of the PPO paper."""
    if observed_kl < target_kl / 1.5:
        return kl_coef / 2.0
    if observed_kl > target_kl * 1.5:
        return kl_coef * 2.0
    return kl_coef


def make_impala_train_step(apply_fn: Callable, cfg: VTraceConfig) -> Callable:
    def loss_fn(params, traj):
        logits, values = apply_fn(params, traj["obs"])
        return impala_loss(
            logits[:-1], traj["behaviour_logits"][:-1], traj["actions"][:-1], values[:-1],
            values[-1], traj["rewards"][:-1], cfg.gamma * (1.0 - traj["dones"][:-1]), cfg,
        )

    @jax.jit
    def train_step(state: TrainState, traj):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, traj)
        return state.apply_gradients(grads=grads), dict(metrics, loss=loss, grad_norm=global_norm(grads))

    return train_step


def make_qr_dqn_train_step(apply_fn: Callable, cfg: QuantileConfig, target_update_period: int) -> Callable:
    def loss_fn(params, target_params, batch):
        quantiles = apply_fn(params, batch["obs"])
        next_online = apply_fn(params, batch["next_obs"])
        next_target = apply_fn(target_params, batch["next_obs"])
        discounts = cfg.gamma * (1.0 - batch["dones"])
        return qr_dqn_loss(quantiles, next_target, next_online, batch["actions"], batch["rewards"], discounts, cfg)

    @jax.jit
    def train_step(state: DQNTrainState, batch) -> Tuple[DQNTrainState, Dict[str, Array]]:
        loss, grads = jax.value_and_grad(loss_fn)(state.params, state.target_params, batch)
        state = state.apply_gradients(grads=grads)
        target_params = optax.periodic_update(state.params, state.target_params, state.step, target_update_period)
        return state.replace(target_params=target_params), {"loss": loss, "grad_norm": global_norm(grads)}

    return train_step


def summarize(metrics: Mapping[str, Array]) -> Dict[str, float]:
    """Host-side copy of a metrics dict for logging."""
    return {name: jnp.asarray(value).item() for name, value in metrics.items()}
