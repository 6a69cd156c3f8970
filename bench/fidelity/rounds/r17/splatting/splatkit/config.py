"""Configuration dataclasses for splatkit training objectives."""
from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class PhotometricConfig:
    lambda_dssim: float = 0.2
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    lp_exponent: float = 1.0
    use_alpha_mask: bool = False
    reduction: str = "mean"


@dataclass
class RegularizerConfig:
    lambda_opacity: float = 0.0
    opacity_mode: str = "entropy"  # "entropy" | "binary" | "mean"
    lambda_aniso: float = 0.0
    max_aniso_ratio: float = 10.0
    lambda_flatten: float = 0.0
    lambda_large_scale: float = 0.0
    large_scale_percent: float = 0.1
    lambda_isotropic: float = 0.0
    lambda_volume: float = 0.0
    lambda_quat_norm: float = 0.0


@dataclass
class GeometryConfig:
    lambda_normal: float = 0.05
    lambda_dist: float = 0.0
    normal_from_iter: int = 7000
    dist_from_iter: int = 3000
    depth_ratio: float = 0.0  # 0 -> expected depth, 1 -> median depth
    lambda_depth: float = 0.0
    depth_loss_type: str = "l1"  # "l1" | "log" | "pearson" | "minmax" | "aligned"
    depth_alpha_threshold: float = 0.5
    near: float = 0.2
    far: float = 100.0


@dataclass
class DensifyConfig:
    grad_threshold: float = 2e-4
    percent_dense: float = 0.01
    min_opacity: float = 0.005
    max_screen_size: Optional[int] = 20
    densify_from_iter: int = 500
    densify_until_iter: int = 15_000
    densification_interval: int = 100
    opacity_reset_interval: int = 3000
    split_factor: int = 2


@dataclass
class FilterConfig:
    use_3d_filter: bool = True
    filter_3d_variance: float = 0.2
    kernel_size_2d: float = 0.3
    use_mip_2d: bool = False


@dataclass
class TrainConfig:
    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)
    reg: RegularizerConfig = field(default_factory=RegularizerConfig)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    background: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    random_background: bool = False
    iterations: int = 30_000
