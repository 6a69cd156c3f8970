"""Configuration dataclasses shared by the training recipes."""
from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class FeatureConfig:
    sample_rate: int = 16000
    n_fft: int = 2048
    hop_length: int = 256
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float = 8000.0
    log_eps: float = 1e-5
    use_pcen: bool = False


@dataclass
class AugmentConfig:
    mixup_alpha: float = 0.2
    mixup_prob: float = 0.5
    mixup_label_type: str = "soft"
    time_mask_width: int = 40
    freq_mask_width: int = 16
    n_masks: int = 2
    max_shift_frames: int = 32
    filter_db_range: Tuple[float, float] = (-6.0, 6.0)
    filter_n_bands: Tuple[int, int] = (3, 6)


@dataclass
class LossConfig:
    strong_loss: str = "bce"
    weak_loss: str = "bce"
    focal_gamma: float = 2.0
    focal_alpha: Optional[float] = None
    weak_weight: float = 0.5
    smoothness_weight: float = 0.0
    balance_losses: bool = False
    label_smoothing: float = 0.0

    def __post_init__(self):
        if self.strong_loss not in ("bce", "focal"):
            raise ValueError(f"unknown strong loss {self.strong_loss!r}")
        if self.focal_gamma < 0:
            raise ValueError("focal_gamma must be non-negative")


@dataclass
class TeacherConfig:
    ema_decay: float = 0.999
    const_max: float = 2.0
    rampup_length: int = 15000
    consistency: str = "mse"
    confidence_threshold: float = 0.7


@dataclass
class PostprocessConfig:
    threshold: float = 0.5
    median_window: int = 7
    frame_hop_s: float = 0.064
    collar_s: float = 0.2
    pct_length: float = 0.2
    min_event_s: float = 0.0
    min_gap_s: float = 0.1


@dataclass
class TrainConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    post: PostprocessConfig = field(default_factory=PostprocessConfig)
    n_classes: int = 10
    pooling: str = "linear_softmax"
    net_pooling: int = 4
    grad_clip: float = 5.0
