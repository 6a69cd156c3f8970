"""Tensor helpers shared by the kinematics, cost and imitation modules.

Trajectories are stored as (..., T, D) tensors: time on the second-to-last axis.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import torch
from scipy.interpolate import CubicSpline


def finite_difference(x: torch.Tensor, dt: float, order: int = 1) -> torch.Tensor:
    """Forward differences of a (..., T, D) trajectory, applied ``order`` times."""
    for _ in range(order):
        x = (x[..., 1:, :] - x[..., :-1, :]) / dt
    return x


def time_derivatives(q: torch.Tensor, durations: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Velocities and accelerations of knots separated by per-segment durations (..., T-1)."""
    dq = q[..., 1:, :] - q[..., :-1, :]
    vel = dq / durations[..., None]
    mid = 0.5 * (durations[..., 1:] + durations[..., :-1])
    acc = (vel[..., 1:, :] - vel[..., :-1, :]) / mid[..., None]
    return vel, acc


def safe_norm(x: torch.Tensor, dim: int = -1, keepdim: bool = False, eps: float = 1e-12) -> torch.Tensor:
    return torch.sqrt(x.pow(2).sum(dim=dim, keepdim=keepdim) + eps)


def normalize(x: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    return x / safe_norm(x, dim=dim, keepdim=True, eps=eps)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: Optional[int] = None) -> torch.Tensor:
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean (B, max_len) mask of valid knots for padded sequences."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps[None, :] < lengths[:, None]


def soft_min(x: torch.Tensor, temperature: float, dim: int = -1) -> torch.Tensor:
    return -temperature * torch.logsumexp(-x / temperature, dim=dim)


def huber(x: torch.Tensor, beta: float) -> torch.Tensor:
    ax = x.abs()
    return torch.where(ax < beta, 0.5 * ax.pow(2) / beta, ax - 0.5 * beta)


def wrap_to_pi(theta: torch.Tensor) -> torch.Tensor:
    return torch.remainder(theta + math.pi, 2.0 * math.pi) - math.pi


def resample(traj: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Piecewise-linear resampling of a (..., T, D) trajectory onto ``num_steps`` knots."""
    T = traj.shape[-2]
    s = torch.linspace(0.0, T - 1, num_steps, device=traj.device, dtype=traj.dtype)
    lo = s.floor().long()
    hi = (lo + 1).clamp(max=T - 1)
    w = (s - lo.to(s.dtype))[:, None]
    return traj[..., lo, :] * (1.0 - w) + traj[..., hi, :] * w


def cubic_spline_densify(waypoints: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Interpolate (B, T, D) waypoints with a natural cubic spline onto ``num_steps`` knots."""
    T = waypoints.shape[-2]
    knots = np.linspace(0.0, 1.0, T)
    spline = CubicSpline(knots, waypoints.detach().cpu().numpy(), axis=-2, bc_type="natural")
    dense = spline(np.linspace(0.0, 1.0, num_steps))
    return torch.as_tensor(dense, dtype=waypoints.dtype, device=waypoints.device)
