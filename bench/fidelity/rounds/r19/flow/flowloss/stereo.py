"""Stereo matching: disparity regression and supervised / self-supervised stereo losses."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .photometric import masked_mean, min_reprojection_error, photometric_error, trimmed_mean
from .smoothness import disparity_smoothness
from .warp import disparity_to_flow, flow_warp, warp_with_validity


def disparity_regression(cost, max_disp):
    """Soft-argmin (GC-Net / PSMNet): expected disparity under ``softmax(-cost)``."""
    prob = F.softmax(-cost, dim=1)
    disp_values = torch.arange(max_disp, device=cost.device, dtype=cost.dtype).view(1, -1, 1, 1)
    return torch.sum(prob * disp_values, dim=1, keepdim=True)


def topk_disparity_regression(cost, max_disp, k=4):
    """Soft-argmin restricted to the ``k`` most likely disparities (less multi-modal bias)."""
    prob = F.softmax(-cost, dim=1)
    disp_values = torch.arange(max_disp, device=cost.device, dtype=cost.dtype)
    disp_values = disp_values.view(1, -1, 1, 1).expand_as(prob)
    top_prob, top_idx = prob.topk(k, dim=1)
    top_disp = torch.gather(disp_values, 1, top_idx)
    return (top_prob * top_disp).sum(1, keepdim=True) / top_prob.sum(1, keepdim=True)


def winner_take_all(cost):
    """Hard disparity: index of the lowest matching cost."""
    return torch.argmin(cost, dim=1, keepdim=True).to(cost.dtype)


def masked_smooth_l1(disp_pred, disp_gt, max_disp=192):
    """PSMNet loss on pixels with valid ground truth inside the search range."""
    mask = (disp_gt > 0) & (disp_gt < max_disp)
    if mask.sum() == 0:
        return disp_pred.sum() * 0.0
    return F.smooth_l1_loss(disp_pred[mask], disp_gt[mask], reduction="mean")


def stacked_hourglass_loss(disp_preds, disp_gt, weights=(0.5, 0.7, 1.0), max_disp=192):
    """Weighted sum of the losses of the intermediate outputs of a stacked hourglass."""
    return sum(w * masked_smooth_l1(d, disp_gt, max_disp) for w, d in zip(weights, disp_preds))


def disparity_range_penalty(disp, min_disp=0.0, max_disp=192.0):
    """Hinge penalty on disparities that leave the search range."""
    return (F.relu(min_disp - disp) + F.relu(disp - max_disp)).mean()


def lr_consistency_mask(disp_left, disp_right, threshold=1.0):
    """Left-right check: 1 where the left disparity agrees with the right one warped onto it."""
    right_on_left = flow_warp(disp_right, disparity_to_flow(disp_left, "left"))
    return ((disp_left - right_on_left) ** 2 < threshold ** 2).to(disp_left.dtype)


class StereoPhotometricLoss(nn.Module):
    """Self-supervised stereo loss (Monodepth style) on a rectified pair.

    Appearance matching in both directions, left-right disparity consistency and
    edge-aware disparity smoothness.
    """

    def __init__(self, alpha=0.85, smooth_weight=0.1, lr_weight=1.0, use_lr_mask=True,
                 automask=False, keep_ratio=1.0, min_valid=64):
        super().__init__()
        self.alpha = alpha
        self.smooth_weight = smooth_weight
        self.lr_weight = lr_weight
        self.use_lr_mask = use_lr_mask
        self.automask = automask
        self.keep_ratio = keep_ratio
        self.min_valid = min_valid

    def forward(self, left, right, disp_left, disp_right):
        left_est, valid_l = warp_with_validity(right, disparity_to_flow(disp_left, "left"))
        right_est, valid_r = warp_with_validity(left, disparity_to_flow(disp_right, "right"))
        err_l = photometric_error(left, left_est, self.alpha)
        err_r = photometric_error(right, right_est, self.alpha)
        if self.automask:
            identity_l = photometric_error(left, right, self.alpha)
            identity_l = identity_l + 1e-5 * torch.randn_like(identity_l)
            err_l = min_reprojection_error(torch.cat([err_l, identity_l], dim=1))
        if self.use_lr_mask:
            valid_l = valid_l * lr_consistency_mask(disp_left, disp_right)
        if valid_l.sum() < self.min_valid:
            valid_l = torch.ones_like(valid_l)
        if self.keep_ratio < 1.0:
            appearance = trimmed_mean(err_l * valid_l, self.keep_ratio)
        else:
            appearance = masked_mean(err_l, valid_l)
        appearance = appearance + (err_r * valid_r).sum() / valid_r.sum()
        right_on_left = flow_warp(disp_right, disparity_to_flow(disp_left, "left"))
        lr_diff = torch.abs(disp_left - right_on_left) * valid_l
        lr_loss = lr_diff.sum() / valid_l.sum().clamp_min(1.0)
        smooth = disparity_smoothness(disp_left, left) + disparity_smoothness(disp_right, right)
        return appearance + self.lr_weight * lr_loss + self.smooth_weight * smooth


def stereo_metrics(disp_pred, disp_gt, max_disp=192):
    """EPE, D1 (KITTI) and bad-1 error of a disparity prediction."""
    with torch.no_grad():
        mask = (disp_gt > 0) & (disp_gt < max_disp)
        gt = disp_gt[mask]
        err = (disp_pred[mask] - gt).abs()
        d1 = ((err > 3.0) & (err / gt > 0.05)).float().mean()
        return {
            "epe": err.mean().item(),
            "d1": d1.item(),
            "bad1": (err > 1.0).float().mean().item(),
        }


def wta_d1(cost, disp_gt, max_disp=192):
    """D1 of the winner-take-all disparity of a cost volume (a sanity check on the features)."""
    disp = winner_take_all(cost)
    mask = (disp_gt > 0) & (disp_gt < max_disp)
    err = (disp[mask] - disp_gt[mask]).abs()
    return ((err > 3.0) & (err / disp_gt[mask] > 0.05)).float().mean().item()
