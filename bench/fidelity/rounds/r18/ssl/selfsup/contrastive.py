"""Contrastive objectives: NT-Xent (SimCLR), InfoNCE with a queue (MoCo), SupCon,
the debiased / hard-negative loss and the alignment-uniformity pair."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .config import SimCLRConfig
from .normalize import l2_normalize


def _dist_ready() -> bool:
    return dist.is_available() and dist.is_initialized()


@torch.no_grad()
def concat_all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all processes along dim 0."""
    if not _dist_ready():
        return tensor
    tensors_gather = [torch.ones_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(tensors_gather, tensor, async_op=False)
    return torch.cat(tensors_gather, dim=0)


class NTXentLoss(nn.Module):
    """Normalised temperature-scaled cross entropy (SimCLR)."""

    def __init__(self, temperature: float = 0.1, normalize: bool = True,
                 gather_distributed: bool = False, reduction: str = "mean"):
        super().__init__()
        self.temperature = temperature
        self.normalize = normalize
        self.gather_distributed = gather_distributed
        self.reduction = reduction

    @classmethod
    def from_config(cls, cfg: SimCLRConfig) -> "NTXentLoss":
        return cls(cfg.temperature, cfg.normalize, cfg.gather_distributed, cfg.reduction)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            z1 = l2_normalize(z1)
            z2 = l2_normalize(z2)
        batch_size = z1.shape[0]
        z = torch.cat([z1, z2], dim=0)
        n = z.shape[0]
        if self.gather_distributed and _dist_ready():
            z_all = concat_all_gather(z)
            offset = dist.get_rank() * n
        else:
            z_all = z
            offset = 0

        logits = z @ z_all.T / self.temperature
        idx = torch.arange(n, device=z.device)
        self_mask = torch.zeros_like(logits, dtype=torch.bool)
        self_mask[idx, idx + offset] = True
        logits = logits.masked_fill(self_mask, float("-inf"))
        targets = (idx + batch_size) % n + offset

        loss = F.cross_entropy(logits, targets, reduction="none")
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss


class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al. 2020); SimCLR when no labels are given."""

    def __init__(self, temperature: float = 0.07, base_temperature: float = 0.07,
                 contrast_mode: str = "all"):
        super().__init__()
        self.temperature = temperature
        self.base_temperature = base_temperature
        self.contrast_mode = contrast_mode

    def forward(self, features: torch.Tensor, labels: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``features``: [bsz, n_views, dim], L2-normalised along the last axis."""
        device = features.device
        if features.dim() < 3:
            raise ValueError("`features` needs to be [bsz, n_views, ...]")
        batch_size = features.shape[0]
        if labels is None and mask is None:
            mask = torch.eye(batch_size, dtype=torch.float32, device=device)
        elif labels is not None:
            labels = labels.contiguous().view(-1, 1)
            mask = torch.eq(labels, labels.T).float().to(device)
        else:
            mask = mask.float().to(device)

        contrast_count = features.shape[1]
        contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
        if self.contrast_mode == "one":
            anchor_feature, anchor_count = features[:, 0], 1
        else:
            anchor_feature, anchor_count = contrast_feature, contrast_count

        anchor_dot_contrast = torch.div(anchor_feature @ contrast_feature.T, self.temperature)
        logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
        logits = anchor_dot_contrast - logits_max.detach()

        mask = mask.repeat(anchor_count, contrast_count)
        logits_mask = torch.scatter(
            torch.ones_like(mask), 1,
            torch.arange(batch_size * anchor_count, device=device).view(-1, 1), 0)
        mask = mask * logits_mask

        exp_logits = torch.exp(logits) * logits_mask
        log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))

        mask_pos_pairs = mask.sum(1)
        mask_pos_pairs = torch.where(mask_pos_pairs < 1e-6, 1, mask_pos_pairs)
        mean_log_prob_pos = (mask * log_prob).sum(1) / mask_pos_pairs

        loss = -(self.temperature / self.base_temperature) * mean_log_prob_pos
        return loss.view(anchor_count, batch_size).mean()


