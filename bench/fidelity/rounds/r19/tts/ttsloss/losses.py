"""Acoustic-model losses: mel reconstruction, stop token, and the Tacotron 2 / FastSpeech 2 composites."""
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .alignment import (BinarizationLoss, ForwardSumLoss, GuidedAttentionLoss, attention_entropy_loss,
                        durations_from_alignment, monotonic_attention_penalty)
from .config import LossConfig
from .functional import frame_energy, masked_mean, sequence_mask
from .metrics import attention_focus_rate
from .variance import DurationPredictorLoss, PitchLoss, total_duration_loss


class MelLoss(nn.Module):
    """Masked L1 / L2 / smooth-L1 distance between predicted and target mel spectrograms."""

    def __init__(self, loss_type: str = "l1", reduction: str = "mean"):
        super().__init__()
        self.loss_type = loss_type
        self.reduction = reduction

    def forward(self, mel_pred: torch.Tensor, mel_target: torch.Tensor, mel_mask=None) -> torch.Tensor:
        """mel_pred, mel_target: (B, T, n_mels); mel_mask: (B, T), True on valid frames."""
        if self.loss_type == "l1":
            err = (mel_pred - mel_target).abs()
        elif self.loss_type == "l2":
            err = (mel_pred - mel_target) ** 2
        else:
            err = F.smooth_l1_loss(mel_pred, mel_target, reduction="none", beta=1.0)
        if mel_mask is None:
            return err.mean() if self.reduction == "mean" else err.sum()
        if self.reduction == "mean":
            return masked_mean(err, mel_mask)
        return (err * mel_mask.unsqueeze(-1)).sum()


def sample_wise_min_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scale each (B, T, C) sample to [0, 1] using the extrema over its valid frames."""
    maximum = torch.amax(x.masked_fill(~mask, 0), dim=(1, 2), keepdim=True)
    minimum = torch.amin(x.masked_fill(~mask, np.inf), dim=(1, 2), keepdim=True)
    return (x - minimum) / (maximum - minimum + 1e-8)


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g.unsqueeze(1) @ g.unsqueeze(0))[None, None]


def ssim(img1: torch.Tensor, img2: torch.Tensor, window_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity of (B, 1, H, W) images with values in [0, 1]."""
    window = _gaussian_window(window_size, sigma).to(img1)
    pad = window_size // 2
    mu1, mu2 = F.conv2d(img1, window, padding=pad), F.conv2d(img2, window, padding=pad)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = F.conv2d(img1 * img1, window, padding=pad) - mu1_sq
    sigma2_sq = F.conv2d(img2 * img2, window, padding=pad) - mu2_sq
    sigma12 = F.conv2d(img1 * img2, window, padding=pad) - mu1_mu2
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean()


class SSIMLoss(nn.Module):
    """1 - SSIM between min-max normalized predicted and target mel spectrograms (Coqui TTS)."""

    def forward(self, mel_pred: torch.Tensor, mel_target: torch.Tensor, mel_mask: torch.Tensor) -> torch.Tensor:
        mask = mel_mask.unsqueeze(2)
        target_norm = sample_wise_min_max(mel_target, mask)
        pred_norm = sample_wise_min_max(mel_pred, mask)
        ssim_loss = 1.0 - ssim((pred_norm * mask).unsqueeze(1), (target_norm * mask).unsqueeze(1))
        if ssim_loss.item() > 1.0:
            ssim_loss = torch.tensor(1.0, device=ssim_loss.device)
        if ssim_loss.item() < 0.0:
            ssim_loss = torch.tensor(0.0, device=ssim_loss.device)
        return ssim_loss


class StopTokenLoss(nn.Module):
    """Weighted BCE on stop (gate) logits; the target is 1 from the last valid frame on."""

    def __init__(self, pos_weight: float = 5.0):
        super().__init__()
        self.pos_weight = pos_weight

    @staticmethod
    def make_targets(mel_lens: torch.Tensor, max_len: int) -> torch.Tensor:
        ids = torch.arange(max_len, device=mel_lens.device).unsqueeze(0)
        return (ids >= (mel_lens.unsqueeze(1) - 1)).float()

    def forward(self, stop_logits: torch.Tensor, mel_lens: torch.Tensor) -> torch.Tensor:
        max_len = stop_logits.size(1)
        targets = self.make_targets(mel_lens, max_len)
        pos_weight = stop_logits.new_tensor(self.pos_weight)
        loss = F.binary_cross_entropy_with_logits(stop_logits, targets, pos_weight=pos_weight, reduction="none")
        return masked_mean(loss, sequence_mask(mel_lens, max_len))


