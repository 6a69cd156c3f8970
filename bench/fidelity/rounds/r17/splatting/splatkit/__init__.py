"""splatkit: losses, regularisers and helpers for 3D Gaussian splatting."""
from .config import (DensifyConfig, FilterConfig, GeometryConfig, PhotometricConfig,
                     RegularizerConfig, TrainConfig)
from .gaussians import GaussianParams, build_covariance, build_rotation, inverse_sigmoid
from .image_losses import (MultiScalePhotometricLoss, PhotometricLoss, alpha_mask_loss, dssim,
                           edge_aware_smoothness, l1_loss, psnr, ssim)
from .regularizers import OpacityRegularizer, ScaleRegularizer
from .geometry import DepthNormalConsistency, depth_prior_loss, depth_to_normal
from .compositing import composite_front_to_back, rasterize_pixels, render_reference
from .filters import apply_3d_filter, compute_3d_filter, mip_filter_2d, project_gaussians
from .training import DensificationStats, SplatObjective, train_step

__version__ = "0.3.1"
