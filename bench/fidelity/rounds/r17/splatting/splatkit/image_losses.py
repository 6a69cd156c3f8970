"""Photometric losses and image metrics for splatting."""
import math
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F


@lru_cache(maxsize=8)
def _gaussian_1d(size, sigma):
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def gaussian_window(size, sigma, channels, device=None, dtype=None):
    g = _gaussian_1d(size, sigma)
    w2d = g[:, None] @ g[None, :]
    return w2d.expand(channels, 1, size, size).contiguous().to(device=device, dtype=dtype)


def l1_loss(pred, target, mask=None):
    diff = torch.abs(pred - target)
    if mask is None:
        return diff.mean()
    diff = diff * mask
    denom = mask.sum() * pred.shape[-3]
    return diff.sum() / denom.clamp_min(1.0)


def lp_loss(pred, target, p=1.0):
    return (pred - target).abs().pow(p).mean()


def charbonnier_loss(pred, target, eps=1e-3, alpha=1.0):
    return (((pred - target) ** 2 + eps ** 2) ** (alpha / 2)).mean()


def exposure_matched_l1(render, gt, eps=1e-4):
    r_mean = render.mean(dim=(-1, -2), keepdim=True)
    g_mean = gt.mean(dim=(-1, -2), keepdim=True)
    gain = g_mean / r_mean if r_mean.min() > eps else torch.ones_like(r_mean)
    return torch.abs(render * gain - gt).mean()


def ssim(img1, img2, window_size=11, sigma=1.5, size_average=True, c1=0.01 ** 2, c2=0.03 ** 2):
    if img1.dim() == 3:
        img1, img2 = img1[None], img2[None]
    channels = img1.shape[1]
    window = gaussian_window(window_size, sigma, channels, img1.device, img1.dtype)
    pad = window_size // 2

    mu1 = F.conv2d(img1, window, padding=pad, groups=channels)
    mu2 = F.conv2d(img2, window, padding=pad, groups=channels)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2

    sigma1_sq = F.conv2d(img1 * img1, window, padding=pad, groups=channels) - mu1_sq
    sigma2_sq = F.conv2d(img2 * img2, window, padding=pad, groups=channels) - mu2_sq
    sigma12 = F.conv2d(img1 * img2, window, padding=pad, groups=channels) - mu1_mu2

    num = (2 * mu1_mu2 + c1) * (2 * sigma12 + c2)
    den = (mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2)
    ssim_map = num / den
    if size_average:
        return ssim_map.mean()
    return ssim_map.flatten(1).mean(1)


def dssim(img1, img2, **kwargs):
    return (1.0 - ssim(img1, img2, **kwargs)) / 2.0


@torch.no_grad()
def psnr(pred, target, max_val=1.0):
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(max_val ** 2 / mse)


def masked_psnr(pred, target, mask):
    with torch.no_grad():
        mse = (((pred - target) ** 2) * mask).sum() / (mask.sum() * pred.shape[0]).clamp_min(1.0)
        return (-10.0 * torch.log10(mse.clamp_min(1e-10))).item()


def edge_aware_smoothness(depth, image):
    """depth: (1, H, W) rendered; image: (3, H, W) ground truth."""
    grad_d_x = torch.abs(depth[:, :, :-1] - depth[:, :, 1:])
    grad_d_y = torch.abs(depth[:, :-1, :] - depth[:, 1:, :])
    grad_i_x = torch.mean(torch.abs(image[:, :, :-1] - image[:, :, 1:]), 0, keepdim=True)
    grad_i_y = torch.mean(torch.abs(image[:, :-1, :] - image[:, 1:, :]), 0, keepdim=True)
    return (grad_d_x * torch.exp(-grad_i_x)).mean() + (grad_d_y * torch.exp(-grad_i_y)).mean()


def alpha_mask_loss(rend_alpha, gt_mask, eps=1e-6):
    a = rend_alpha.clamp(eps, 1.0 - eps)
    return -(gt_mask * torch.log(a) + (1.0 - gt_mask) * torch.log(1.0 - a)).mean()


def background_leak_loss(rend_alpha, gt_mask, threshold=0.5):
    leak = (rend_alpha > threshold) & (gt_mask < 0.5)
    return (rend_alpha * leak).sum() / leak.sum().clamp_min(1)


class PhotometricLoss(nn.Module):
    """(1 - lambda) * L1 + lambda * D-SSIM, as in 3D Gaussian Splatting."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def forward(self, render, gt, alpha_mask=None):
        cfg = self.cfg
        mask = alpha_mask if cfg.use_alpha_mask else None
        if mask is not None:
            render = render * mask
            gt = gt * mask
        if cfg.lp_exponent != 1.0:
            rec = lp_loss(render, gt, cfg.lp_exponent)
        else:
            rec = l1_loss(render, gt, mask)
        if cfg.lambda_dssim > 0:
            d = dssim(render, gt, window_size=cfg.ssim_window, sigma=cfg.ssim_sigma)
        else:
            d = render.new_zeros(())
        loss = (1.0 - cfg.lambda_dssim) * rec + cfg.lambda_dssim * d
        stats = {
            "l1": rec.item(),
            "dssim": float(d.detach()),
            "psnr": psnr(render[None], gt[None]).mean().item(),
        }
        return loss, stats


class MultiScalePhotometricLoss(nn.Module):
    def __init__(self, cfg, scales=(1, 2, 4), weights=None):
        super().__init__()
        self.base = PhotometricLoss(cfg)
        self.scales = scales
        self.weights = weights if weights is not None else [1.0 / len(scales)] * len(scales)

    def forward(self, render, gt, alpha_mask=None):
        total, log = 0.0, {}
        for s, w in zip(self.scales, self.weights):
            if s == 1:
                r, g, m = render, gt, alpha_mask
            else:
                r = F.avg_pool2d(render[None], s)[0]
                g = F.avg_pool2d(gt[None], s)[0]
                m = None if alpha_mask is None else F.max_pool2d(alpha_mask[None], s)[0]
            loss, stats = self.base(r, g, m)
            total = total + w * loss
            log[f"l1@{s}"] = stats["l1"]
        log["log_scales"] = math.log2(max(self.scales))
        return total, log
