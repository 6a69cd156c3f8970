"""3D pose error metrics (MPJPE, PA-MPJPE, N-MPJPE, PCK) and Procrustes alignment."""
from collections import defaultdict
from typing import Dict, Optional

import numpy as np
import torch


def joint_errors(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-joint Euclidean distance, ``(..., J, 3) -> (..., J)``."""
    return torch.linalg.norm(pred - target, dim=-1)


def mpjpe(pred: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean per-joint position error, optionally over annotated joints only."""
    err = joint_errors(pred, target)
    if mask is None:
        return err.mean()
    mask = mask.to(err.dtype)
    return (err * mask).sum() / mask.sum().clamp_min(1.0)


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Similarity-align ``pred`` to ``target`` (both ``(B, J, 3)``), Umeyama's method."""
    mu_pred = pred.mean(dim=1, keepdim=True)
    mu_tgt = target.mean(dim=1, keepdim=True)
    x = pred - mu_pred
    y = target - mu_tgt
    var_x = (x ** 2).sum(dim=(1, 2))

    k = x.transpose(1, 2) @ y
    u, s, vh = torch.linalg.svd(k)
    v = vh.transpose(1, 2)
    # fix the reflection case so that the result is a proper rotation
    d = torch.sign(torch.det(v @ u.transpose(1, 2)))
    z = torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1)
    rot = v @ torch.diag_embed(z) @ u.transpose(1, 2)

    scale = (s * z).sum(-1) / var_x
    scale = scale[:, None, None]
    trans = mu_tgt - scale * (mu_pred @ rot.transpose(1, 2))
    return scale * (pred @ rot.transpose(1, 2)) + trans


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample MPJPE after Procrustes alignment, ``(B,)``."""
    return joint_errors(procrustes_align(pred, target), target).mean(dim=-1)


@torch.no_grad()
def n_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Scale-normalised MPJPE (Rhodin et al., 2018), ``(B,)``."""
    norm_pred = (pred ** 2).sum(dim=(1, 2), keepdim=True)
    norm_cross = (pred * target).sum(dim=(1, 2), keepdim=True)
    scale = norm_cross / norm_pred
    return joint_errors(scale * pred, target).mean(dim=-1)


@torch.no_grad()
def pck(pred: torch.Tensor, target: torch.Tensor, threshold: float = 150.0,
        mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Percentage of joints within ``threshold`` (mm) of the ground truth."""
    dist = torch.linalg.norm(pred - target, dim=-1)
    hits = (dist < threshold).to(pred.dtype)
    if mask is not None:
        return (hits * mask).sum() / mask.sum().clamp_min(1.0)
    return hits.mean()


def acceleration_error(pred: np.ndarray, target: np.ndarray, valid: Optional[np.ndarray] = None) -> float:
    """Mean joint acceleration error (mm/frame^2) of a ``(T, J, 3)`` sequence."""
    accel_gt = target[:-2] - 2 * target[1:-1] + target[2:]
    accel_pred = pred[:-2] - 2 * pred[1:-1] + pred[2:]
    normed = np.linalg.norm(accel_pred - accel_gt, axis=2)
    if valid is None:
        return float(normed.mean())
    keep = valid[2:] & valid[1:-1] & valid[:-2]
    return float(normed[keep].mean()) if keep.any() else float("nan")


class PoseMetricTracker:
    """Accumulates evaluation metrics over a dataset, in millimetres."""

    def __init__(self, scale_to_mm: float = 1000.0):
        self.scale_to_mm = scale_to_mm
        self.sums: Dict[str, float] = defaultdict(float)
        self.count = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        n = pred.shape[0]
        with torch.no_grad():
            pred = pred - pred[:, :1]
            target = target - target[:, :1]
            self.sums["mpjpe"] += mpjpe(pred, target).item() * n * self.scale_to_mm
            self.sums["pa_mpjpe"] += pa_mpjpe(pred, target).sum().item() * self.scale_to_mm
            self.sums["n_mpjpe"] += n_mpjpe(pred, target).sum().item() * self.scale_to_mm
        self.count += n

    def compute(self) -> Dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}
