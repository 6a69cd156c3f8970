"""Training losses for precipitation nowcasting."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import BalancedLossConfig, ThresholdConfig
from .functional import (crps_ensemble, crps_ensemble_sorted, crps_gaussian, fractions,
                         fss_from_fractions, hard_pixel_mean, hard_threshold,
                         intensity_weights, masked_mean, pinball_loss, power_transform,
                         reduce_loss, soft_threshold)
from .transforms import rain_to_classes


class SoftCSILoss(nn.Module):
    """One minus a differentiable critical success index, averaged over thresholds."""

    def __init__(self, cfg=None, straight_through=False, skip_empty=False, reduction="mean"):
        super().__init__()
        self.cfg = cfg or ThresholdConfig()
        self.straight_through = straight_through
        self.skip_empty = skip_empty
        self.reduction = reduction

    def forward(self, pred, target, mask=None):
        dims = (-2, -1)
        losses = []
        for thr in self.cfg.thresholds:
            p = soft_threshold(pred, thr, self.cfg.temperature)
            if self.straight_through:
                p = hard_threshold(pred, thr) + p - p.detach()
            o = hard_threshold(target, thr)
            if mask is not None:
                p, o = p * mask, o * mask
            if self.skip_empty and o.sum() == 0 and p.sum() < 0.5:
                losses.append(torch.zeros_like(p.sum(dim=dims)))
                continue
            hits = (p * o).sum(dim=dims)
            misses = ((1.0 - p) * o).sum(dim=dims)
            false_alarms = (p * (1.0 - o)).sum(dim=dims)
            csi = (hits + self.cfg.smooth) / (hits + misses + false_alarms + self.cfg.smooth)
            losses.append(1.0 - csi)
        return reduce_loss(torch.stack(losses, dim=-1), self.reduction)


class SoftETSLoss(nn.Module):
    """One minus the equitable threat score of the sigmoid-relaxed forecast."""

    def __init__(self, cfg=None, reduction="mean"):
        super().__init__()
        self.cfg = cfg or ThresholdConfig()
        self.reduction = reduction

    def forward(self, pred, target):
        n = pred.shape[-2] * pred.shape[-1]
        losses = []
        for thr in self.cfg.thresholds:
            p = soft_threshold(pred, thr, self.cfg.temperature)
            o = hard_threshold(target, thr)
            hits = (p * o).sum(dim=(-2, -1))
            misses = ((1.0 - p) * o).sum(dim=(-2, -1))
            false_alarms = (p * (1.0 - o)).sum(dim=(-2, -1))
            hits_random = (hits + misses) * (hits + false_alarms) / n
            ets = (hits - hits_random) / (hits + misses + false_alarms - hits_random)
            losses.append(1.0 - ets)
        return reduce_loss(torch.stack(losses, dim=-1), self.reduction)


class FSSLoss(nn.Module):
    """One minus the fractions skill score over several neighbourhood sizes."""

    def __init__(self, threshold=2.0, scales=(1, 5, 9), temperature=0.5, percentile=None,
                 eps=1e-6, reduction="mean"):
        super().__init__()
        self.threshold = threshold
        self.scales = tuple(scales)
        self.temperature = temperature
        self.percentile = percentile
        self.eps = eps
        self.reduction = reduction

    def _thresholds(self, pred, target):
        if self.percentile is None:
            return self.threshold, self.threshold
        q = self.percentile / 100.0
        tp = torch.quantile(pred.flatten(-2), q, dim=-1)[..., None, None]
        to = torch.quantile(target.flatten(-2), q, dim=-1)[..., None, None]
        return tp, to

    def forward(self, pred, target):
        tp, to = self._thresholds(pred, target)
        bp = soft_threshold(pred, tp, self.temperature)
        bo = hard_threshold(target, to)
        losses = []
        for scale in self.scales:
            fss = fss_from_fractions(fractions(bp, scale), fractions(bo, scale), self.eps)
            losses.append(1.0 - fss)
        return reduce_loss(torch.stack(losses, dim=-1), self.reduction)


class BalancedMSEMAE(nn.Module):
    """Balanced MSE + MAE with rain-intensity dependent pixel weights."""

    def __init__(self, cfg=None, weight_by="target", hard_frac=None, reduction="mean"):
        super().__init__()
        self.cfg = cfg or BalancedLossConfig()
        self.weight_by = weight_by
        self.hard_frac = hard_frac
        self.reduction = reduction

    def forward(self, pred, target, mask=None):
        if self.weight_by == "target":
            ref = target
        elif self.weight_by == "max":
            ref = torch.maximum(pred, target)
        else:
            raise ValueError(f"unknown weight_by {self.weight_by!r}")
        w = intensity_weights(ref, self.cfg.boundaries, self.cfg.weights)
        if mask is not None:
            w = w * mask.to(w.dtype)
        err = pred - target
        pixel = self.cfg.mse_weight * w * err ** 2 + self.cfg.mae_weight * w * err.abs()
        if self.hard_frac is not None:
            per_sample = hard_pixel_mean(pixel, self.hard_frac)
        else:
            per_sample = pixel.sum(dim=(-2, -1))
        return reduce_loss(self.cfg.normal_loss_global_scale * per_sample, self.reduction)


class IntensityWeightedMAE(nn.Module):
    """MAE with weights growing as a power of the rain intensity."""

    def __init__(self, gamma=1.0, cap=50.0, use_forecast=True, reduction="mean"):
        super().__init__()
        self.gamma = gamma
        self.cap = cap
        self.use_forecast = use_forecast
        self.reduction = reduction

    def forward(self, pred, target, mask=None):
        ref = target.clamp(0.0, self.cap)
        if self.use_forecast:
            ref = torch.maximum(ref, pred.detach().clamp(0.0, self.cap))
        w = 1.0 + ref ** self.gamma
        pixel = w * (pred - target).abs()
        if self.reduction == "mean":
            return masked_mean(pixel, mask)
        return reduce_loss(pixel, self.reduction)


class TransformedMSE(nn.Module):
    """MSE after a power transform that compresses heavy rain."""

    def __init__(self, gamma=0.5, reduction="mean"):
        super().__init__()
        self.gamma = gamma
        self.reduction = reduction

    def forward(self, pred, target):
        diff = power_transform(pred, self.gamma) - power_transform(target, self.gamma)
        return reduce_loss(diff ** 2, self.reduction)


class QuantileLoss(nn.Module):
    """Pinball loss of a multi-quantile forecast of shape (B, Q, ...)."""

    def __init__(self, quantiles=(0.1, 0.5, 0.9), crossing_weight=0.0, reduction="mean"):
        super().__init__()
        self.quantiles = tuple(quantiles)
        self.crossing_weight = crossing_weight
        self.reduction = reduction

    def forward(self, pred, target):
        if pred.shape[1] != len(self.quantiles):
            raise ValueError("pred must have one channel per quantile")
        terms = [pinball_loss(pred[:, i], target, q) for i, q in enumerate(self.quantiles)]
        loss = reduce_loss(torch.stack(terms, dim=1), self.reduction)
        if self.crossing_weight > 0:
            crossing = F.relu(pred[:, :-1] - pred[:, 1:])
            loss = loss + self.crossing_weight * crossing.mean()
        return loss


class EnsembleCRPSLoss(nn.Module):
    def __init__(self, fair=True, sorted_impl=False, member_dim=1, reduction="mean"):
        super().__init__()
        self.fair = fair
        self.sorted_impl = sorted_impl
        self.member_dim = member_dim
        self.reduction = reduction

    def forward(self, members, target):
        if self.sorted_impl:
            crps = crps_ensemble_sorted(members, target, dim=self.member_dim)
        else:
            crps = crps_ensemble(members, target, dim=self.member_dim, fair=self.fair)
        return reduce_loss(crps, self.reduction)


class GaussianCRPSLoss(nn.Module):
    def __init__(self, min_sigma=1e-3, reduction="mean"):
        super().__init__()
        self.min_sigma = min_sigma
        self.reduction = reduction

    def forward(self, mu, raw_sigma, target):
        sigma = F.softplus(raw_sigma) + self.min_sigma
        return reduce_loss(crps_gaussian(mu, sigma, target), self.reduction)


class BinnedRainLoss(nn.Module):
    """Cross-entropy over rain-rate bins (MetNet style) with an optional CSI term."""

    def __init__(self, bin_edges, csi_weight=0.0, point_estimate="mean", thresholds=None):
        super().__init__()
        edges = torch.as_tensor(bin_edges, dtype=torch.float32)
        self.register_buffer("edges", edges)
        self.register_buffer("centers", 0.5 * (edges[:-1] + edges[1:]))
        self.csi_weight = csi_weight
        self.point_estimate = point_estimate
        self.csi = SoftCSILoss(thresholds)

    def point_forecast(self, logits):
        if self.point_estimate == "mean":
            probs = logits.softmax(dim=1)
            centers = self.centers.view(1, -1, *([1] * (logits.dim() - 2)))
            return (probs * centers).sum(dim=1)
        if self.point_estimate == "mode":
            return self.centers[logits.argmax(dim=1)]
        raise ValueError(f"unknown point estimate {self.point_estimate!r}")

    def forward(self, logits, target):
        labels = rain_to_classes(target, self.edges[1:-1])
        loss = F.cross_entropy(logits, labels)
        if self.csi_weight > 0:
            loss = loss + self.csi_weight * self.csi(self.point_forecast(logits), target)
        return loss


class VolumeBiasLoss(nn.Module):
    """Squared log-ratio of forecast and observed rain volume over wet scenes."""

    def __init__(self, min_volume=1.0):
        super().__init__()
        self.min_volume = min_volume

    def forward(self, pred, target):
        vp = pred.clamp_min(0.0).sum(dim=(-2, -1))
        vo = target.sum(dim=(-2, -1))
        wet = vo > self.min_volume
        if not wet.any():
            return vp.sum() * 0.0
        log_ratio = torch.log(vp[wet]) - torch.log(vo[wet])
        return (log_ratio ** 2).mean()
