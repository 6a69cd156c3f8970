"""Configuration objects for scalers, losses and training loops."""
from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class ScalerConfig:
    """How each series is normalised before it is fed to the network."""

    kind: str = "mean"  # "mean", "std" or "robust"
    dim: int = 1
    keepdim: bool = True
    minimum_scale: float = 1e-10
    default_scale: Optional[float] = None


@dataclass
class LossConfig:
    """Which training objective to optimise and its hyper-parameters."""

    name: str = "nll"
    quantiles: Tuple[float, ...] = (0.1, 0.5, 0.9)
    reduction: str = "mean"
    seasonality: int = 1
    huber_kappa: float = 0.0
    crossing_penalty: float = 0.0
    interval_alpha: float = 0.1
    point_loss_weight: float = 0.0
    num_samples: int = 50
    sharpness_weight: float = 0.0
    soft_dtw_gamma: float = 0.1
    soft_dtw_normalize: bool = False
    soft_dtw_metric: str = "sqeuclidean"
    dilate_alpha: float = 0.5

    def __post_init__(self):
        if self.reduction not in ("mean", "sum", "none"):
            raise ValueError(f"unknown reduction {self.reduction!r}")
        if any(q <= 0.0 or q >= 1.0 for q in self.quantiles):
            raise ValueError("quantile levels must lie strictly between 0 and 1")
        self.quantiles = tuple(sorted(self.quantiles))


@dataclass
class TrainConfig:
    """Optimisation settings shared by the training loops."""

    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    clip_gradient: Optional[float] = 10.0
    epochs: int = 50
    num_samples: int = 100
    teacher_forcing_ratio: float = 0.5
    context_length: int = 48
    prediction_length: int = 24
    skip_nonfinite: bool = True
    early_stopping_patience: int = 10
    min_delta: float = 1e-4
    loss: LossConfig = field(default_factory=LossConfig)
    scaler: ScalerConfig = field(default_factory=ScalerConfig)
