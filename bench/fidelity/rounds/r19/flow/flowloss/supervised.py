"""Supervised flow objectives (EPE, multi-scale, RAFT sequence losses) and metrics."""

import math

import torch
import torch.nn.functional as F


def endpoint_error(pred, target):
    """Per-pixel end-point error ``||pred - target||_2``, shape (B, H, W)."""
    return torch.norm(pred - target, p=2, dim=1)


def robust_endpoint_error(pred, target, eps=0.01, q=0.4):
    """PWC-Net fine-tuning penalty ``(|pred - target|_1 + eps)^q``, shape (B, H, W)."""
    return (torch.norm(pred - target, p=1, dim=1) + eps) ** q


def downsample_target(target, size, sparse=False):
    """Bring a ground-truth flow to a pyramid level and rescale its vectors."""
    h, w = target.shape[-2:]
    if sparse:
        out = F.adaptive_max_pool2d(target, size)
    else:
        out = F.interpolate(target, size=size, mode="area")
    scale = out.new_tensor([size[1] / w, size[0] / h]).view(1, 2, 1, 1)
    return out * scale


def multiscale_loss(preds, target, valid=None, weights=(0.32, 0.08, 0.02, 0.01, 0.005), robust=False):
    """PWC-Net / FlowNet multi-scale loss over predictions ordered finest first."""
    if len(weights) < len(preds):
        raise ValueError("need one weight per pyramid level")
    total = 0.0
    for pred, weight in zip(preds, weights):
        size = tuple(pred.shape[-2:])
        tgt = downsample_target(target, size, sparse=valid is not None)
        if robust:
            err = robust_endpoint_error(pred, tgt)
        else:
            err = endpoint_error(pred, tgt)
        if valid is not None:
            level_valid = F.adaptive_max_pool2d(valid, size) > 0.5
            err = err * level_valid.squeeze(1).to(err.dtype)
        total = total + weight * err.sum(dim=(1, 2)).mean()
    return total


def average_epe(pred, target, valid):
    """EPE averaged over valid ground-truth pixels; usable as a fine-tuning loss."""
    valid = (valid >= 0.5).to(pred.dtype).squeeze(1)
    epe = endpoint_error(pred, target)
    return (epe * valid).sum() / valid.sum().clamp_min(1.0)


def sequence_loss(flow_preds, flow_gt, valid, gamma=0.8, max_flow=400.0):
    """RAFT loss: exponentially weighted L1 error of every refinement iteration."""
    n_predictions = len(flow_preds)
    mag = torch.sum(flow_gt ** 2, dim=1).sqrt()
    valid = (valid.squeeze(1) >= 0.5) & (mag < max_flow)
    adjusted_gamma = gamma ** (15.0 / max(n_predictions - 1, 1))
    flow_loss = 0.0
    for i, pred in enumerate(flow_preds):
        i_weight = adjusted_gamma ** (n_predictions - i - 1)
        i_loss = (pred - flow_gt).abs()
        flow_loss = flow_loss + i_weight * (valid[:, None] * i_loss).mean()
    return flow_loss


def mixture_laplace_sequence_loss(flow_preds, info_preds, flow_gt, valid, gamma=0.85,
                                  max_flow=400.0, var_max=10.0, var_min=0.0):
    """SEA-RAFT: negative log-likelihood of a two-component Laplace mixture per iteration.

    ``info_preds[i]`` is (B, 4, H, W): two mixture logits followed by two log-scales.
    """
    n_predictions = len(flow_preds)
    mag = torch.sum(flow_gt ** 2, dim=1).sqrt()
    valid = (valid.squeeze(1) >= 0.5) & (mag < max_flow)
    flow_loss = 0.0
    for i in range(n_predictions):
        i_weight = gamma ** (n_predictions - i - 1)
        logits = info_preds[i][:, :2]
        raw_b = info_preds[i][:, 2:]
        log_b = torch.stack(
            [
                torch.clamp(raw_b[:, 0], min=0.0, max=var_max),
                torch.clamp(raw_b[:, 1], min=var_min, max=0.0),
            ],
            dim=1,
        )
        term2 = (flow_gt - flow_preds[i]).abs().unsqueeze(2) * torch.exp(-log_b).unsqueeze(1)
        term1 = logits - math.log(2.0) - log_b
        nf_loss = torch.logsumexp(logits, dim=1, keepdim=True) - torch.logsumexp(
            term1.unsqueeze(1) - term2, dim=2
        )
        finite = torch.isfinite(nf_loss.detach()) & valid[:, None]
        flow_loss = flow_loss + i_weight * (finite * nf_loss).sum() / finite.sum()
    return flow_loss


def sequence_metrics(flow_preds, flow_gt, valid):
    """EPE and 1/3/5-pixel accuracies of the final prediction, for logging."""
    with torch.no_grad():
        epe = torch.sum((flow_preds[-1] - flow_gt) ** 2, dim=1).sqrt()
        epe = epe.view(-1)[valid.view(-1) >= 0.5]
        return {
            "epe": epe.mean().item(),
            "1px": (epe < 1).float().mean().item(),
            "3px": (epe < 3).float().mean().item(),
            "5px": (epe < 5).float().mean().item(),
        }


def flow_outlier_rate(pred, target, valid=None, abs_thresh=3.0, rel_thresh=0.05):
    """KITTI Fl-all: fraction of pixels with EPE > 3px and > 5% of the true magnitude."""
    with torch.no_grad():
        epe = endpoint_error(pred, target)
        mag = torch.norm(target, p=2, dim=1)
        outlier = (epe > abs_thresh) & (epe / mag.clamp_min(1e-6) > rel_thresh)
        if valid is not None:
            outlier = outlier[valid.squeeze(1) >= 0.5]
        return outlier.float().mean().item()
