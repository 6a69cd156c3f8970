"""Configuration containers for the nowcasting losses and the training loop."""
from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class ThresholdConfig:
    """Rain-rate thresholds (mm/h) of the skill-score losses and metrics."""

    thresholds: Tuple[float, ...] = (0.5, 2.0, 5.0, 10.0, 30.0)
    temperature: float = 0.5
    smooth: float = 1.0

    def __post_init__(self):
        if any(t <= 0 for t in self.thresholds):
            raise ValueError("thresholds must be positive")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")


@dataclass
class BalancedLossConfig:
    """Pixel weights of the balanced MSE/MAE loss (Shi et al., 2017)."""

    boundaries: Tuple[float, ...] = (2.0, 5.0, 10.0, 30.0)
    weights: Tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
    mse_weight: float = 1.0
    mae_weight: float = 1.0
    normal_loss_global_scale: float = 5e-5

    def __post_init__(self):
        if len(self.weights) != len(self.boundaries) + 1:
            raise ValueError("need exactly one more weight than boundaries")


@dataclass
class SpectralConfig:
    n_bins: Optional[int] = None
    log_power: bool = True
    eps: float = 1e-8
    weight: float = 0.0


@dataclass
class RolloutConfig:
    input_steps: int = 4
    lead_steps: int = 12
    truncate_every: int = 0
    teacher_forcing: float = 0.0
    lead_time_decay: float = 0.0
    grad_clip: Optional[float] = 1.0
    skip_nonfinite: bool = True
    quantize_inputs: bool = False


@dataclass
class LossConfig:
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    balanced: BalancedLossConfig = field(default_factory=BalancedLossConfig)
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    csi_weight: float = 1.0
    fss_weight: float = 0.0
    fss_threshold: float = 2.0
    fss_scales: Tuple[int, ...] = (1, 5, 9)
    pool_weight: float = 0.0
    pool_scales: Tuple[int, ...] = (1, 2, 4, 8)
    reduction: str = "mean"
