"""Refinement heads: MG-Matting progressive refinement, BGMv2 patch refinement, deep guided filter."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import functional as MF
from .config import RefineConfig


class ProgressiveRefinement(nn.Module):
    """Progressive Refinement Module (Yu et al., 2021): each finer output only replaces the
    coarser prediction inside the uncertain band of the previous stage."""

    def __init__(self, train_width: Tuple[int, int] = (1, 30), test_width: int = 15):
        super().__init__()
        self.train_width = train_width
        self.test_width = test_width

    def forward(self, alpha_os8: torch.Tensor, alpha_os4: torch.Tensor, alpha_os1: torch.Tensor):
        width = self.train_width[1] if self.training else self.test_width
        alpha = alpha_os8.clone()
        weight_os4 = MF.uncertain_region_from_pred(alpha, width, self.training)
        alpha = torch.where(weight_os4 > 0, alpha_os4, alpha)
        weight_os1 = MF.uncertain_region_from_pred(alpha, max(width // 2, 2), self.training)
        alpha = torch.where(weight_os1 > 0, alpha_os1, alpha)
        return {"alpha": alpha, "alpha_os4": alpha_os4, "alpha_os8": alpha_os8,
                "weight_os4": weight_os4, "weight_os1": weight_os1}


class RefinementHead(nn.Module):
    """Three 3x3 conv-BN-ReLU blocks predicting an alpha residual and a fresh error estimate."""

    def __init__(self, in_channels: int, hidden: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden // 2)
        self.conv3 = nn.Conv2d(hidden // 2, 8, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(8)
        self.out = nn.Conv2d(8, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.out(x)


def crop_patches(x: torch.Tensor, idx, size: int, padding: int) -> torch.Tensor:
    """Gather (size + 2 * padding)^2 patches at the grid cells listed in ``idx``."""
    if padding:
        x = F.pad(x, (padding,) * 4)
    win = size + 2 * padding
    x = x.permute(0, 2, 3, 1).unfold(1, win, size).unfold(2, win, size)
    return x[idx[0], idx[1], idx[2]]


def replace_patches(x: torch.Tensor, y: torch.Tensor, idx) -> torch.Tensor:
    b, c, h, w = x.shape
    _, _, ph, pw = y.shape
    x = x.view(b, c, h // ph, ph, w // pw, pw).permute(0, 2, 4, 1, 3, 5).clone()
    x[idx[0], idx[1], idx[2]] = y
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


class PatchRefiner(nn.Module):
    """BGMv2-style refiner: re-predicts only the patches where the coarse error map is high."""

    def __init__(self, cfg: RefineConfig, hidden_channels: int = 32):
        super().__init__()
        self.mode = cfg.mode
        self.sample_pixels = cfg.sample_pixels
        self.threshold = cfg.threshold
        self.prevent_oversampling = cfg.prevent_oversampling
        self.patch_size = cfg.patch_size
        self.padding = cfg.patch_padding
        self.head = RefinementHead(hidden_channels + 3 + 1, cfg.hidden_channels)

    def select_refinement_regions(self, err: torch.Tensor) -> torch.Tensor:
        if self.mode == "sampling":
            b, _, h, w = err.shape
            flat = err.view(b, -1)
            k = min(self.sample_pixels // self.patch_size ** 2, flat.shape[1])
            idx = flat.topk(k, dim=1, sorted=False).indices
            ref = torch.zeros_like(flat).scatter_(1, idx, 1.0)
            if self.prevent_oversampling:
                ref = ref * flat.gt(0).float()
            return ref.view(b, 1, h, w)
        if self.mode == "thresholding":
            return err.gt(self.threshold).float()
        return torch.ones_like(err)

    def forward(self, image: torch.Tensor, coarse_alpha: torch.Tensor, coarse_err: torch.Tensor,
                hidden: torch.Tensor) -> dict:
        h, w = image.shape[-2:]
        grid = (h // self.patch_size, w // self.patch_size)
        with torch.no_grad():
            err = F.interpolate(coarse_err, size=grid, mode="bilinear", align_corners=False)
            ref = self.select_refinement_regions(err)
        alpha = F.interpolate(coarse_alpha, size=(h, w), mode="bilinear", align_corners=False)
        idx = torch.nonzero(ref.squeeze(1), as_tuple=True)
        if idx[0].numel() > 0:
            hid = F.interpolate(hidden, size=(h, w), mode="bilinear", align_corners=False)
            x = torch.cat([image, alpha.detach(), hid], dim=1)
            patches = crop_patches(x, idx, self.patch_size, self.padding)
            delta = self.head(patches)[:, :1, self.padding:-self.padding, self.padding:-self.padding]
            base = crop_patches(alpha, idx, self.patch_size, 0)
            alpha = replace_patches(alpha, base + delta, idx)
        alpha = alpha.clamp(0.0, 1.0)
        err_full = F.interpolate(coarse_err, size=(h, w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
        return {"alpha": alpha, "err": err_full, "ref": ref}


class GuidedFilterRefiner(nn.Module):
    """Deep guided filter (Wu et al., 2018): guided-filter coefficients fitted at low resolution
    with a learned guide, then applied to the full-resolution guide."""

    def __init__(self, radius: int = 1, eps: float = 1e-2, hidden: int = 16):
        super().__init__()
        self.radius = radius
        self.eps = eps
        self.guide_conv1 = nn.Conv2d(3, hidden, 1, bias=False)
        self.guide_bn = nn.BatchNorm2d(hidden)
        self.guide_conv2 = nn.Conv2d(hidden, 1, 1)

    def guide(self, image: torch.Tensor) -> torch.Tensor:
        return self.guide_conv2(F.relu(self.guide_bn(self.guide_conv1(image))))

    def forward(self, image_lr: torch.Tensor, alpha_lr: torch.Tensor, image_hr: torch.Tensor) -> torch.Tensor:
        guide_lr = self.guide(image_lr)
        guide_hr = self.guide(image_hr)
        mean_a, mean_b = MF.guided_filter_coeffs(guide_lr, alpha_lr, self.radius, self.eps)
        size = image_hr.shape[-2:]
        mean_a = F.interpolate(mean_a, size=size, mode="bilinear", align_corners=False)
        mean_b = F.interpolate(mean_b, size=size, mode="bilinear", align_corners=False)
        return mean_a * guide_hr + mean_b