class Tacotron2Loss(nn.Module):
    """Mel + postnet + stop-token losses, with attention regularizers for the autoregressive decoder."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.mel_loss = MelLoss(cfg.mel_loss, cfg.reduction)
        self.stop_loss = StopTokenLoss(cfg.stop_pos_weight)
        self.guided_attn = GuidedAttentionLoss(sigma=cfg.guided_attn_sigma) if cfg.guided_attn_weight > 0 else None

    def forward(self, outputs: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor],
                step: int = 0) -> Tuple[torch.Tensor, Dict]:
        cfg = self.cfg
        mel_target = batch["mel"]
        mel_mask = sequence_mask(batch["mel_lens"], mel_target.size(1))
        alignments = outputs["alignments"]
        losses = {
            "mel": cfg.mel_weight * self.mel_loss(outputs["mel"], mel_target, mel_mask),
            "postnet": cfg.postnet_weight * self.mel_loss(outputs["mel_postnet"], mel_target, mel_mask),
            "stop": cfg.stop_weight * self.stop_loss(outputs["stop_logits"], batch["mel_lens"]),
        }
        if self.guided_attn is not None:
            focus = attention_focus_rate(alignments, batch["mel_lens"])
            if focus < cfg.guided_attn_until_focus:
                ga = self.guided_attn(alignments, batch["text_lens"], batch["mel_lens"])
                losses["guided_attn"] = cfg.guided_attn_weight * ga
        if cfg.attn_entropy_weight > 0:
            losses["attn_entropy"] = cfg.attn_entropy_weight * attention_entropy_loss(alignments, batch["mel_lens"])
        if cfg.monotonic_weight > 0:
            penalty = monotonic_attention_penalty(alignments, batch["text_lens"], batch["mel_lens"])
            losses["monotonic"] = cfg.monotonic_weight * penalty
        return sum(losses.values()), losses


class FastSpeech2Loss(nn.Module):
    """Mel, postnet, duration, pitch and energy losses; optional aligner (forward-sum + bin) losses."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.mel_loss = MelLoss(cfg.mel_loss, cfg.reduction)
        self.duration_loss = DurationPredictorLoss(cfg.variance.duration_offset, cfg.reduction)
        self.pitch_loss = PitchLoss(cfg.variance, uv_weight=cfg.uv_weight, hz_weight=cfg.pitch_hz_weight)
        self.forward_sum = ForwardSumLoss()
        self.bin_loss = BinarizationLoss()
        self.ssim_loss = SSIMLoss()

    def forward(self, outputs: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor],
                step: int = 0) -> Tuple[torch.Tensor, Dict]:
        cfg, var = self.cfg, self.cfg.variance
        src_mask = sequence_mask(batch["text_lens"], batch["tokens"].size(1))
        mel_target = batch["mel"]
        n_frames = min(outputs["mel"].size(1), mel_target.size(1))
        mel_mask = sequence_mask(batch["mel_lens"], mel_target.size(1))[:, :n_frames]
        mel_target = mel_target[:, :n_frames]
        losses = {
            "mel": cfg.mel_weight * self.mel_loss(outputs["mel"][:, :n_frames], mel_target, mel_mask),
            "postnet": cfg.postnet_weight * self.mel_loss(outputs["mel_postnet"][:, :n_frames], mel_target,
                                                          mel_mask),
        }

        durations = batch["durations"]
        if "attn_soft" in outputs:
            durations = durations_from_alignment(outputs["attn_hard"])
            fs = self.forward_sum(outputs["attn_logprob"], batch["text_lens"], batch["mel_lens"])
            losses["forward_sum"] = cfg.forward_sum_weight * fs
            warmup = min(step / max(cfg.bin_warmup_steps, 1), 1.0)
            losses["bin"] = warmup * cfg.bin_weight * self.bin_loss(outputs["attn_hard"], outputs["attn_soft"])
        losses["duration"] = cfg.duration_weight * self.duration_loss(outputs["log_duration"], durations, src_mask)
        if cfg.total_duration_weight > 0:
            tdl = total_duration_loss(outputs["log_duration"], durations, src_mask.float(), var.duration_offset)
            losses["total_duration"] = cfg.total_duration_weight * tdl

        if var.pitch_feature_level == "phoneme_level":
            pitch_err = (outputs["pitch"] - batch["pitch"]) ** 2
            losses["pitch"] = cfg.pitch_weight * masked_mean(pitch_err, src_mask)
        else:
            frame_mask = sequence_mask(batch["mel_lens"], batch["f0"].size(1)).float()
            for name, value in self.pitch_loss(outputs["pitch"], batch["f0"], frame_mask).items():
                losses[name] = cfg.pitch_weight * value
        energy_mask = src_mask if var.energy_feature_level == "phoneme_level" else mel_mask
        energy_err = (outputs["energy"] - batch["energy"]) ** 2
        losses["energy"] = cfg.energy_weight * masked_mean(energy_err, energy_mask)

        if cfg.ssim_weight > 0:
            losses["ssim"] = cfg.ssim_weight * self.ssim_loss(outputs["mel_postnet"][:, :n_frames], mel_target,
                                                              mel_mask)
        if cfg.mel_energy_weight > 0:
            e_pred = frame_energy(outputs["mel_postnet"][:, :n_frames])
            e_target = frame_energy(mel_target)
            losses["mel_energy"] = cfg.mel_energy_weight * masked_mean((e_pred - e_target) ** 2, mel_mask)
        return sum(losses.values()), losses
