"""Configuration dataclasses for models, inference and training."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass(frozen=True)
class KernelConfig:
    kind: str = "matern32"
    input_dim: int = 1
    ard: bool = True
    lengthscale: float = 1.0
    variance: float = 1.0
    period: float = 1.0
    alpha: float = 1.0
    arccos_order: int = 1
    warp: bool = False
    feature_dims: Optional[Tuple[int, ...]] = None


@dataclass(frozen=True)
class LikelihoodConfig:
    kind: str = "gaussian"
    noise: float = 0.1
    noise_floor: float = 1e-4
    scale: float = 1.0
    link: str = "probit"
    num_classes: int = 2
    num_quadrature: int = 20
    num_samples: int = 16


@dataclass(frozen=True)
class InferenceConfig:
    method: str = "exact"  # exact | warped | loo | collapsed | svgp | laplace
    jitter: float = 1e-6
    adaptive_jitter: bool = False
    num_inducing: int = 64
    train_inducing: bool = True
    min_variance: float = 1e-10
    max_newton_steps: int = 50
    newton_tol: float = 1e-6
    max_abs_latent: float = 30.0


@dataclass(frozen=True)
class PriorConfig:
    kind: str = "none"  # none | laplace | gamma
    loc: float = 0.0
    scale: float = 1.0
    concentration: float = 2.0
    rate: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 1e-2
    num_steps: int = 1000
    batch_size: Optional[int] = None
    max_grad_norm: float = 10.0
    raw_bounds: Tuple[float, float] = (-12.0, 12.0)
    patience: int = 100
    tol: float = 1e-5
    jit: bool = True
    seed: int = 0
    log_every: int = 50


@dataclass(frozen=True)
class ExperimentConfig:
    kernel: KernelConfig = field(default_factory=KernelConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "ExperimentConfig":
        if self.likelihood.noise_floor <= 0.0:
            raise ValueError("noise_floor must be positive")
        if self.inference.method == "laplace" and self.likelihood.kind != "bernoulli":
            raise ValueError("the Laplace approximation is implemented for Bernoulli data")
        if self.likelihood.kind == "multiclass" and self.likelihood.num_classes < 2:
            raise ValueError("multiclass likelihood needs at least two classes")
        return self
