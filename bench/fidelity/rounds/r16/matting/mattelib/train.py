"""Training and validation steps for trimap-based and trimap-free matting models."""
from typing import Dict, Iterable, Optional

import torch
import torch.nn as nn

from . import functional as MF
from .config import EvalConfig, TrainConfig
from .metrics import MattingMetrics
from .trimap import pseudo_trimap, unknown_mask


def fuse_trimap(alpha: torch.Tensor, trimap: torch.Tensor) -> torch.Tensor:
    """Overwrite the prediction with the trimap's value wherever the trimap is definite."""
    fg = trimap > 0.75
    bg = trimap < 0.25
    alpha = torch.where(fg, torch.ones_like(alpha), alpha)
    return torch.where(bg, torch.zeros_like(alpha), alpha)


def self_training_loss(model: nn.Module, teacher: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Consistency with an EMA teacher on unlabeled images, inside the teacher's definite regions."""
    with torch.no_grad():
        t_alpha = teacher(image, None)["alpha"]
    trimap = pseudo_trimap(t_alpha)
    s_alpha = model(image, trimap)["alpha"]
    known = 1.0 - unknown_mask(trimap)
    return MF.masked_mean(torch.abs(s_alpha - t_alpha), known)


@torch.no_grad()
def update_teacher(teacher: nn.Module, student: nn.Module, momentum: float = 0.999) -> None:
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)


def train_step(model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
               batch: Dict[str, torch.Tensor], cfg: TrainConfig, scaler=None,
               teacher: Optional[nn.Module] = None) -> Dict[str, float]:
    model.train()
    image, trimap = batch["image"], batch.get("trimap")
    with torch.autocast(device_type=image.device.type, enabled=cfg.amp):
        out = model(image, trimap)
        if cfg.fuse_trimap and trimap is not None:
            out["alpha"] = fuse_trimap(out["alpha"], trimap)
        loss, logs = criterion(out, batch)
        if teacher is not None and "unlabeled" in batch:
            st = self_training_loss(model, teacher, batch["unlabeled"])
            loss = loss + st
            logs["self_training"] = st.item()
    if cfg.skip_nonfinite and not torch.isfinite(loss):
        optimizer.zero_grad(set_to_none=True)
        return {"skipped": 1.0}
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if cfg.clip_grad > 0:
        logs["grad_norm"] = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if teacher is not None:
        update_teacher(teacher, model)
    logs["loss"] = loss.detach().item()
    return logs


@torch.no_grad()
def validate(model: nn.Module, loader: Iterable, cfg: EvalConfig) -> Dict[str, float]:
    model.eval()
    meter = MattingMetrics(cfg.grad_sigma, cfg.conn_step, cfg.sad_scale)
    for batch in loader:
        image, trimap = batch["image"], batch["trimap"]
        alpha = model(image, trimap)["alpha"].clamp(0.0, 1.0)
        alpha = fuse_trimap(alpha, trimap)
        if cfg.use_guided_filter:
            gray = image.mean(dim=1, keepdim=True)
            alpha = MF.guided_filter(gray, alpha, cfg.gf_radius, cfg.gf_eps).clamp(0.0, 1.0)
        if cfg.quantize:
            alpha = torch.round(alpha * 255.0) / 255.0
        meter.update(alpha, batch["alpha"], trimap)
    return meter.compute()
