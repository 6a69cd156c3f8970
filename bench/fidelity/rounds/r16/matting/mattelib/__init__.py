"""mattelib: losses, refinement heads and evaluation metrics for natural image matting."""
from .config import EvalConfig, LossConfig, RefineConfig, TrainConfig
from .losses import (
    AlphaPredictionLoss,
    AlphaSparsityLoss,
    CompositionLoss,
    ConnectivityLoss,
    ForegroundLoss,
    GradientLoss,
    LaplacianLoss,
    MattingCriterion,
    TrimapWeightedL1Loss,
    detail_loss,
)
from .metrics import (
    MattingMetrics,
    compute_connectivity_error,
    compute_gradient_error,
    compute_mse,
    compute_sad,
)
from .refinement import GuidedFilterRefiner, PatchRefiner, ProgressiveRefinement, RefinementHead
from .trimap import pseudo_trimap, trimap_from_alpha, unknown_mask

__version__ = "0.3.1"
