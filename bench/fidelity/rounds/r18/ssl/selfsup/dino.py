"""Self-distillation with no labels: DINO centring and sharpening, Sinkhorn-Knopp
centring, the KoLeo regulariser and MSN-style prototype matching."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def _dist_ready() -> bool:
    return dist.is_available() and dist.is_initialized()


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature sharpening p^(1/T), renormalised over the last axis."""
    sharp = probs ** (1.0 / temperature)
    return sharp / sharp.sum(dim=-1, keepdim=True)


@torch.no_grad()
def sinkhorn_knopp(teacher_output: torch.Tensor, teacher_temp: float,
                   n_iterations: int = 3) -> torch.Tensor:
    """Balanced soft assignment of teacher logits to prototypes (DINOv2)."""
    q = torch.exp(teacher_output.float() / teacher_temp).t()
    world_size = dist.get_world_size() if _dist_ready() else 1
    n_prototypes, batch = q.shape[0], q.shape[1] * world_size
    q /= q.sum()
    for _ in range(n_iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= n_prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= batch
    q *= batch
    return q.t()


class DINOLoss(nn.Module):
    def __init__(self, out_dim: int, ncrops: int, warmup_teacher_temp: float,
                 teacher_temp: float, warmup_teacher_temp_epochs: int, nepochs: int,
                 student_temp: float = 0.1, center_momentum: float = 0.9):
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.ncrops = ncrops
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.teacher_temp_schedule = np.concatenate((
            np.linspace(warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs),
            np.ones(nepochs - warmup_teacher_temp_epochs) * teacher_temp,
        ))

    def forward(self, student_output: torch.Tensor, teacher_output: torch.Tensor,
                epoch: int) -> torch.Tensor:
        student_out = (student_output / self.student_temp).chunk(self.ncrops)
        temp = self.teacher_temp_schedule[epoch]
        teacher_out = F.softmax((teacher_output - self.center) / temp, dim=-1)
        teacher_out = teacher_out.detach().chunk(2)

        total_loss = 0.0
        n_loss_terms = 0
        for iq, q in enumerate(teacher_out):
            for v in range(len(student_out)):
                if v == iq:
                    continue
                loss = torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1)
                total_loss = total_loss + loss.mean()
                n_loss_terms += 1
        total_loss = total_loss / n_loss_terms
        self.update_center(teacher_output)
        return total_loss

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        batch_center = torch.sum(teacher_output, dim=0, keepdim=True)
        world_size = 1
        if _dist_ready():
            dist.all_reduce(batch_center)
            world_size = dist.get_world_size()
        batch_center = batch_center / (len(teacher_output) * world_size)
        self.center = self.center * self.center_momentum + batch_center * (1 - self.center_momentum)


class KoLeoLoss(nn.Module):
    """Kozachenko-Leonenko differential-entropy estimator over the batch (DINOv2)."""

    def __init__(self):
        super().__init__()
        self.pdist = nn.PairwiseDistance(2, eps=1e-8)

    @staticmethod
    def pairwise_nns_inner(x: torch.Tensor) -> torch.Tensor:
        dots = torch.mm(x, x.t())
        n = x.shape[0]
        dots.view(-1)[:: (n + 1)].fill_(-1)
        _, indices = torch.max(dots, dim=1)
        return indices

    def forward(self, student_output: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        with torch.autocast(device_type=student_output.device.type, enabled=False):
            student_output = F.normalize(student_output.float(), eps=eps, p=2, dim=-1)
            indices = self.pairwise_nns_inner(student_output)
            distances = self.pdist(student_output, student_output[indices])
            return -torch.log(distances + eps).mean()


class PrototypeAssignmentLoss(nn.Module):
    """Soft nearest-prototype matching against sharpened targets with a mean-entropy
    maximisation regulariser (MSN / PAWS)."""

    def __init__(self, temperature: float = 0.1, sharpen_temp: float = 0.25,
                 me_max_weight: float = 1.0):
        super().__init__()
        self.temperature = temperature
        self.sharpen_temp = sharpen_temp
        self.me_max_weight = me_max_weight

    def snn(self, query: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        query = F.normalize(query, dim=1)
        prototypes = F.normalize(prototypes, dim=1)
        return F.softmax(query @ prototypes.T / self.temperature, dim=1)

    def forward(self, anchor_views: torch.Tensor, target_views: torch.Tensor,
                prototypes: torch.Tensor) -> torch.Tensor:
        probs = self.snn(anchor_views, prototypes)
        with torch.no_grad():
            targets = sharpen(self.snn(target_views, prototypes), self.sharpen_temp)
            if probs.shape[0] != targets.shape[0]:
                targets = targets.repeat(probs.shape[0] // targets.shape[0], 1)
        loss = torch.mean(torch.sum(torch.log(probs ** (-targets)), dim=1))
        if self.me_max_weight > 0:
            avg_probs = probs.mean(dim=0)
            rloss = -torch.sum(torch.log(avg_probs ** (-avg_probs))) + math.log(float(avg_probs.numel()))
            loss = loss + self.me_max_weight * rloss
        return loss
