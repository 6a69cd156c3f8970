"""rlobjectives: reinforcement-learning objectives in JAX.

The losses are pure functions of arrays so that they compose with ``jax.grad``,
``jax.value_and_grad`` and ``jax.vmap``.  :mod:`rlobjectives.train` wires them
into optax update steps on flax ``TrainState`` objects.
"""
from rlobjectives.advantages import (
    generalized_advantage_estimation,
    lambda_returns,
    normalize_advantages,
)
from rlobjectives.config import OptimConfig, PPOConfig, QuantileConfig, VMPOConfig, VTraceConfig
from rlobjectives.distributional import (
    categorical_td_loss,
    iqn_loss,
    qr_dqn_loss,
    quantile_huber_loss,
)
from rlobjectives.policy_gradient import (
    a2c_loss,
    clipped_surrogate,
    clipped_value_loss,
    ppo_loss,
    sac_actor_loss,
    vmpo_loss,
)
from rlobjectives.vtrace import impala_loss, vtrace_returns

__all__ = [
    "OptimConfig",
    "PPOConfig",
    "QuantileConfig",
    "VMPOConfig",
    "VTraceConfig",
    "a2c_loss",
    "categorical_td_loss",
    "clipped_surrogate",
    "clipped_value_loss",
    "generalized_advantage_estimation",
    "impala_loss",
    "iqn_loss",
    "lambda_returns",
    "normalize_advantages",
    "ppo_loss",
    "qr_dqn_loss",
    "quantile_huber_loss",
    "sac_actor_loss",
    "vmpo_loss",
    "vtrace_returns",
]

__version__ = "0.3.1"
