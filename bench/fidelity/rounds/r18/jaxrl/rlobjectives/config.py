"""Hyper-parameter containers for the objectives in this package."""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Clipped-surrogate PPO (Schulman et al., 2017) and its usual implementation details."""

    clip_eps: float = 0.2
    dual_clip: Optional[float] = None
    value_clip_eps: Optional[float] = 0.2
    value_loss: str = "mse"
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    entropy_floor: Optional[float] = None
    entropy_boost: float = 5.0
    normalize_advantages: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    update_epochs: int = 4
    num_minibatches: int = 4
    target_kl: Optional[float] = None

    def __post_init__(self):
        if not 0.0 < self.clip_eps < 1.0:
            raise ValueError(f"clip_eps must lie in (0, 1), got {self.clip_eps}")
        if self.dual_clip is not None and self.dual_clip <= 1.0:
            raise ValueError("dual_clip must be > 1 (Ye et al., 2020)")
        if self.value_loss not in ("mse", "huber"):
            raise ValueError(f"unknown value_loss {self.value_loss!r}")


@dataclasses.dataclass(frozen=True)
class VTraceConfig:
    """IMPALA learner settings (Espeholt et al., 2018)."""

    gamma: float = 0.99
    lambda_: float = 1.0
    clip_rho_threshold: float = 1.0
    clip_pg_rho_threshold: float = 1.0
    baseline_coef: float = 0.5
    entropy_coef: float = 0.01


@dataclasses.dataclass(frozen=True)
class VMPOConfig:
    """V-MPO constraint sizes (Song et al., 2020)."""

    top_fraction: float = 0.5
    epsilon_eta: float = 0.01
    epsilon_alpha: float = 0.005
    min_temperature: float = 1e-8


@dataclasses.dataclass(frozen=True)
class QuantileConfig:
    """QR-DQN / IQN / C51 settings."""

    num_quantiles: int = 200
    kappa: float = 1.0
    sort_quantiles: bool = False
    num_atoms: int = 51
    v_min: float = -10.0
    v_max: float = 10.0
    gamma: float = 0.99
    double_q: bool = True
    categorical_loss: str = "cross_entropy"
    cramer_p: float = 2.0

    @property
    def delta_z(self) -> float:
        return (self.v_max - self.v_min) / (self.num_atoms - 1)


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = 2.5e-4
    anneal_lr: bool = True
    adam_eps: float = 1e-5
    max_grad_norm: float = 0.5
    total_updates: int = 10_000
