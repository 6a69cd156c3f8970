"""Training step with autoregressive rollouts."""
import random

import torch
import torch.nn as nn

from .losses import BalancedMSEMAE, FSSLoss, SoftCSILoss
from .metrics import SkillTracker
from .pooling import MultiScalePoolingLoss
from .spectral import SpectralLoss
from .transforms import inverse_log_rain, quantize_dbz, rainrate_to_dbz


def make_input_transform(normalizer, quantize=False):
    """Map a rain-rate frame to the normalised reflectivity the network takes as input."""
    def to_input(rain):
        dbz = rainrate_to_dbz(rain)
        if quantize:
            dbz = quantize_dbz(dbz)
        return normalizer.encode(dbz)
    return to_input


def rollout(model, context, lead_steps, to_input, decode=inverse_log_rain, targets=None,
            teacher_forcing=0.0, truncate_every=0):
    """Autoregressive forecast of ``lead_steps`` frames of rain rate, (B, T, H, W)."""
    n_in = context.shape[1]
    frames = list(context.unbind(dim=1))
    preds = []
    for t in range(lead_steps):
        x = torch.stack(frames[-n_in:], dim=1)
        rain = decode(model(x).squeeze(1))
        preds.append(rain)
        if targets is not None and teacher_forcing > 0 and random.random() < teacher_forcing:
            nxt = targets[:, t]
        elif truncate_every > 0 and (t + 1) % truncate_every == 0:
            nxt = rain.detach()
        else:
            nxt = rain
        frames.append(to_input(nxt))
    return torch.stack(preds, dim=1)


def lead_time_weights(n, decay, device=None):
    t = torch.arange(n, dtype=torch.float32, device=device)
    w = torch.exp(-decay * t)
    return w / w.sum()


def build_criteria(cfg):
    """Named (criterion, weight) pairs from a :class:`LossConfig`."""
    criteria = {"balanced": (BalancedMSEMAE(cfg.balanced, reduction=cfg.reduction), 1.0)}
    if cfg.csi_weight > 0:
        criteria["csi"] = (SoftCSILoss(cfg.thresholds, reduction=cfg.reduction), cfg.csi_weight)
    if cfg.fss_weight > 0:
        fss = FSSLoss(cfg.fss_threshold, scales=cfg.fss_scales, reduction=cfg.reduction)
        criteria["fss"] = (fss, cfg.fss_weight)
    if cfg.pool_weight > 0:
        pool = MultiScalePoolingLoss(cfg.pool_scales, reduction=cfg.reduction)
        criteria["pool"] = (pool, cfg.pool_weight)
    if cfg.spectral.weight > 0:
        criteria["spectral"] = (SpectralLoss(cfg.spectral), cfg.spectral.weight)
    return criteria


def train_step(model, batch, optimizer, criteria, cfg, normalizer):
    """One optimisation step on a batch; returns a dict of logged scalars."""
    model.train()
    context, target = batch["context"], batch["target"]
    mask = batch.get("mask")
    lead = target.shape[1]
    to_input = make_input_transform(normalizer, quantize=cfg.quantize_inputs)
    preds = rollout(model, context, lead, to_input, targets=target,
                    teacher_forcing=cfg.teacher_forcing, truncate_every=cfg.truncate_every)
    if mask is not None:
        preds = torch.where(mask, preds, torch.zeros_like(preds))
    weights = lead_time_weights(lead, cfg.lead_time_decay, preds.device)
    total = preds.new_zeros(())
    logs = {}
    for name, (criterion, weight) in criteria.items():
        per_lead = torch.stack([criterion(preds[:, t:t + 1], target[:, t:t + 1])
                                for t in range(lead)])
        term = (per_lead * weights).sum()
        total = total + weight * term
        logs[name] = term.item()
    optimizer.zero_grad(set_to_none=True)
    if cfg.skip_nonfinite and not torch.isfinite(total):
        logs["skipped"] = 1.0
        return logs
    total.backward()
    if cfg.grad_clip is not None:
        logs["grad_norm"] = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
    optimizer.step()
    logs["loss"] = total.item()
    return logs


@torch.no_grad()
def evaluate(model, loader, normalizer, thresholds, lead_steps=None):
    model.eval()
    tracker = SkillTracker(thresholds)
    to_input = make_input_transform(normalizer)
    for batch in loader:
        target = batch["target"]
        steps = lead_steps or target.shape[1]
        preds = rollout(model, batch["context"], steps, to_input)
        mask = batch.get("mask")
        tracker.update(preds, target[:, :steps], None if mask is None else mask[:, :steps])
    return tracker.compute()
