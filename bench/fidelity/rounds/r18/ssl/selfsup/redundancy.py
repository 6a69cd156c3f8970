"""Redundancy-reduction objectives: VICReg, Barlow Twins and the coding-rate term."""

from __future__ import annotations

from typing import Dict, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .normalize import covariance, cross_correlation, feature_std, off_diagonal


def invariance_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(z1, z2)


def variance_loss(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Hinge keeping the per-dimension standard deviation above ``gamma``."""
    std = feature_std(z, eps)
    return F.relu(gamma - std).mean()


def covariance_loss(z: torch.Tensor) -> torch.Tensor:
    d = z.shape[1]
    return off_diagonal(covariance(z)).pow(2).sum() / d


class VICRegLoss(nn.Module):
    def __init__(self, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0,
                 gamma: float = 1.0, eps: float = 1e-4):
        super().__init__()
        self.sim_coeff, self.std_coeff, self.cov_coeff = sim_coeff, std_coeff, cov_coeff
        self.gamma, self.eps = gamma, eps

    def forward(self, z1: torch.Tensor, z2: torch.Tensor, return_terms: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
        repr_loss = invariance_loss(z1, z2)
        std_loss = 0.5 * (variance_loss(z1, self.gamma, self.eps)
                          + variance_loss(z2, self.gamma, self.eps))
        cov_loss = covariance_loss(z1) + covariance_loss(z2)
        loss = self.sim_coeff * repr_loss + self.std_coeff * std_loss + self.cov_coeff * cov_loss
        if return_terms:
            terms = {"invariance": repr_loss.detach(), "variance": std_loss.detach(),
                     "covariance": cov_loss.detach()}
            return loss, terms
        return loss


class BarlowTwinsLoss(nn.Module):
    def __init__(self, lambd: float = 5e-3, scale_loss: float = 1.0, eps: float = 1e-5):
        super().__init__()
        self.lambd, self.scale_loss, self.eps = lambd, scale_loss, eps

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        c = cross_correlation(z1, z2, self.eps)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(c)
            c = c / dist.get_world_size()
        on_diag = (torch.diagonal(c) - 1).pow(2).sum()
        off_diag = off_diagonal(c).pow(2).sum()
        return self.scale_loss * (on_diag + self.lambd * off_diag)


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    """Functional Barlow Twins with explicit standardisation of each view."""
    n, d = z1.shape
    z1_norm = (z1 - z1.mean(0)) / z1.std(0)
    z2_norm = (z2 - z2.mean(0)) / z2.std(0)
    c = z1_norm.T @ z2_norm / n
    c_diff = (c - torch.eye(d, device=c.device, dtype=c.dtype)).pow(2)
    off = ~torch.eye(d, dtype=torch.bool, device=c.device)
    c_diff = torch.where(off, c_diff * lambd, c_diff)
    return c_diff.sum()


def total_coding_rate(z: torch.Tensor, eps: float = 0.5) -> torch.Tensor:
    """R(Z) = 1/2 logdet(I + d / (n eps^2) Z^T Z), the expansion term of MCR^2 / EMP-SSL."""
    n, d = z.shape
    alpha = d / (n * eps ** 2)
    identity = torch.eye(d, device=z.device, dtype=z.dtype)
    return 0.5 * torch.logdet(identity + alpha * z.T @ z)
