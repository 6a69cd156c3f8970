"""Configuration objects for the matting objective, refinement heads and evaluation."""
from dataclasses import dataclass, field
from typing import Tuple


@dataclass
class LossConfig:
    """Weights and hyper-parameters of :class:`mattelib.losses.MattingCriterion`."""

    alpha_weight: float = 1.0
    comp_weight: float = 1.0
    lap_weight: float = 1.0
    grad_weight: float = 0.0
    sparsity_weight: float = 0.0
    fg_weight: float = 0.0
    conn_weight: float = 0.0
    os_weight: float = 1.0
    err_weight: float = 1.0
    charbonnier_eps: float = 1e-6
    lap_levels: int = 5
    lap_sigma: float = 1.0
    sparsity_gamma: float = 0.9
    smooth_l1_beta: float = 1.0 / 255.0
    hard_ratio: float = 0.0
    normalize_grad: bool = True
    reduction: str = "mean"


@dataclass
class RefineConfig:
    """Options for the progressive (MG-Matting) and patch-based (BGMv2) refiners."""

    mode: str = "sampling"
    sample_pixels: int = 80_000
    threshold: float = 0.1
    patch_size: int = 4
    patch_padding: int = 2
    prevent_oversampling: bool = True
    train_width: Tuple[int, int] = (1, 30)
    test_width: int = 15
    hidden_channels: int = 32


@dataclass
class EvalConfig:
    """Benchmark protocol of Xu et al. (Deep Image Matting), errors scaled by 1e3."""

    conn_step: float = 0.1
    grad_sigma: float = 1.4
    sad_scale: float = 1000.0
    use_guided_filter: bool = False
    gf_radius: int = 8
    gf_eps: float = 1e-4
    quantize: bool = True


@dataclass
class TrainConfig:
    loss: LossConfig = field(default_factory=LossConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    lr: float = 4e-4
    clip_grad: float = 0.0
    amp: bool = False
    fuse_trimap: bool = True
    skip_nonfinite: bool = True
    log_every: int = 50

    def __post_init__(self):
        if self.loss.reduction not in ("mean", "sum", "none"):
            raise ValueError(f"unknown reduction {self.loss.reduction!r}")
        if self.refine.mode not in ("sampling", "thresholding", "full"):
            raise ValueError(f"unknown refinement mode {self.refine.mode!r}")
        if self.refine.train_width[0] < 1 or self.refine.train_width[1] <= self.refine.train_width[0]:
            raise ValueError("train_width must be an increasing pair of positive ints")
