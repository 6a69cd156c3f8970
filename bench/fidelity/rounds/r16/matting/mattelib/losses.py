"""Matting objectives: alpha, composition, Laplacian, gradient, trimap-weighted and prior terms."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import functional as MF
from .config import LossConfig
from .metrics import largest_component_mask
from .trimap import known_region_mask, unknown_from_logits, unknown_mask


def reduce_loss(loss: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class AlphaPredictionLoss(nn.Module):
    """Charbonnier alpha-prediction loss of Deep Image Matting (Xu et al., 2017)."""

    def __init__(self, eps: float = 1e-6, unknown_only: bool = True):
        super().__init__()
        self.eps = eps
        self.unknown_only = unknown_only

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                trimap: Optional[torch.Tensor] = None, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        err = MF.charbonnier(pred - target, self.eps)
        if weight is None and self.unknown_only and trimap is not None:
            weight = unknown_mask(trimap)
        return MF.masked_mean(err, weight)


class CompositionLoss(nn.Module):
    """Distance between the image and the composite of the true fg/bg under the predicted alpha."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, pred: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor, image: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        comp = MF.composite(fg, bg, pred)
        err = MF.charbonnier(comp - image, self.eps)
        return MF.masked_mean(err, weight)


class LaplacianLoss(nn.Module):
    """L1 distance between Laplacian pyramids, coarser levels weighted by 2^i (Hou & Liu, 2019)."""

    def __init__(self, levels: int = 5, sigma: float = 1.0):
        super().__init__()
        self.levels = levels
        self.register_buffer("kernel", MF.gauss_kernel(5, sigma), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        if weight is not None:
            pred = pred * weight
            target = target * weight
        kernel = self.kernel.to(dtype=pred.dtype)
        pyr_pred = MF.laplacian_pyramid(pred, kernel, self.levels)
        pyr_gt = MF.laplacian_pyramid(target, kernel, self.levels)
        loss = pred.new_zeros(())
        for i, (p, g) in enumerate(zip(pyr_pred, pyr_gt)):
            loss = loss + (2 ** i) * F.l1_loss(p, g)
        return loss


class GradientLoss(nn.Module):
    """L1 between Sobel gradient magnitudes of prediction and ground truth."""

    def __init__(self, normalize: bool = True, eps: float = 1e-6):
        super().__init__()
        self.normalize = normalize
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        g_pred = MF.gradient_magnitude(pred)
        g_gt = MF.gradient_magnitude(target)
        if self.normalize:
            g_pred = g_pred / (g_pred.amax(dim=(2, 3), keepdim=True).detach() + self.eps)
            g_gt = g_gt / g_gt.amax(dim=(2, 3), keepdim=True).clamp_min(self.eps)
        err = F.l1_loss(g_pred, g_gt, reduction="none")
        return MF.masked_mean(err, weight)


class TrimapWeightedL1Loss(nn.Module):
    """Region-weighted L1 with optional online hard-pixel mining."""

    def __init__(self, w_unknown: float = 1.0, w_known: float = 0.1, hard_ratio: float = 0.0,
                 reduction: str = "mean"):
        super().__init__()
        self.w_unknown = w_unknown
        self.w_known = w_known
        self.hard_ratio = hard_ratio
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
        unk = unknown_mask(trimap)
        weight = self.w_unknown * unk + self.w_known * (1.0 - unk)
        err = torch.abs(pred - target) * weight
        if self.hard_ratio > 0:
            flat = err.flatten(1)
            k = max(1, int(self.hard_ratio * flat.shape[1]))
            return reduce_loss(torch.topk(flat, k, dim=1).values, self.reduction)
        if self.reduction == "none":
            return err
        return err.sum() / weight.sum().clamp_min(1.0)


class AlphaSparsityLoss(nn.Module):
    """Levin et al.'s sparsity prior |a|^g + |1 - a|^g - 1 on an unbounded alpha regression output."""

    def __init__(self, gamma: float = 0.9):
        super().__init__()
        self.gamma = gamma

    def forward(self, pred: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        a = pred.clamp(0.0, 1.0)
        prior = a ** self.gamma + (1.0 - a) ** self.gamma - 1.0
        return MF.masked_mean(prior, weight)


class ForegroundLoss(nn.Module):
    """Colour loss on the foreground, predicted or recovered from the compositing equation."""

    def forward(self, fg_pred: Optional[torch.Tensor], fg_gt: torch.Tensor, alpha_gt: torch.Tensor,
                alpha_pred: Optional[torch.Tensor] = None, image: Optional[torch.Tensor] = None,
                bg: Optional[torch.Tensor] = None) -> torch.Tensor:
        mask = (alpha_gt > 0).float()
        loss = fg_gt.new_zeros(())
        if fg_pred is not None:
            dist = torch.linalg.vector_norm(fg_pred - fg_gt, dim=1, keepdim=True)
            loss = loss + MF.masked_mean(dist, mask)
        if alpha_pred is not None and image is not None and bg is not None:
            fg_est = MF.solve_foreground(image, bg, alpha_pred)
            loss = loss + MF.masked_mean(torch.abs(fg_est - fg_gt), mask)
        return loss


class ConnectivityLoss(nn.Module):
    """Penalise alpha mass predicted outside the largest connected foreground blob."""

    def __init__(self, threshold: float = 0.5):
        super().__init__()
        self.threshold = threshold

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            keep = largest_component_mask(pred, self.threshold)
        background = (target < 1e-3).float()
        return MF.masked_mean(pred * (1.0 - keep), background)


def detail_loss(pred_detail: torch.Tensor, gt_matte: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
    """MODNet detail branch: L1 inside the unknown band only."""
    known = known_region_mask(trimap)
    pred_b = torch.where(known, trimap, pred_detail)
    gt_b = torch.where(known, trimap, gt_matte)
    return F.l1_loss(pred_b, gt_b)


class MattingCriterion(nn.Module):
    """Weighted sum of the matting terms; returns the total loss and detached scalars for logging."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.alpha_loss = AlphaPredictionLoss(cfg.charbonnier_eps)
        self.comp_loss = CompositionLoss(cfg.charbonnier_eps)
        self.lap_loss = LaplacianLoss(cfg.lap_levels, cfg.lap_sigma)
        self.grad_loss = GradientLoss(normalize=cfg.normalize_grad)
        self.sparsity_loss = AlphaSparsityLoss(cfg.sparsity_gamma)
        self.fg_loss = ForegroundLoss()
        self.conn_loss = ConnectivityLoss()
        self.hard_l1 = TrimapWeightedL1Loss(hard_ratio=cfg.hard_ratio)

    def forward(self, out: Dict[str, torch.Tensor],
                batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        cfg = self.cfg
        alpha, gt = out["alpha"], batch["alpha"]
        trimap = batch.get("trimap")
        if trimap is not None:
            weight = unknown_mask(trimap)
        elif "trimap_logits" in out:
            weight = unknown_from_logits(out["trimap_logits"])
        else:
            weight = None
        losses: Dict[str, torch.Tensor] = {"alpha": self.alpha_loss(alpha, gt, weight=weight)}
        if cfg.comp_weight > 0 and "fg" in batch:
            losses["comp"] = self.comp_loss(alpha, batch["fg"], batch["bg"], batch["image"], weight)
        if cfg.lap_weight > 0:
            losses["lap"] = self.lap_loss(alpha, gt, weight)
        if cfg.grad_weight > 0:
            losses["grad"] = self.grad_loss(alpha, gt, weight)
        if cfg.sparsity_weight > 0:
            losses["sparsity"] = self.sparsity_loss(out.get("alpha_raw", alpha), weight)
        if cfg.fg_weight > 0 and "fg" in batch:
            losses["fg"] = self.fg_loss(out.get("fg"), batch["fg"], gt, alpha, batch["image"], batch["bg"])
        if cfg.conn_weight > 0:
            losses["conn"] = self.conn_loss(alpha, gt)
        if cfg.hard_ratio > 0 and trimap is not None:
            losses["hard"] = self.hard_l1(alpha, gt, trimap)
        for key in ("alpha_os4", "alpha_os8"):
            if key in out:
                w = out.get(key.replace("alpha", "weight"), weight)
                if w is None:
                    w = torch.ones_like(gt)
                os_pred = out[key]
                losses[key] = MF.smooth_l1(os_pred, gt, cfg.smooth_l1_beta).mul(w).sum() / (w.sum() + 1e-6)
        if "err" in out:
            err_target = (out.get("alpha_coarse", alpha) - gt).abs().detach()
            losses["err"] = F.mse_loss(out["err"], err_target)
        total = sum(getattr(cfg, f"{k}_weight", cfg.os_weight) * v for k, v in losses.items())
        logs = {k: v.item() for k, v in losses.items()}
        return total, logs
