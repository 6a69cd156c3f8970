"""Occlusion estimation for unsupervised flow.

Two estimators are provided: the forward-backward consistency check of
Sundaram et al. (2010) as used in UnFlow / UFlow, and the range map of
Wang et al. (2018), which marks target pixels that no backward vector reaches.
Both are treated as fixed weights of the data term.
"""

import torch

from .warp import coords_grid, flow_warp


def fb_consistency_mask(flow_fw, flow_bw, alpha=0.01, beta=0.5):
    """Visible-pixel mask from the forward-backward check.

    A pixel is occluded when ``|w_f + w_b(p + w_f)|^2 > alpha * (|w_f|^2 + |w_b|^2) + beta``.
    Returns (B, 1, H, W) with 1 for visible pixels.
    """
    flow_fw = flow_fw.detach()
    flow_bw = flow_bw.detach()
    bw_warped = flow_warp(flow_bw, flow_fw)
    fb_sq_diff = ((flow_fw + bw_warped) ** 2).sum(dim=1, keepdim=True)
    fb_sum_sq = (flow_fw ** 2 + bw_warped ** 2).sum(dim=1, keepdim=True)
    occluded = fb_sq_diff > alpha * fb_sum_sq + beta
    return (~occluded).to(flow_fw.dtype)


def range_map(flow):
    """Bilinearly splat a unit mass from every pixel to ``p + flow(p)``.

    Returns (B, 1, H, W): how much mass each pixel of the other frame receives.
    """
    b, _, h, w = flow.shape
    coords = coords_grid(b, h, w, device=flow.device, dtype=flow.dtype) + flow
    x = coords[:, 0].reshape(b, -1)
    y = coords[:, 1].reshape(b, -1)
    x0 = torch.floor(x)
    y0 = torch.floor(y)
    counts = flow.new_zeros(b, h * w)
    for dx in (0, 1):
        for dy in (0, 1):
            xi = x0 + dx
            yi = y0 + dy
            weight = (1.0 - torch.abs(x - xi)) * (1.0 - torch.abs(y - yi))
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
            counts.scatter_add_(1, index, weight * inside.to(weight.dtype))
    return counts.view(b, 1, h, w)


def range_map_occlusion(flow_bw):
    """Wang et al. (2018): pixels of frame 1 reached by no backward vector are occluded."""
    with torch.no_grad():
        reached = range_map(flow_bw)
    return torch.clamp(reached, 0.0, 1.0)


def estimate_occlusion(flow_fw, flow_bw, method="forward_backward", alpha=0.01, beta=0.5):
    """Dispatch to one of the estimators; returns a (B, 1, H, W) visibility mask."""
    if method == "none":
        return torch.ones_like(flow_fw[:, :1])
    if method == "forward_backward":
        return fb_consistency_mask(flow_fw, flow_bw, alpha=alpha, beta=beta)
    if method == "wang":
        return range_map_occlusion(flow_bw)
    raise ValueError(f"unknown occlusion method {method!r}")


def occlusion_bce(occ_prob, occ_gt):
    """Class-balanced binary cross-entropy for a predicted occlusion probability map.

    ``occ_prob`` is the sigmoid output of an occlusion head (IRR-PWC), ``occ_gt`` the
    ground-truth occlusion map from FlyingChairsOcc / Sintel.
    """
    n_pixels = occ_gt[0].numel()
    n_occ = occ_gt.sum(dim=(1, 2, 3), keepdim=True)
    w_occ = n_pixels / n_occ.clamp_min(1.0)
    w_vis = n_pixels / (n_pixels - n_occ).clamp_min(1.0)
    loss = -(w_occ * occ_gt * torch.log(occ_prob) + w_vis * (1.0 - occ_gt) * torch.log(1.0 - occ_prob))
    return loss.mean()


def f1_occlusion_loss(occ_prob, occ_gt, eps=1e-8):
    """Soft F1-style occlusion loss (IRR-PWC), balanced between both classes."""
    dims = (1, 2, 3)
    tp = -(occ_gt * torch.log(occ_prob + eps)).sum(dim=dims)
    fn = -((1.0 - occ_gt) * torch.log(1.0 - occ_prob + eps)).sum(dim=dims)
    denom_tp = occ_gt.sum(dim=dims) + occ_prob.sum(dim=dims) + eps
    denom_fn = (1.0 - occ_gt).sum(dim=dims) + (1.0 - occ_prob).sum(dim=dims) + eps
    h, w = occ_prob.shape[-2:]
    return 0.5 * h * w * ((tp / denom_tp).mean() + (fn / denom_fn).mean())
