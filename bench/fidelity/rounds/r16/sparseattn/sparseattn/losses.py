"""Fenchel-Young losses for sparse output layers, and attention supervision losses.

With H a generalised entropy, L(z, y) = H(p*) - H(y) + <p* - y, z>, p* = argmax_p <p, z> + H(p).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .functional import entmax15, entmax_bisect, sparsemax
from .utils import masked_mean


class _FenchelYoungLoss(nn.Module):
    def __init__(self, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        if reduction not in ("none", "sum", "mean"):
            raise ValueError(f"invalid reduction {reduction!r}")
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing

    def project(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def entropy(self, p: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def target_distribution(self, X: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n_classes = X.size(-1)
        y = F.one_hot(target.clamp_min(0), n_classes).to(X.dtype)
        if self.label_smoothing > 0:
            y = y * (1.0 - self.label_smoothing) + self.label_smoothing / n_classes
        return y

    def forward(self, X: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """X: (N, C) scores, target: (N,) class indices."""
        p_star = self.project(X)
        y = self.target_distribution(X, target)
        loss = self.entropy(p_star) - self.entropy(y) + ((p_star - y) * X).sum(-1)
        loss = loss.clamp(min=0.0)

        ignored = target == self.ignore_index
        loss = loss.masked_fill(ignored, 0.0)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return loss.sum()
        n_valid = (~ignored).sum().clamp_min(1)
        return loss.sum() / n_valid


class SparsemaxLoss(_FenchelYoungLoss):
    """Fenchel-Young loss of sparsemax (Gini entropy)."""

    def __init__(self, k: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def project(self, X):
        return sparsemax(X, dim=-1, k=self.k)

    def entropy(self, p):
        return 0.5 * (1.0 - (p * p).sum(-1))


class Entmax15Loss(_FenchelYoungLoss):
    """Fenchel-Young loss of 1.5-entmax (Tsallis entropy with alpha = 1.5)."""

    def project(self, X):
        return entmax15(X, dim=-1)

    def entropy(self, p):
        return (1.0 - (p * torch.sqrt(p)).sum(-1)) / 0.75


class EntmaxBisectLoss(_FenchelYoungLoss):
    """Fenchel-Young loss of alpha-entmax for a fixed alpha > 1."""

    def __init__(self, alpha: float = 1.5, n_iter: int = 50, **kwargs):
        super().__init__(**kwargs)
        if alpha <= 1.0:
            raise ValueError("alpha must be > 1; use cross-entropy for alpha = 1")
        self.alpha = alpha
        self.n_iter = n_iter

    def project(self, X):
        return entmax_bisect(X, self.alpha, dim=-1, n_iter=self.n_iter)

    def entropy(self, p):
        a = self.alpha
        return (1.0 - (p ** a).sum(-1)) / (a * (a - 1.0))


def attention_alignment_loss(attn: torch.Tensor, gold: torch.Tensor,
                             mask: Optional[torch.Tensor] = None, eps: float = 1e-8) -> torch.Tensor:
    """KL(gold || attn) between reference alignments and attention rows.

    attn, gold: (B, T, S); mask: (B, T), True at real query positions.
    """
    gold = gold / gold.sum(-1, keepdim=True).clamp_min(eps)
    kl = (gold * (torch.log(gold + eps) - torch.log(attn))).sum(-1)
    if mask is None:
        return kl.mean()
    return masked_mean(kl, mask)


class AttentionDistillationLoss(nn.Module):
    """Match a student's attention maps to a teacher's (B, H, T, S)."""

    def __init__(self, mode: str = "l1"):
        super().__init__()
        self.mode = mode

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, query_mask=None):
        teacher = teacher.detach()
        if self.mode == "l1":
            per_row = (student - teacher).abs().sum(-1)
        else:
            per_row = (student - teacher).pow(2).sum(-1)
        if query_mask is None:
            return per_row.mean()
        return masked_mean(per_row, query_mask[:, None, :])
