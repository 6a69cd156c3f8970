"""Variance adaptor (FastSpeech 2): duration / pitch / energy predictors, their losses, length regulator."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import VarianceConfig
from .functional import masked_mean


class VariancePredictor(nn.Module):
    """Conv1d-ReLU-LayerNorm-Dropout twice, then a linear projection to one value per step."""

    def __init__(self, in_dim: int = 256, filter_size: int = 256, kernel_size: int = 3, dropout: float = 0.5):
        super().__init__()
        padding = (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(in_dim, filter_size, kernel_size, padding=padding)
        self.norm1 = nn.LayerNorm(filter_size)
        self.conv2 = nn.Conv1d(filter_size, filter_size, kernel_size, padding=padding)
        self.norm2 = nn.LayerNorm(filter_size)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(filter_size, 1)

    def forward(self, x: torch.Tensor, pad_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: (B, T, C); pad_mask: (B, T), True on padding. Returns (B, T)."""
        x = torch.relu(self.conv1(x.transpose(1, 2))).transpose(1, 2)
        x = self.dropout(self.norm1(x))
        x = torch.relu(self.conv2(x.transpose(1, 2))).transpose(1, 2)
        x = self.dropout(self.norm2(x))
        out = self.proj(x).squeeze(-1)
        if pad_mask is not None:
            out = out.masked_fill(pad_mask, 0.0)
        return out


class LengthRegulator(nn.Module):
    """Expand token-level hidden states to frame level by repeating each one ``duration`` times."""

    def forward(self, x: torch.Tensor, durations: torch.Tensor, max_len: Optional[int] = None):
        mel_lens = durations.sum(dim=1)
        if max_len is None:
            max_len = int(mel_lens.max().item())
        out = x.new_zeros(x.size(0), max_len, x.size(-1))
        for i, (seq, dur) in enumerate(zip(x, durations.long())):
            expanded = torch.repeat_interleave(seq, dur, dim=0)[:max_len]
            out[i, : expanded.size(0)] = expanded
        return out, mel_lens.clamp(max=max_len)


def log_durations_to_frames(log_dur_pred: torch.Tensor, alpha: float = 1.0, offset: float = 1.0,
                            max_duration: int = 75) -> torch.Tensor:
    """Inference: log-domain duration predictions -> integer frame counts, scaled by ``alpha``."""
    dur = torch.exp(log_dur_pred) - offset
    dur = torch.round(dur * alpha)
    dur = torch.clamp(dur, min=0, max=max_duration)
    return dur.long()


class QuantizedEmbedding(nn.Module):
    """Bucketize a scalar contour (pitch or energy) and embed the bucket index."""

    def __init__(self, v_min: float, v_max: float, n_bins: int, hidden: int):
        super().__init__()
        self.register_buffer("bins", torch.linspace(v_min, v_max, n_bins - 1), persistent=False)
        self.embedding = nn.Embedding(n_bins, hidden)

    def forward(self, prediction: torch.Tensor, target: Optional[torch.Tensor] = None,
                control: float = 1.0) -> torch.Tensor:
        if target is not None:
            return self.embedding(torch.bucketize(target, self.bins))
        return self.embedding(torch.bucketize(prediction * control, self.bins))


class VarianceAdaptor(nn.Module):
    def __init__(self, cfg: VarianceConfig, hidden: int = 256):
        super().__init__()
        self.cfg = cfg
        self.duration_predictor = VariancePredictor(hidden, hidden)
        self.pitch_predictor = VariancePredictor(hidden, hidden)
        self.energy_predictor = VariancePredictor(hidden, hidden)
        self.pitch_embedding = QuantizedEmbedding(cfg.pitch_min, cfg.pitch_max, cfg.n_bins, hidden)
        self.energy_embedding = QuantizedEmbedding(cfg.energy_min, cfg.energy_max, cfg.n_bins, hidden)
        self.length_regulator = LengthRegulator()

    def forward(self, x, src_pad_mask, max_len=None, duration_target=None, pitch_target=None,
                energy_target=None, d_control=1.0, p_control=1.0, e_control=1.0) -> Dict[str, torch.Tensor]:
        dur_in = x.detach() if self.cfg.detach_duration_input else x
        log_dur_pred = self.duration_predictor(dur_in, src_pad_mask)
        pitch_pred = self.pitch_predictor(x, src_pad_mask)
        x = x + self.pitch_embedding(pitch_pred, pitch_target, p_control)
        energy_pred = self.energy_predictor(x, src_pad_mask)
        x = x + self.energy_embedding(energy_pred, energy_target, e_control)
        if duration_target is not None:
            durations = duration_target
        else:
            durations = log_durations_to_frames(log_dur_pred, d_control, self.cfg.duration_offset,
                                                self.cfg.max_duration)
        x, mel_lens = self.length_regulator(x, durations, max_len)
        return {"hidden": x, "log_duration": log_dur_pred, "pitch": pitch_pred, "energy": energy_pred,
                "durations": durations, "mel_lens": mel_lens}


