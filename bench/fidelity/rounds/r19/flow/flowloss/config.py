"""Configuration objects for the flow and stereo objectives.

The defaults follow the UFlow / SMURF papers for unsupervised optical flow and
RAFT for the supervised sequence loss.
"""

from dataclasses import dataclass, field


@dataclass
class PhotometricConfig:
    """Weights and hyper-parameters of the photometric data term."""

    census_weight: float = 1.0
    ssim_weight: float = 0.0
    l1_weight: float = 0.0
    census_patch_size: int = 7
    robust_eps: float = 0.01
    robust_q: float = 0.4
    ssim_c1: float = float("inf")
    ssim_c2: float = 9e-6


@dataclass
class SmoothnessConfig:
    """Edge-aware smoothness regulariser."""

    weight: float = 4.0
    order: int = 2
    edge_constant: float = 150.0
    edge_weighting: str = "exponential"
    power: float = 1.0


@dataclass
class OcclusionConfig:
    """How occluded pixels are excluded from the data term."""

    method: str = "forward_backward"
    fb_alpha: float = 0.01
    fb_beta: float = 0.5
    mask_out_of_bounds: bool = True


@dataclass
class SequenceLossConfig:
    """Exponential weighting of the predictions of an iterative refinement network."""

    gamma: float = 0.8
    max_flow: float = 400.0


@dataclass
class FlowLossConfig:
    """Everything :class:`flowloss.unsupervised.UnsupervisedFlowLoss` needs."""

    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)
    smoothness: SmoothnessConfig = field(default_factory=SmoothnessConfig)
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)
    sequence: SequenceLossConfig = field(default_factory=SequenceLossConfig)
    selfsup_weight: float = 0.0
    balance_smoothness: bool = False

    def __post_init__(self):
        if self.smoothness.order not in (1, 2):
            raise ValueError(f"smoothness order must be 1 or 2, got {self.smoothness.order}")
        if self.occlusion.method not in ("forward_backward", "wang", "none"):
            raise ValueError(f"unknown occlusion method {self.occlusion.method!r}")
        if not 0.0 < self.sequence.gamma <= 1.0:
            raise ValueError("sequence gamma must lie in (0, 1]")

    @classmethod
    def uflow(cls):
        return cls()

    @classmethod
    def smurf(cls):
        return cls(
            photometric=PhotometricConfig(census_weight=1.0),
            smoothness=SmoothnessConfig(weight=2.0, order=1),
            selfsup_weight=0.3,
        )
