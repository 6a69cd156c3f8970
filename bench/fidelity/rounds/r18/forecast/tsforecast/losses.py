"""Training objectives for point, quantile, sample-based and parametric forecasts."""
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import LossConfig
from .distributions import Distribution
from .metrics import mase, rmse, rmsse, smape
from .scaling import weighted_average
from .soft_dtw import DILATELoss, SoftDTW


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def quantile_loss(target: torch.Tensor, forecast: torch.Tensor, q: float) -> torch.Tensor:
    """Pinball loss of a single quantile level (GluonTS convention, twice the usual scale)."""
    return 2.0 * torch.abs((target - forecast) * ((target <= forecast).float() - q))


def quantile_huber_loss(target, forecast, q, kappa: float = 1.0):
    """Quantile loss with a quadratic region of half-width ``kappa`` around zero error."""
    err = target - forecast
    abs_err = torch.abs(err)
    huber = torch.where(abs_err <= kappa, 0.5 * err * err / kappa, abs_err - 0.5 * kappa)
    weight = torch.abs(q - (err < 0).to(err.dtype))
    return weight * huber


def sort_quantiles(forecast: torch.Tensor) -> torch.Tensor:
    """Rearrange crossing quantile forecasts (last axis) into increasing order."""
    if torch.any(forecast[..., 1:] < forecast[..., :-1]):
        forecast, _ = torch.sort(forecast, dim=-1)
    return forecast


class QuantileLoss(nn.Module):
    """Multi-quantile pinball loss; the quantile levels sit on the last axis of ``forecast``."""

    def __init__(self, quantiles: Sequence[float] = (0.1, 0.5, 0.9), reduction: str = "mean",
                 kappa: float = 0.0, crossing_penalty: float = 0.0):
        super().__init__()
        self.register_buffer("quantiles", torch.tensor(list(quantiles)))
        self.reduction = reduction
        self.kappa = kappa
        self.crossing_penalty = crossing_penalty

    def forward(self, forecast, target, mask: Optional[torch.Tensor] = None, insample=None):
        q = self.quantiles.to(forecast.dtype)
        if self.kappa > 0:
            losses = quantile_huber_loss(target.unsqueeze(-1), forecast, q, self.kappa)
        else:
            errors = target.unsqueeze(-1) - forecast
            losses = torch.max((q - 1.0) * errors, q * errors)
        if mask is not None:
            losses = losses * mask.unsqueeze(-1)
        loss = _reduce(losses.sum(-1), self.reduction)
        if self.crossing_penalty > 0:
            crossing = F.relu(forecast[..., :-1] - forecast[..., 1:])
            loss = loss + self.crossing_penalty * crossing.mean()
        return loss


def crps_from_quantiles(forecast, target, quantiles: Sequence[float]) -> torch.Tensor:
    """Approximate the CRPS by the mean pinball loss over a grid of quantile levels."""
    forecast = sort_quantiles(forecast)
    losses = [quantile_loss(target, forecast[..., i], q) for i, q in enumerate(quantiles)]
    return torch.stack(losses, dim=-1).mean(dim=-1)


class WeightedQuantileLoss(nn.Module):
    """Mean weighted quantile loss (wQL), normalised by the absolute target mass."""

    def __init__(self, quantiles: Sequence[float]):
        super().__init__()
        self.quantiles = tuple(quantiles)

    def forward(self, forecast, target, mask=None, insample=None):
        crps = crps_from_quantiles(forecast, target, self.quantiles)
        if mask is not None:
            crps = crps * mask
            target = target * mask
        denom = max(target.abs().sum().item(), 1e-8)
        return crps.sum() / denom


