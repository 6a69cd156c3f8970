"""Regularisers on Gaussian opacities, scales and rotations."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def opacity_entropy(opacity, eps=1e-6):
    o = opacity.clamp(eps, 1.0 - eps)
    return -(o * torch.log(o) + (1.0 - o) * torch.log(1.0 - o)).mean()


def opacity_binary(opacity):
    return torch.minimum(opacity, 1.0 - opacity).mean()


def opacity_sparsity(opacity, visibility=None):
    if visibility is not None:
        opacity = opacity[visibility]
    return opacity.mean() if opacity.numel() > 0 else opacity.sum()


def anisotropy_loss(scales, max_ratio=10.0):
    ratio = scales.amax(dim=-1) / scales.amin(dim=-1)
    return F.relu(ratio - max_ratio).mean()


def flatten_loss(scales):
    min_scale, _ = torch.min(scales, dim=-1)
    return min_scale.mean()


def large_scale_loss(scales, scene_extent, percent=0.1):
    limit = percent * scene_extent
    excess = (scales - limit).clamp_min(0.0)
    return (excess ** 2).sum(-1).mean()


def isotropic_loss(scales):
    mean_scale = scales.mean(dim=-1, keepdim=True)
    return torch.abs(scales - mean_scale).mean()


def volume_loss(scales):
    geo_mean = scales.prod(dim=-1).pow(1.0 / 3.0)
    return geo_mean.mean()


def quaternion_norm_loss(raw_rotation):
    return ((raw_rotation.norm(dim=-1) - 1.0) ** 2).mean()


def scale_spread(scales):
    """Per-Gaussian spread between the largest and the median axis, for logging."""
    with torch.no_grad():
        s_sorted, _ = torch.sort(scales, dim=-1)
        spread = s_sorted[:, 2] / s_sorted[:, 1].clamp_min(1e-12)
    return spread.median().item()


class OpacityRegularizer(nn.Module):
    def __init__(self, mode="entropy", weight=0.0):
        super().__init__()
        if mode not in ("entropy", "binary", "mean"):
            raise ValueError(f"unknown opacity regulariser {mode!r}")
        self.mode = mode
        self.weight = weight

    def forward(self, opacity, visibility=None):
        if self.weight <= 0:
            return opacity.new_zeros(())
        if self.mode == "entropy":
            reg = opacity_entropy(opacity)
        elif self.mode == "binary":
            reg = opacity_binary(opacity)
        else:
            reg = opacity_sparsity(opacity, visibility)
        return self.weight * reg


class ScaleRegularizer(nn.Module):
    def __init__(self, cfg, scene_extent=1.0):
        super().__init__()
        self.cfg = cfg
        self.scene_extent = scene_extent

    def forward(self, scales, raw_rotation=None):
        cfg = self.cfg
        total = scales.new_zeros(())
        terms = {}
        if cfg.lambda_aniso > 0:
            terms["aniso"] = cfg.lambda_aniso * anisotropy_loss(scales, cfg.max_aniso_ratio)
        if cfg.lambda_flatten > 0:
            terms["flatten"] = cfg.lambda_flatten * flatten_loss(scales)
        if cfg.lambda_large_scale > 0:
            terms["large"] = cfg.lambda_large_scale * large_scale_loss(
                scales, self.scene_extent, cfg.large_scale_percent)
        if cfg.lambda_isotropic > 0:
            terms["iso"] = cfg.lambda_isotropic * isotropic_loss(scales)
        if cfg.lambda_volume > 0:
            terms["volume"] = cfg.lambda_volume * volume_loss(scales)
        if cfg.lambda_quat_norm > 0 and raw_rotation is not None:
            terms["quat"] = cfg.lambda_quat_norm * quaternion_norm_loss(raw_rotation)
        for v in terms.values():
            total = total + v
        log = {k: v.item() for k, v in terms.items()}
        log["spread"] = scale_spread(scales)
        return total, log
