"""nowcastlib: losses, verification scores and training utilities for radar
precipitation nowcasting."""
from .config import (BalancedLossConfig, LossConfig, RolloutConfig, SpectralConfig,
                     ThresholdConfig)
from .functional import (crps_ensemble, crps_ensemble_sorted, crps_gaussian, fractions,
                         intensity_weights, pinball_loss, reduce_loss, soft_threshold)
from .losses import (BalancedMSEMAE, BinnedRainLoss, EnsembleCRPSLoss, FSSLoss,
                     GaussianCRPSLoss, IntensityWeightedMAE, QuantileLoss, SoftCSILoss,
                     SoftETSLoss, VolumeBiasLoss)
from .metrics import SkillTracker, contingency_table, fss_score
from .pooling import GradientDifferenceLoss, MultiScalePoolingLoss, NeighbourhoodToleranceLoss
from .spectral import LogSpectralDistance, SpectralAmplitudeLoss, SpectralLoss, SpectralSlopeLoss
from .train import build_criteria, evaluate, rollout, train_step

__version__ = "0.3.1"

__all__ = [
    "BalancedLossConfig", "LossConfig", "RolloutConfig", "SpectralConfig", "ThresholdConfig",
    "crps_ensemble", "crps_ensemble_sorted", "crps_gaussian", "fractions",
    "intensity_weights", "pinball_loss", "reduce_loss", "soft_threshold",
    "BalancedMSEMAE", "BinnedRainLoss", "EnsembleCRPSLoss", "FSSLoss", "GaussianCRPSLoss",
    "IntensityWeightedMAE", "QuantileLoss", "SoftCSILoss", "SoftETSLoss", "VolumeBiasLoss",
    "SkillTracker", "contingency_table", "fss_score",
    "GradientDifferenceLoss", "MultiScalePoolingLoss", "NeighbourhoodToleranceLoss",
    "LogSpectralDistance", "SpectralAmplitudeLoss", "SpectralLoss", "SpectralSlopeLoss",
    "build_criteria", "evaluate", "rollout", "train_step",
]