class InfoNCELoss(nn.Module):
    """InfoNCE against a FIFO queue of momentum keys (MoCo v2), with optional
    duplication of the hardest queue negatives."""

    def __init__(self, dim: int = 128, queue_size: int = 65536, temperature: float = 0.2,
                 num_hard: int = 0):
        super().__init__()
        self.temperature = temperature
        self.num_hard = num_hard
        self.register_buffer("queue", F.normalize(torch.randn(dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        keys = concat_all_gather(keys)
        batch_size = keys.shape[0]
        ptr = int(self.queue_ptr)
        if self.queue.shape[1] % batch_size != 0:
            raise ValueError("queue size must be divisible by the global batch size")
        self.queue[:, ptr:ptr + batch_size] = keys.T
        self.queue_ptr[0] = (ptr + batch_size) % self.queue.shape[1]

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q = F.normalize(q, dim=1)
        k = F.normalize(k.detach(), dim=1)
        l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", q, self.queue.clone().detach())
        if self.num_hard > 0:
            hard, _ = l_neg.topk(self.num_hard, dim=1)
            l_neg = torch.cat([l_neg, hard], dim=1)
        logits = torch.cat([l_pos, l_neg], dim=1) / self.temperature
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        loss = F.cross_entropy(logits, labels)
        self._dequeue_and_enqueue(k)
        return loss


class DebiasedContrastiveLoss(nn.Module):
    """Debiased contrastive loss (Chuang et al. 2020) with the optional hard-negative
    reweighting of Robinson et al. (2021) when ``beta > 0``."""

    def __init__(self, temperature: float = 0.5, tau_plus: float = 0.1, beta: float = 0.0):
        super().__init__()
        self.temperature = temperature
        self.tau_plus = tau_plus
        self.beta = beta

    def forward(self, out_1: torch.Tensor, out_2: torch.Tensor) -> torch.Tensor:
        batch_size = out_1.shape[0]
        out_1, out_2 = l2_normalize(out_1), l2_normalize(out_2)
        out = torch.cat([out_1, out_2], dim=0)
        neg = torch.exp(out @ out.T / self.temperature)
        mask = torch.ones(2 * batch_size, 2 * batch_size, dtype=torch.bool, device=out.device)
        idx = torch.arange(batch_size, device=out.device)
        mask[idx, idx] = mask[idx + batch_size, idx + batch_size] = False
        mask[idx, idx + batch_size] = mask[idx + batch_size, idx] = False
        neg = neg.masked_select(mask).view(2 * batch_size, -1)

        pos = torch.exp((out_1 * out_2).sum(dim=-1) / self.temperature)
        pos = torch.cat([pos, pos], dim=0)

        n_neg = 2 * batch_size - 2
        if self.beta > 0:
            imp = (self.beta * neg.log()).exp()
            reweight_neg = (imp * neg).sum(dim=-1) / imp.mean(dim=-1)
        else:
            reweight_neg = neg.sum(dim=-1)
        ng = (-self.tau_plus * n_neg * pos + reweight_neg) / (1 - self.tau_plus)
        ng = torch.clamp(ng, min=n_neg * math.e ** (-1 / self.temperature))
        return (-torch.log(pos / (pos + ng))).mean()


class LearnableTemperatureNCE(nn.Module):
    """Symmetric InfoNCE between two views with a learnable logit scale (CLIP style)."""

    def __init__(self, init_temperature: float = 0.07, max_logit_scale: float = 100.0):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_logit_scale = max_logit_scale

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = l2_normalize(a), l2_normalize(b)
        scale = self.logit_scale.exp().clamp(max=self.max_logit_scale)
        logits = scale * a @ b.T
        targets = torch.arange(a.shape[0], device=a.device)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def alignment_loss(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Alignment term of Wang & Isola (2020) for L2-normalised positive pairs."""
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniformity_loss(x: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """Log of the mean pairwise Gaussian potential on the hypersphere."""
    sq_pdist = torch.pdist(x, p=2).pow(2)
    return sq_pdist.mul(-t).exp().mean().log()
