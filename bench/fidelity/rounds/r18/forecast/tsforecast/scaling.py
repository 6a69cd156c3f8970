"""Scalers that normalise each series by statistics of its observed context window."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .config import ScalerConfig


def weighted_average(
    x: torch.Tensor, weights: Optional[torch.Tensor] = None, dim: Optional[int] = None
) -> torch.Tensor:
    """Average of ``x`` along ``dim``, ignoring entries whose weight is zero."""
    if weights is None:
        return x.mean(dim=dim) if dim is not None else x.mean()
    weighted = torch.where(weights != 0, x * weights, torch.zeros_like(x))
    if dim is None:
        return weighted.sum() / torch.clamp(weights.sum(), min=1.0)
    sum_weights = torch.clamp(weights.sum(dim=dim), min=1.0)
    return weighted.sum(dim=dim) / sum_weights


class Scaler(nn.Module):
    """Base class: returns ``(scaled_data, loc, scale)``."""

    def __init__(self, dim: int = 1, keepdim: bool = True, minimum_scale: float = 1e-10):
        super().__init__()
        self.dim = dim
        self.keepdim = keepdim
        self.minimum_scale = minimum_scale

    def forward(
        self, data: torch.Tensor, observed_indicator: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class MeanScaler(Scaler):
    """Divides by the mean absolute observed value of each series (DeepAR style)."""

    def __init__(self, dim=1, keepdim=True, minimum_scale=1e-10, default_scale=None):
        super().__init__(dim, keepdim, minimum_scale)
        self.default_scale = default_scale

    def forward(self, data, observed_indicator):
        ts_sum = (data * observed_indicator).abs().sum(self.dim, keepdim=True)
        num_observed = observed_indicator.sum(self.dim, keepdim=True)
        scale = ts_sum / torch.clamp(num_observed, min=1)

        if self.default_scale is None:
            batch_sum = ts_sum.sum(dim=0)
            batch_observations = torch.clamp(num_observed.sum(0), min=1)
            default_scale = torch.squeeze(batch_sum / batch_observations)
        else:
            default_scale = self.default_scale * torch.ones_like(scale)

        scale = torch.where(num_observed > 0, scale, default_scale)
        scale = torch.clamp(scale, min=self.minimum_scale)
        scaled_data = data / scale
        if not self.keepdim:
            scale = scale.squeeze(dim=self.dim)
        return scaled_data, torch.zeros_like(scale), scale


class StdScaler(Scaler):
    """Standardises each series by its observed mean and standard deviation."""

    def forward(self, data, observed_indicator):
        denominator = observed_indicator.sum(self.dim, keepdim=True).clamp_min(1.0)
        loc = (data * observed_indicator).sum(self.dim, keepdim=True) / denominator
        centred = (data - loc) * observed_indicator
        variance = (centred**2).sum(self.dim, keepdim=True) / denominator
        scale = torch.sqrt(variance + self.minimum_scale)
        return (data - loc) / scale, loc, scale


class RobustScaler(Scaler):
    """Median / inter-quartile-range scaling, robust to outliers in the context."""

    def forward(self, data, observed_indicator):
        masked = torch.where(observed_indicator > 0, data, torch.full_like(data, float("nan")))
        loc = torch.nanmedian(masked, dim=self.dim, keepdim=True).values
        q75 = torch.nanquantile(masked, 0.75, dim=self.dim, keepdim=True)
        q25 = torch.nanquantile(masked, 0.25, dim=self.dim, keepdim=True)
        scale = torch.nan_to_num(q75 - q25, nan=1.0).clamp_min(self.minimum_scale)
        loc = torch.nan_to_num(loc, nan=0.0)
        return (data - loc) / scale, loc, scale


def build_scaler(cfg: ScalerConfig) -> Scaler:
    if cfg.kind == "mean":
        return MeanScaler(cfg.dim, cfg.keepdim, cfg.minimum_scale, cfg.default_scale)
    if cfg.kind == "std":
        return StdScaler(cfg.dim, cfg.keepdim, cfg.minimum_scale)
    if cfg.kind == "robust":
        return RobustScaler(cfg.dim, cfg.keepdim, cfg.minimum_scale)
    raise ValueError(f"unknown scaler {cfg.kind!r}")


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al., 2022) with a learnable affine map.

    Inputs are shaped ``(batch, time, channels)``.
    """

    def __init__(self, num_features: int = 1, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.affine_weight = nn.Parameter(torch.ones(num_features))
            self.affine_bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        if mode == "norm":
            self._get_statistics(x)
            return self._normalize(x)
        if mode == "denorm":
            return self._denormalize(x)
        raise ValueError(f"unknown mode {mode!r}")

    def _get_statistics(self, x):
        dims = tuple(range(1, x.ndim - 1))
        self.mean = torch.mean(x, dim=dims, keepdim=True).detach()
        variance = torch.var(x, dim=dims, keepdim=True, unbiased=False)
        self.stdev = torch.sqrt(variance + self.eps).detach()

    def _normalize(self, x):
        x = (x - self.mean) / self.stdev
        if self.affine:
            x = x * self.affine_weight + self.affine_bias
        return x

    def _denormalize(self, x):
        if self.affine:
            x = x - self.affine_bias
            x = x / (self.affine_weight + self.eps * self.eps)
        return x * self.stdev + self.mean
