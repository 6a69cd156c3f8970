"""Configuration objects for the structure and auxiliary-head losses."""
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class FAPEConfig:
    clamp_distance: float = 10.0
    loss_unit_distance: float = 10.0
    sidechain_clamp_distance: float = 10.0
    sidechain_length_scale: float = 10.0
    clamped_fraction: float = 0.9
    stop_rot_gradient_intermediate: bool = True
    backbone_weight: float = 0.5
    sidechain_weight: float = 0.5
    eps: float = 1e-4


@dataclass
class TorsionConfig:
    chi_weight: float = 0.5
    angle_norm_weight: float = 0.01
    eps: float = 1e-6
    weight: float = 1.0


@dataclass
class ViolationConfig:
    violation_tolerance_factor: float = 12.0
    clash_overlap_tolerance: float = 1.5
    center_of_mass_margin: float = 4.0
    max_fape_for_violation: Optional[float] = None
    eps: float = 1e-6
    weight: float = 0.0


@dataclass
class DistogramConfig:
    min_bin: float = 2.3125
    max_bin: float = 21.6875
    no_bins: int = 64
    eps: float = 1e-6
    weight: float = 0.3


@dataclass
class ConfidenceConfig:
    plddt_bins: int = 50
    plddt_cutoff: float = 15.0
    min_resolution: float = 0.1
    max_resolution: float = 3.0
    pae_max_bin: float = 31.0
    pae_bins: int = 64
    plddt_weight: float = 0.01
    resolved_weight: float = 0.01
    tm_weight: float = 0.0
    eps: float = 1e-8


@dataclass
class LossConfig:
    fape: FAPEConfig = field(default_factory=FAPEConfig)
    torsion: TorsionConfig = field(default_factory=TorsionConfig)
    violation: ViolationConfig = field(default_factory=ViolationConfig)
    distogram: DistogramConfig = field(default_factory=DistogramConfig)
    confidence: ConfidenceConfig = field(default_factory=ConfidenceConfig)
    smooth_lddt_weight: float = 0.0
    drmsd_weight: float = 0.05
    log_distance_weight: float = 0.0
    aligned_mse_weight: float = 0.0
    scale_by_crop: bool = True
    max_grad_norm: Optional[float] = 0.1

    def validate(self) -> None:
        if self.fape.clamp_distance <= 0:
            raise ValueError("clamp_distance must be positive")
        if not 0.0 <= self.fape.clamped_fraction <= 1.0:
            raise ValueError("clamped_fraction must lie in [0, 1]")
