"""Losses for imitating demonstration trajectories.

Demonstrations arrive padded to a common length with per-demo ``lengths``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import huber, length_mask, masked_mean, resample, soft_min, wrap_to_pi


def prepare_demos(demos: torch.Tensor, lengths: torch.Tensor, horizon: int,
                  continuous_joints: Optional[Sequence[int]] = None
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Wrap continuous joints and resample every demonstration onto the planning horizon."""
    if continuous_joints is not None:
        demos = demos.clone()
        demos[..., continuous_joints] = wrap_to_pi(demos[..., continuous_joints])
    if demos.shape[-2] == horizon and bool((lengths == horizon).all()):
        return demos, lengths
    out = [resample(demo[:n], horizon) for demo, n in zip(demos, lengths.tolist())]
    return torch.stack(out), torch.full_like(lengths, horizon)


class BehaviorCloningLoss(nn.Module):
    """Huber loss on knots plus a velocity-matching term."""

    def __init__(self, beta: float = 0.05, velocity_weight: float = 0.1, dt: float = 0.05):
        super().__init__()
        self.beta = beta
        self.velocity_weight = velocity_weight
        self.dt = dt

    def forward(self, pred: torch.Tensor, demos: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = length_mask(lengths, pred.shape[-2])
        pos_term = masked_mean(huber(pred - demos, self.beta).sum(-1), mask)
        vel_err = (pred[:, 1:] - pred[:, :-1]) - (demos[:, 1:] - demos[:, :-1])
        vel_mask = mask[:, 1:] & mask[:, :-1]
        vel_term = masked_mean(vel_err.pow(2).sum(-1), vel_mask) / self.dt ** 2
        return pos_term + self.velocity_weight * vel_term


def hard_dtw(cost: torch.Tensor) -> torch.Tensor:
    """Dynamic time warping distance for a (B, N, M) cost matrix."""
    B, N, M = cost.shape
    inf = cost.new_full((B,), float("inf"))
    prev = [cost.new_zeros(B)] + [inf] * M
    for i in range(1, N + 1):
        cur = [inf]
        for j in range(1, M + 1):
            best = torch.minimum(torch.minimum(prev[j], prev[j - 1]), cur[j - 1])
            cur.append(cost[:, i - 1, j - 1] + best)
        prev = cur
    return prev[M]


def soft_dtw(cost: torch.Tensor, gamma: float) -> torch.Tensor:
    """Soft-DTW (Cuturi & Blondel, 2017) with a log-sum-exp soft minimum."""
    B, N, M = cost.shape
    big = cost.new_full((B,), 1e10)
    prev = [cost.new_zeros(B)] + [big] * M
    for i in range(1, N + 1):
        cur = [big]
        for j in range(1, M + 1):
            r = torch.stack([prev[j], prev[j - 1], cur[j - 1]], dim=-1)
            cur.append(cost[:, i - 1, j - 1] + soft_min(r, gamma))
        prev = cur
    return prev[M]


class DTWImitationLoss(nn.Module):
    """Time-warping-invariant imitation of end-effector paths (B, T, 3)."""

    def __init__(self, soft: bool = True, gamma: float = 0.1):
        super().__init__()
        self.soft = soft
        self.gamma = gamma

    def forward(self, pred_ee: torch.Tensor, demo_ee: torch.Tensor) -> torch.Tensor:
        if self.soft:
            cost = (pred_ee[:, :, None, :] - demo_ee[:, None, :, :]).pow(2).sum(-1)
            return soft_dtw(cost, self.gamma).mean() / pred_ee.shape[1]
        cost = torch.cdist(pred_ee, demo_ee)
        return hard_dtw(cost).mean() / pred_ee.shape[1]


def path_chamfer(pred_pts: torch.Tensor, demo_pts: torch.Tensor) -> torch.Tensor:
    """Symmetric Chamfer distance between predicted and demonstrated paths, (B,)."""
    d = torch.cdist(pred_pts, demo_pts)
    return d.min(dim=-1).values.mean(-1) + d.min(dim=-2).values.mean(-1)


class MultiModalImitationLoss(nn.Module):
    """Winner-takes-all regression over K hypotheses (B, K, T, D) plus a mode classifier."""

    def __init__(self, cls_weight: float = 0.5):
        super().__init__()
        self.cls_weight = cls_weight

    def forward(self, modes: torch.Tensor, logits: torch.Tensor, demos: torch.Tensor,
                lengths: torch.Tensor) -> torch.Tensor:
        mask = length_mask(lengths, modes.shape[-2])[:, None].expand(modes.shape[:-1])
        err = masked_mean((modes - demos[:, None]).pow(2).sum(-1), mask, dim=-1)   # (B, K)
        best = err.argmin(dim=-1)
        reg = err.gather(-1, best[:, None]).squeeze(-1)
        return reg.mean() + self.cls_weight * F.cross_entropy(logits, best)


class GaussianTrajectoryNLL(nn.Module):
    """Beta-NLL (Seitzer et al., 2022) of demonstrations under a diagonal Gaussian policy."""

    def __init__(self, log_std_bounds: Tuple[float, float] = (-5.0, 2.0), beta: float = 0.5):
        super().__init__()
        self.log_std_bounds = log_std_bounds
        self.beta = beta

    def forward(self, mean: torch.Tensor, log_std: torch.Tensor, demos: torch.Tensor,
                lengths: torch.Tensor) -> torch.Tensor:
        log_std = log_std.clamp(*self.log_std_bounds)
        std = torch.exp(log_std)
        z = (demos - mean) / std
        nll = 0.5 * z.pow(2) + log_std + 0.5 * math.log(2.0 * math.pi)
        if self.beta > 0:
            nll = nll * std.detach() ** (2.0 * self.beta)
        mask = length_mask(lengths, mean.shape[-2])
        return masked_mean(nll.sum(-1), mask)


def phase_aligned_targets(phase: torch.Tensor, demos: torch.Tensor) -> torch.Tensor:
    """Demonstration state at each predicted phase in [0, 1]; phase (B, T), demos (B, T', D)."""
    idx = (phase * (demos.shape[-2] - 1)).long()
    return torch.gather(demos, 1, idx[..., None].expand(-1, -1, demos.shape[-1]))


class PhaseImitationLoss(nn.Module):
    """Track the demonstration at a learned, monotone phase variable."""

    def __init__(self, monotonic_weight: float = 1.0):
        super().__init__()
        self.monotonic_weight = monotonic_weight

    def forward(self, pred: torch.Tensor, phase: torch.Tensor, demos: torch.Tensor) -> torch.Tensor:
        target = phase_aligned_targets(phase, demos)
        track = (pred - target).pow(2).sum(-1).mean(-1)
        backwards = F.relu(phase[:, :-1] - phase[:, 1:]).sum(-1)
        return (track + self.monotonic_weight * backwards).mean()