class DurationPredictorLoss(nn.Module):
    """MSE between predicted log durations and log(target + offset)."""

    def __init__(self, offset: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.offset = offset
        self.reduction = reduction

    def forward(self, log_dur_pred: torch.Tensor, dur_target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        log_target = torch.log(dur_target.float() + self.offset)
        loss = F.mse_loss(log_dur_pred, log_target, reduction="none")
        if self.reduction == "mean":
            return masked_mean(loss, mask)
        return (loss * mask).sum()


def total_duration_loss(log_dur_pred: torch.Tensor, dur_target: torch.Tensor, mask: torch.Tensor,
                        offset: float = 1.0) -> torch.Tensor:
    """Relative L1 error of the utterance length implied by the duration predictor."""
    dur_pred = torch.clamp(torch.exp(log_dur_pred) - offset, min=0.0)
    pred_len = (dur_pred * mask).sum(dim=1)
    true_len = (dur_target.float() * mask).sum(dim=1)
    return F.l1_loss(pred_len, true_len) / true_len.mean()


def average_by_duration(values: torch.Tensor, durations: torch.Tensor, skip_zeros: bool = True) -> torch.Tensor:
    """Average frame-level values (B, T_mel) over each token's frames -> (B, T_text).

    With ``skip_zeros`` unvoiced frames (F0 == 0) are left out of the average, as in FastSpeech 2.
    """
    batch, n_tokens = durations.shape
    cum = torch.cumsum(durations.long(), dim=1)
    frame_ids = torch.arange(values.size(1), device=values.device).unsqueeze(0).expand(batch, -1)
    token_of_frame = torch.searchsorted(cum, frame_ids.contiguous(), right=True)
    valid = frame_ids < cum[:, -1:]
    if skip_zeros:
        valid = valid & (values != 0)
    token_of_frame = token_of_frame.clamp(max=n_tokens - 1)
    sums = values.new_zeros(batch, n_tokens).scatter_add_(1, token_of_frame, values * valid)
    counts = values.new_zeros(batch, n_tokens).scatter_add_(1, token_of_frame, valid.to(values.dtype))
    return torch.where(counts > 0, sums / counts.clamp_min(1.0), torch.zeros_like(sums))


def normalize_f0(f0_hz: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Z-scored log-F0 on voiced frames; unvoiced frames (0 Hz) stay 0."""
    voiced = f0_hz > 0
    log_f0 = torch.log(torch.where(voiced, f0_hz, torch.ones_like(f0_hz)))
    return torch.where(voiced, (log_f0 - mean) / std, torch.zeros_like(f0_hz))


def denorm_f0(f0: torch.Tensor, uv: Optional[torch.Tensor], mean: float, std: float,
              min_f0: float = 50.0) -> torch.Tensor:
    """Inverse of :func:`normalize_f0`, in Hz, zeroed on frames flagged unvoiced by ``uv``."""
    f0_hz = torch.exp(f0 * std + mean)
    f0_hz = f0_hz.clamp(min=min_f0)
    if uv is not None:
        f0_hz = f0_hz.masked_fill(uv, 0.0)
    return f0_hz


class PitchLoss(nn.Module):
    """Frame-level F0 loss with an optional voiced/unvoiced head (DiffSinger style)."""

    def __init__(self, cfg: VarianceConfig, loss_type: str = "l1", uv_weight: float = 1.0, hz_weight: float = 0.0):
        super().__init__()
        self.cfg = cfg
        self.loss_type = loss_type
        self.uv_weight = uv_weight
        self.hz_weight = hz_weight

    def forward(self, pitch_pred: torch.Tensor, f0_hz: torch.Tensor, nonpadding: torch.Tensor):
        """pitch_pred: (B, T, 2) = [normalized log-F0, uv logit]; f0_hz: (B, T), 0 on unvoiced frames."""
        losses = {}
        uv = (f0_hz == 0).float()
        f0_norm = normalize_f0(f0_hz, self.cfg.log_f0_mean, self.cfg.log_f0_std)
        weights = nonpadding
        if self.cfg.use_uv:
            uv_loss = F.binary_cross_entropy_with_logits(pitch_pred[..., 1], uv, reduction="none")
            losses["uv"] = self.uv_weight * (uv_loss * nonpadding).sum() / nonpadding.sum()
            weights = nonpadding * (1.0 - uv)
        f0_pred = pitch_pred[..., 0]
        if self.loss_type == "l1":
            f0_loss = F.l1_loss(f0_pred, f0_norm, reduction="none")
        else:
            f0_loss = F.mse_loss(f0_pred, f0_norm, reduction="none")
        losses["f0"] = (f0_loss * weights).sum() / weights.sum()
        if self.hz_weight > 0:
            uv_pred = pitch_pred[..., 1] > 0 if self.cfg.use_uv else None
            f0_hz_pred = denorm_f0(f0_pred, uv_pred, self.cfg.log_f0_mean, self.cfg.log_f0_std, self.cfg.min_f0)
            hz_err = F.l1_loss(f0_hz_pred, f0_hz, reduction="none")
            losses["f0_hz"] = self.hz_weight * masked_mean(hz_err, nonpadding) / self.cfg.f0_std
        return losses
