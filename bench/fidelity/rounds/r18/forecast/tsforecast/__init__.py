"""tsforecast: probabilistic time-series forecasting losses, heads and training loops in PyTorch."""
from .config import LossConfig, ScalerConfig, TrainConfig
from .distributions import AffineTransformed, DistributionOutput, MixtureNormalOutput, NegativeBinomialOutput, NormalOutput
from .losses import (DistributionLoss, IntervalScoreLoss, PointMetricLoss, QuantileLoss, SampleCRPSLoss,
                     SoftDTWLoss, WeightedQuantileLoss, build_loss, crps_ensemble, crps_from_quantiles,
                     energy_score, quantile_loss)
from .metrics import coverage, mape, mase, rmse, rmsse, smape, weighted_quantile_loss
from .scaling import MeanScaler, RevIN, RobustScaler, StdScaler, build_scaler
from .soft_dtw import DILATELoss, SoftDTW, dtw_path
from .training import GRUForecaster, MLPForecaster, QuantileForecaster, evaluate, point_train_step, train_step

__version__ = "0.1.0"
