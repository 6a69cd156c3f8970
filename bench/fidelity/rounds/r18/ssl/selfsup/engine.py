"""Training steps and the representation statistics they log."""

from __future__ import annotations

import math
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .byol import MomentumUpdater
from .config import DistillConfig
from .contrastive import alignment_loss, uniformity_loss
from .distill import KDLoss, dkd_loss, soft_cross_entropy


@torch.no_grad()
def embedding_stats(z1: torch.Tensor, z2: torch.Tensor) -> Dict[str, float]:
    n1, n2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    targets = torch.arange(z1.shape[0], device=z1.device)
    top1 = (torch.argmax(n1 @ n2.T, dim=1) == targets).float().mean()
    return {"top1": top1.item(), "std": n1.std(dim=0).mean().item(),
            "norm": z1.norm(dim=1).mean().item()}


def clip_loss_value(loss: torch.Tensor, max_value: float) -> torch.Tensor:
    """Rescale a spiking loss so that its value does not exceed ``max_value``."""
    if loss.item() > max_value:
        loss = loss * (max_value / loss.item())
    return loss


def simclr_step(model: nn.Module, criterion: nn.Module, optimizer, views: Sequence[torch.Tensor],
                align_weight: float = 0.0, max_loss: float = 0.0) -> Dict[str, float]:
    z1, z2 = model(views[0]), model(views[1])
    loss = criterion(z1, z2)
    if align_weight > 0:
        n1, n2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        reg = alignment_loss(n1, n2) + 0.5 * (uniformity_loss(n1) + uniformity_loss(n2))
        loss = loss + align_weight * reg
    if max_loss > 0:
        loss = clip_loss_value(loss, max_loss)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), **embedding_stats(z1, z2)}


def byol_step(online: nn.Module, predictor: nn.Module, target: nn.Module, criterion: nn.Module,
              optimizer, updater: MomentumUpdater, views: Sequence[torch.Tensor],
              step: int, total_steps: int) -> Dict[str, float]:
    p1, p2 = predictor(online(views[0])), predictor(online(views[1]))
    with torch.no_grad():
        t1, t2 = target(views[0]), target(views[1])
    loss = criterion(p1, t2, p2, t1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    updater.update_momentum(step, total_steps)
    updater.update(online, target)
    return {"loss": loss.item(), "momentum": updater.current_momentum}


def dino_step(student: nn.Module, teacher: nn.Module, criterion: nn.Module, optimizer,
              updater: MomentumUpdater, crops: Sequence[torch.Tensor], epoch: int,
              koleo: nn.Module = None, koleo_weight: float = 0.0, clip_grad: float = 3.0,
              freeze_last_layer: int = 1) -> Dict[str, float]:
    with torch.no_grad():
        teacher_output = teacher(torch.cat(list(crops[:2])))
    student_output = torch.cat([student(c) for c in crops])
    loss = criterion(student_output, teacher_output, epoch)
    if koleo is not None and koleo_weight > 0:
        loss = loss + koleo_weight * koleo(student_output[: crops[0].shape[0]])
    if not math.isfinite(loss.item()):
        raise FloatingPointError(f"loss is {loss.item()}, stopping training")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad:
        nn.utils.clip_grad_norm_(student.parameters(), clip_grad)
    if epoch < freeze_last_layer:
        for name, p in student.named_parameters():
            if "last_layer" in name:
                p.grad = None
    optimizer.step()
    updater.update(student, teacher)
    return {"loss": loss.item()}


def distill_step(student: nn.Module, teacher: nn.Module, optimizer, images: torch.Tensor,
                 labels: torch.Tensor, cfg: DistillConfig) -> Dict[str, float]:
    teacher.eval()
    with torch.no_grad():
        teacher_logits = teacher(images)
    student_logits = student(images)
    if cfg.kind == "dkd":
        loss = F.cross_entropy(student_logits, labels) + dkd_loss(
            student_logits, teacher_logits, labels, cfg.dkd_alpha, cfg.dkd_beta, cfg.temperature)
    elif cfg.kind == "soft":
        teacher_probs = F.softmax(teacher_logits / cfg.temperature, dim=-1)
        loss = soft_cross_entropy(student_logits, teacher_probs, cfg.temperature)
    else:
        loss = KDLoss(cfg.temperature, cfg.alpha)(student_logits, teacher_logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    acc = (student_logits.argmax(dim=-1) == labels).float().mean()
    return {"loss": loss.item(), "acc": acc.item()}
