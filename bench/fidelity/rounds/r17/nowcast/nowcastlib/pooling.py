"""Spatial pooling and neighbourhood losses that tolerate small displacement errors."""
import torch.nn as nn
import torch.nn.functional as F

from .functional import reduce_loss


def pool_field(x, scale, mode="avg"):
    if scale == 1:
        return x
    if mode == "avg":
        return F.avg_pool2d(x, kernel_size=scale, stride=scale, ceil_mode=True)
    if mode == "max":
        return F.max_pool2d(x, kernel_size=scale, stride=scale, ceil_mode=True)
    raise ValueError(f"unknown pooling mode {mode!r}")


def image_gradients(x):
    dy = x[..., 1:, :] - x[..., :-1, :]
    dx = x[..., :, 1:] - x[..., :, :-1]
    return dy, dx


class MultiScalePoolingLoss(nn.Module):
    """Distance between forecast and observation pooled to several coarser grids."""

    def __init__(self, scales=(1, 2, 4, 8), mode="avg", p=2.0, weights=None, reduction="mean"):
        super().__init__()
        self.scales = tuple(scales)
        self.mode = mode
        self.p = p
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(self.scales)
        if len(self.weights) != len(self.scales):
            raise ValueError("need one weight per scale")
        self.reduction = reduction

    def forward(self, pred, target):
        total = pred.new_zeros(())
        for scale, weight in zip(self.scales, self.weights):
            diff = (pool_field(pred, scale, self.mode) - pool_field(target, scale, self.mode)).abs()
            term = diff if self.p == 1 else diff ** self.p
            total = total + weight * reduce_loss(term, self.reduction)
        return total / sum(self.weights)


class NeighbourhoodToleranceLoss(nn.Module):
    """Penalises forecast rain with no observed rain within ``kernel`` pixels, and
    observed rain with no forecast rain within ``kernel`` pixels."""

    def __init__(self, kernel=5, miss_weight=1.0, reduction="mean"):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError("kernel must be odd")
        self.kernel = kernel
        self.miss_weight = miss_weight
        self.reduction = reduction

    def forward(self, pred, target):
        pad = self.kernel // 2
        t_max = F.max_pool2d(target, self.kernel, stride=1, padding=pad)
        p_max = F.max_pool2d(pred, self.kernel, stride=1, padding=pad)
        false_alarm = F.relu(pred - t_max).pow(2)
        miss = F.relu(target - p_max)
        return reduce_loss(false_alarm + self.miss_weight * miss, self.reduction)


class GradientDifferenceLoss(nn.Module):
    """Gradient difference loss (Mathieu et al., 2016) against blurry nowcasts."""

    def __init__(self, alpha=1.0, reduction="mean"):
        super().__init__()
        self.alpha = alpha
        self.reduction = reduction

    def forward(self, pred, target):
        pdy, pdx = image_gradients(pred)
        tdy, tdx = image_gradients(target)
        ly = (pdy.abs() - tdy.abs()).abs() ** self.alpha
        lx = (pdx.abs() - tdx.abs()).abs() ** self.alpha
        return reduce_loss(ly, self.reduction) + reduce_loss(lx, self.reduction)
