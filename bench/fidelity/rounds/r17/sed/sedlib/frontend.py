"""Feature front-ends: fixed log-mel spectrogram and trainable PCEN."""
import math

import torch
import torch.nn as nn
import torchaudio

from .config import FeatureConfig


class LogMelSpectrogram(nn.Module):
    """Mel filterbank energies, optionally log-compressed.

    The transform has no trainable parameters; it is run on the raw waveform
    before augmentation, so the output is treated as data.
    """

    def __init__(self, cfg: FeatureConfig, take_log: bool = True):
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.n_fft,
            hop_length=cfg.hop_length, f_min=cfg.f_min, f_max=cfg.f_max,
            n_mels=cfg.n_mels, power=2.0)
        self.log_eps = cfg.log_eps
        self.take_log = take_log

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mel = self.mel(waveform)
        if self.take_log:
            return torch.log(mel + self.log_eps)
        return mel


def amplitude_to_db(spec: torch.Tensor, amin: float = 1e-10, top_db: float = 80.0) -> torch.Tensor:
    """Power spectrogram to decibels, clipped to ``top_db`` below the per-clip peak."""
    db = 10.0 * torch.log10(torch.clamp(spec, min=amin))
    if top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def normalize_features(x: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Per-clip, per-band standardisation along ``dim``."""
    mean = x.mean(dim=dim, keepdim=True)
    std = x.std(dim=dim, keepdim=True)
    return (x - mean) / (std + eps)


class PCEN(nn.Module):
    """Per-channel energy normalisation with trainable parameters.

    Follows Wang et al. (2017): ``(E / (eps + M)^alpha + delta)^r - delta^r`` where
    ``M`` is a first-order IIR smoothing of the energy along time. ``alpha`` and ``r``
    are learned in log space; ``delta`` is learned directly.
    """

    def __init__(self, n_bands: int, alpha: float = 0.98, delta: float = 2.0, r: float = 0.5,
                 s: float = 0.025, eps: float = 1e-6, trainable: bool = True):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.full((n_bands,), math.log(alpha)), requires_grad=trainable)
        self.delta = nn.Parameter(torch.full((n_bands,), float(delta)), requires_grad=trainable)
        self.log_r = nn.Parameter(torch.full((n_bands,), math.log(r)), requires_grad=trainable)
        self.s = s
        self.eps = eps

    def smooth(self, energy: torch.Tensor) -> torch.Tensor:
        frames = [energy[..., 0]]
        for t in range(1, energy.shape[-1]):
            frames.append((1.0 - self.s) * frames[-1] + self.s * energy[..., t])
        return torch.stack(frames, dim=-1)

    def forward(self, energy: torch.Tensor) -> torch.Tensor:
        # energy: (batch, n_bands, frames), linear mel energies
        alpha = self.log_alpha.exp().clamp(max=1.0)[:, None]
        r = self.log_r.exp()[:, None]
        delta = self.delta[:, None]
        smoothed = self.smooth(energy)
        gain = (self.eps + smoothed).pow(alpha)
        return (energy / gain + delta).pow(r) - delta.pow(r)