def crps_ensemble(samples: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sample CRPS via sorted samples; ``samples`` is ``(num_samples, *target.shape)``."""
    m = samples.shape[0]
    abs_error = torch.abs(samples - target.unsqueeze(0)).mean(dim=0)
    sorted_samples, _ = torch.sort(samples, dim=0)
    rank = torch.arange(1, m + 1, dtype=samples.dtype, device=samples.device)
    weights = (2.0 * rank - m - 1.0) / (m * m)
    weights = weights.view((m,) + (1,) * (samples.dim() - 1))
    return abs_error - (weights * sorted_samples).sum(dim=0)


def energy_score(samples: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Multivariate energy score; ``samples`` is ``(S, B, D)`` and ``target`` is ``(B, D)``."""
    obs_dist = torch.norm(samples - target.unsqueeze(0), dim=-1)
    points = samples.transpose(0, 1)
    pair_dist = torch.cdist(points, points)
    if beta != 1.0:
        obs_dist = obs_dist**beta
        pair_dist = pair_dist**beta
    return obs_dist.mean(dim=0) - 0.5 * pair_dist.mean(dim=(-2, -1))


class DistributionLoss(nn.Module):
    """Negative log-likelihood (or closed-form CRPS) of a parametric predictive distribution."""

    def __init__(self, kind: str = "nll", point_loss_weight: float = 0.0):
        super().__init__()
        self.kind = kind
        self.point_loss_weight = point_loss_weight

    def forward(self, distr: Distribution, target, observed=None):
        if self.kind == "crps":
            loss = distr.crps(target)
        else:
            loss = -distr.log_prob(target)
        if self.point_loss_weight > 0.0:
            point = distr.point_forecast()
            loss = loss + self.point_loss_weight * torch.abs(point - target)
        return weighted_average(loss, observed)


class SampleCRPSLoss(nn.Module):
    """CRPS estimated from reparameterised samples of the predictive distribution."""

    def __init__(self, num_samples: int = 50, sharpness_weight: float = 0.0):
        super().__init__()
        self.num_samples = num_samples
        self.sharpness_weight = sharpness_weight

    def forward(self, distr: Distribution, target, observed=None):
        samples = distr.rsample(self.num_samples)
        loss = crps_ensemble(samples, target)
        if self.sharpness_weight > 0:
            arr = samples.detach().cpu().numpy()
            width = np.percentile(arr, 95, axis=0) - np.percentile(arr, 5, axis=0)
            loss = loss + self.sharpness_weight * torch.as_tensor(width, dtype=loss.dtype, device=loss.device)
        return weighted_average(loss, observed)


class IntervalScoreLoss(nn.Module):
    """Winkler interval score of a central ``(1 - alpha)`` prediction interval."""

    def __init__(self, alpha: float = 0.1, reduction: str = "mean"):
        super().__init__()
        self.alpha = alpha
        self.reduction = reduction

    def forward(self, lower, upper, target):
        below = (lower - target) * (target < lower).to(target.dtype)
        above = (target - upper) * (target > upper).to(target.dtype)
        score = (upper - lower) + (2.0 / self.alpha) * (below + above)
        return _reduce(score, self.reduction)


class PointMetricLoss(nn.Module):
    """Trains a point forecaster directly on sMAPE, MASE, RMSSE or RMSE (N-BEATS style)."""

    def __init__(self, metric: str = "smape", seasonality: int = 1):
        super().__init__()
        self.metric = metric
        self.seasonality = seasonality

    def forward(self, forecast, target, mask, insample=None):
        if self.metric == "smape":
            return smape(forecast, target, mask)
        if self.metric == "mase":
            return mase(insample, self.seasonality, forecast, target, mask)
        if self.metric == "rmsse":
            return rmsse(insample, self.seasonality, forecast, target, mask)
        return rmse(forecast * mask, target * mask)


class SoftDTWLoss(nn.Module):
    def __init__(self, gamma: float = 0.1, normalize: bool = False, metric: str = "sqeuclidean"):
        super().__init__()
        self.sdtw = SoftDTW(gamma=gamma, normalize=normalize, metric=metric)

    def forward(self, forecast, target, mask, insample=None):
        return self.sdtw(forecast.unsqueeze(-1), (target * mask).unsqueeze(-1)).mean()


def build_loss(cfg: LossConfig) -> nn.Module:
    name = cfg.name
    if name in ("nll", "crps"):
        return DistributionLoss(kind=name, point_loss_weight=cfg.point_loss_weight)
    if name == "sample_crps":
        return SampleCRPSLoss(cfg.num_samples, cfg.sharpness_weight)
    if name == "quantile":
        return QuantileLoss(cfg.quantiles, cfg.reduction, cfg.huber_kappa, cfg.crossing_penalty)
    if name == "wql":
        return WeightedQuantileLoss(cfg.quantiles)
    if name in ("smape", "mase", "rmsse", "rmse"):
        return PointMetricLoss(name, cfg.seasonality)
    if name == "soft_dtw":
        return SoftDTWLoss(cfg.soft_dtw_gamma, cfg.soft_dtw_normalize, cfg.soft_dtw_metric)
    if name == "dilate":
        return DILATELoss(cfg.dilate_alpha, cfg.soft_dtw_gamma)
    raise ValueError(f"unknown loss {name!r}")
