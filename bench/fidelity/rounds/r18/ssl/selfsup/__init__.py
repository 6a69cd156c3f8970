"""selfsup: self-supervised and distillation objectives for PyTorch."""

from .byol import BYOLLoss, MomentumUpdater, byol_regression_loss, simsiam_loss
from .config import BarlowTwinsConfig, BYOLConfig, DINOConfig, DistillConfig, SimCLRConfig, VICRegConfig
from .contrastive import (DebiasedContrastiveLoss, InfoNCELoss, LearnableTemperatureNCE, NTXentLoss,
                          SupConLoss, alignment_loss, uniformity_loss)
from .dino import DINOLoss, KoLeoLoss, PrototypeAssignmentLoss, sinkhorn_knopp
from .distill import HintLoss, KDLoss, RKDLoss, attention_transfer_loss, dkd_loss, kd_loss
from .normalize import cross_correlation, feature_std, l2_normalize, off_diagonal
from .redundancy import BarlowTwinsLoss, VICRegLoss, barlow_twins_loss, total_coding_rate

__version__ = "0.3.1"
