"""flowloss: losses and metrics for supervised and unsupervised optical flow and stereo.

Typical use::

    from flowloss import FlowLossConfig, UnsupervisedFlowLoss

    criterion = UnsupervisedFlowLoss(FlowLossConfig.uflow())
    loss, logs = criterion(image1, image2, flows_fw, flows_bw)
"""

from .config import (
    FlowLossConfig,
    OcclusionConfig,
    PhotometricConfig,
    SequenceLossConfig,
    SmoothnessConfig,
)
from .occlusion import (
    estimate_occlusion,
    f1_occlusion_loss,
    fb_consistency_mask,
    occlusion_bce,
    range_map,
    range_map_occlusion,
)
from .photometric import (
    abs_robust_loss,
    census_loss,
    census_transform,
    charbonnier,
    masked_mean,
    min_reprojection_error,
    photometric_error,
    ssim,
    trimmed_mean,
    weighted_ssim,
)
from .smoothness import (
    EdgeAwareSmoothness,
    disparity_smoothness,
    first_order_smoothness,
    second_order_smoothness,
)
from .stereo import (
    StereoPhotometricLoss,
    disparity_range_penalty,
    disparity_regression,
    masked_smooth_l1,
    stacked_hourglass_loss,
    stereo_metrics,
    topk_disparity_regression,
    wta_d1,
)
from .supervised import (
    average_epe,
    endpoint_error,
    flow_outlier_rate,
    mixture_laplace_sequence_loss,
    multiscale_loss,
    sequence_loss,
    sequence_metrics,
)
from .unsupervised import UnsupervisedFlowLoss, train_step
from .warp import (
    convex_upsample,
    coords_grid,
    disparity_to_flow,
    flow_warp,
    out_of_bounds_mask,
    resize_flow,
    warp_with_validity,
)

__version__ = "0.4.0"
