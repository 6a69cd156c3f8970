"""Bootstrap objectives (BYOL, SimSiam) and the momentum-encoder update."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import cosine_schedule
from .normalize import l2_normalize


def byol_regression_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """2 - 2 cos(p, z), the normalised MSE of BYOL."""
    p = F.normalize(p, dim=-1, p=2)
    z = F.normalize(z, dim=-1, p=2)
    return 2 - 2 * (p * z).sum(dim=-1)


def normalized_mse(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Squared distance between unit vectors, as in the reference implementation."""
    p = p / p.norm(dim=-1, keepdim=True)
    z = z / z.norm(dim=-1, keepdim=True)
    return (p - z).pow(2).sum(dim=-1)


def simsiam_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Negative cosine similarity with a stop-gradient on the target branch."""
    return -F.cosine_similarity(p, z.detach(), dim=-1).mean()


class BYOLLoss(nn.Module):
    def __init__(self, symmetric: bool = True, track_collapse: bool = False,
                 reference_mse: bool = False):
        super().__init__()
        self.symmetric = symmetric
        self.track_collapse = track_collapse
        self.reference_mse = reference_mse
        self.last_std = float("nan")

    def _pair(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        z = z.detach()
        if self.reference_mse:
            return normalized_mse(p, z)
        return byol_regression_loss(p, z)

    def forward(self, online_pred_1: torch.Tensor, target_proj_2: torch.Tensor,
                online_pred_2: Optional[torch.Tensor] = None,
                target_proj_1: Optional[torch.Tensor] = None) -> torch.Tensor:
        loss = self._pair(online_pred_1, target_proj_2)
        if self.symmetric:
            if online_pred_2 is None or target_proj_1 is None:
                raise ValueError("symmetric BYOL needs both view pairs")
            loss = loss + self._pair(online_pred_2, target_proj_1)
        if self.track_collapse:
            with torch.no_grad():
                self.last_std = l2_normalize(online_pred_1).std(dim=0).mean().item()
        return loss.mean()


class MomentumUpdater:
    """EMA of the online network into the target network with a cosine-ramped momentum."""

    def __init__(self, base_momentum: float = 0.996, final_momentum: float = 1.0):
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"base_momentum must be in [0, 1], got {base_momentum}")
        self.base_momentum = base_momentum
        self.final_momentum = final_momentum
        self.current_momentum = base_momentum

    @torch.no_grad()
    def update(self, online: nn.Module, target: nn.Module) -> None:
        m = self.current_momentum
        for p_o, p_t in zip(online.parameters(), target.parameters()):
            p_t.data.mul_(m).add_(p_o.data, alpha=1.0 - m)
        for b_o, b_t in zip(online.buffers(), target.buffers()):
            b_t.copy_(b_o)

    def update_momentum(self, step: int, total_steps: int) -> float:
        self.current_momentum = cosine_schedule(
            self.base_momentum, self.final_momentum, step, total_steps)
        return self.current_momentum
