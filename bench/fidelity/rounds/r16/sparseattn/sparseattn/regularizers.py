"""Regularisers on attention distributions: entropy, sparsity, head agreement, coverage.

All functions take attention probabilities whose last dimension sums to one.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import LossConfig
from .utils import masked_mean, safe_log


def shannon_entropy(p: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    return -(p * safe_log(p, eps)).sum(dim)


def tsallis_entropy(p: torch.Tensor, q: float = 2.0, dim: int = -1) -> torch.Tensor:
    if q == 1.0:
        return shannon_entropy(p, dim)
    return (1.0 - (p ** q).sum(dim)) / (q - 1.0)


def collision_entropy(p: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Renyi entropy of order 2."""
    return -torch.log((p * p).sum(dim))


def normalized_entropy(p: torch.Tensor, key_mask: Optional[torch.Tensor] = None, dim: int = -1):
    """Shannon entropy divided by log(#keys), so that it lies in [0, 1]."""
    ent = shannon_entropy(p, dim)
    if key_mask is None:
        n = torch.full_like(ent, p.size(dim))
    else:
        n = key_mask.sum(-1).to(p.dtype)
        n = n.view(n.shape + (1,) * (ent.dim() - n.dim()))
    return ent / torch.log(n.clamp_min(2.0))


def support_fraction(attn: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Fraction of keys that receive non-zero attention, per query."""
    return (attn > 0).to(attn.dtype).mean(dim)


def head_agreement(attn: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine similarity between the heads' attention maps.

    attn: (B, H, T, S) -> (B,).  Used as a penalty to encourage diverse heads.
    """
    B, H, T, S = attn.shape
    flat = attn.reshape(B, H, T * S)
    flat = flat / flat.norm(dim=-1, keepdim=True)
    sim = flat @ flat.transpose(1, 2)
    off_diag = sim.sum(dim=(1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(-1)
    return off_diag / max(H * (H - 1), 1)


def coverage_penalty(attn_steps: torch.Tensor, step_mask: Optional[torch.Tensor] = None):
    """See et al. (2017): sum_i min(a_t,i, c_t,i), with c_t the attention paid before step t.

    attn_steps: (B, T_dec, S) attention of each decoder step over the source.
    """
    coverage = torch.cumsum(attn_steps, dim=1) - attn_steps
    per_step = torch.min(attn_steps, coverage).sum(-1)
    if step_mask is None:
        return per_step.mean()
    return masked_mean(per_step, step_mask)


class EntropyPenalty(nn.Module):
    """Penalise attention entropy, or its distance to a target value."""

    def __init__(self, weight: float = 1.0, target: Optional[float] = None, kind: str = "shannon",
                 q: float = 2.0, two_sided: bool = False):
        super().__init__()
        if kind not in ("shannon", "tsallis", "collision"):
            raise ValueError(f"invalid entropy kind {kind!r}")
        self.weight = weight
        self.target = target
        self.kind = kind
        self.q = q
        self.two_sided = two_sided

    def forward(self, attn: torch.Tensor, query_mask: Optional[torch.Tensor] = None,
                key_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.kind == "shannon":
            ent = normalized_entropy(attn, key_mask)
        elif self.kind == "tsallis":
            ent = tsallis_entropy(attn, self.q)
        else:
            ent = collision_entropy(attn)

        if self.target is None:
            per_row = ent
        else:
            per_row = (ent - self.target).abs() if self.two_sided else F.relu(self.target - ent)

        if query_mask is None:
            penalty = per_row.mean()
        else:
            penalty = masked_mean(per_row, query_mask[:, None, :])
        return self.weight * penalty


class AttentionRegularizer(nn.Module):
    """Sum of the attention penalties configured in ``LossConfig``."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.entropy = None
        if cfg.entropy_weight > 0:
            self.entropy = EntropyPenalty(cfg.entropy_weight, cfg.entropy_target,
                                          kind=cfg.entropy_kind, q=cfg.tsallis_q)

    def forward(self, attn_maps: List[torch.Tensor], query_mask: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Dict[str, float]]:
        total = attn_maps[0].new_zeros(())
        logs: Dict[str, float] = {}
        for i, attn in enumerate(attn_maps):
            if self.entropy is not None:
                ent = self.entropy(attn, query_mask, key_mask=query_mask)
                total = total + ent
                logs[f"reg/entropy{i}"] = ent.item()
            if self.cfg.diversity_weight > 0:
                agree = head_agreement(attn).mean()
                total = total + self.cfg.diversity_weight * agree
                logs[f"reg/agreement{i}"] = agree.item()
            if self.cfg.coverage_weight > 0:
                cov = coverage_penalty(attn.mean(1) if attn.dim() == 4 else attn, query_mask)
                total = total + self.cfg.coverage_weight * cov
                logs[f"reg/coverage{i}"] = cov.item()
        return total, logs
