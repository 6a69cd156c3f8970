"""robustfit: robust linear regression in plain numpy.

M-estimators (Huber, Tukey biweight, Cauchy, log-cosh), quantile regression,
L1 / elastic-net / group penalties with proximal steps, IRLS and first-order
solvers, and robust scale estimates.
"""
from .config import FitConfig, LossConfig, PenaltyConfig, SolverConfig
from .losses import (AbsoluteLoss, CauchyLoss, HuberLoss, LogCoshLoss,
                     PinballLoss, SquaredLoss, TukeyBiweight, get_loss)
from .penalties import (ElasticNetPenalty, GroupLassoPenalty, L1Penalty,
                        L2Penalty, get_penalty, soft_threshold)
from .scale import huber_proposal2_scale, median_absolute_deviation, robust_scale
from .solvers import fista, gradient_descent, irls
from .estimator import RobustRegressor, QuantileRegressor

__version__ = "0.3.1"
