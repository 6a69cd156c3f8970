"""Waveform-domain losses: multi-resolution STFT loss (Parallel WaveGAN) and mel reconstruction (HiFi-GAN)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MelConfig, STFTConfig
from .functional import mel_spectrogram, spectrogram_magnitude


class SpectralConvergenceLoss(nn.Module):
    """Frobenius norm of the magnitude error, relative to the reference magnitude."""

    def forward(self, x_mag: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
        """x_mag: predicted magnitude (B, frames, bins); y_mag: ground-truth magnitude."""
        return torch.norm(y_mag - x_mag, p="fro") / torch.norm(y_mag, p="fro")


class LogSTFTMagnitudeLoss(nn.Module):
    """L1 distance between log magnitudes."""

    def forward(self, x_mag: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(torch.log(y_mag), torch.log(x_mag))


class CompressedMagnitudeLoss(nn.Module):
    """MSE between power-law compressed magnitudes (|X|^0.3), a smoother alternative to the log."""

    def __init__(self, power: float = 0.3):
        super().__init__()
        self.power = power

    def forward(self, x_mag: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(x_mag ** self.power, y_mag ** self.power)


class STFTLoss(nn.Module):
    """Spectral convergence and log-magnitude losses at one STFT resolution."""

    def __init__(self, fft_size: int = 1024, shift_size: int = 120, win_length: int = 600,
                 window: str = "hann_window", compressed: bool = False):
        super().__init__()
        self.fft_size = fft_size
        self.shift_size = shift_size
        self.win_length = win_length
        self.register_buffer("window", getattr(torch, window)(win_length), persistent=False)
        self.spectral_convergence_loss = SpectralConvergenceLoss()
        self.magnitude_loss = CompressedMagnitudeLoss() if compressed else LogSTFTMagnitudeLoss()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: predicted waveform (B, T); y: ground-truth waveform (B, T)."""
        x_mag = spectrogram_magnitude(x, self.fft_size, self.shift_size, self.win_length, self.window)
        with torch.no_grad():
            y_mag = spectrogram_magnitude(y, self.fft_size, self.shift_size, self.win_length, self.window)
        sc_loss = self.spectral_convergence_loss(x_mag, y_mag)
        mag_loss = self.magnitude_loss(x_mag, y_mag)
        return sc_loss, mag_loss


class MultiResolutionSTFTLoss(nn.Module):
    """Average of :class:`STFTLoss` over several (fft, hop, window) resolutions."""

    def __init__(self, cfg: Optional[STFTConfig] = None, compressed: bool = False):
        super().__init__()
        cfg = cfg or STFTConfig()
        assert len(cfg.fft_sizes) == len(cfg.hop_sizes) == len(cfg.win_lengths)
        self.stft_losses = nn.ModuleList([
            STFTLoss(fs, ss, wl, cfg.window, compressed)
            for fs, ss, wl in zip(cfg.fft_sizes, cfg.hop_sizes, cfg.win_lengths)
        ])
        self.factor_sc = cfg.factor_sc
        self.factor_mag = cfg.factor_mag

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.dim() == 3:
            x, y = x.squeeze(1), y.squeeze(1)
        sc_loss = 0.0
        mag_loss = 0.0
        for f in self.stft_losses:
            sc_l, mag_l = f(x, y)
            sc_loss += sc_l
            mag_loss += mag_l
        sc_loss /= len(self.stft_losses)
        mag_loss /= len(self.stft_losses)
        return self.factor_sc * sc_loss, self.factor_mag * mag_loss


class MelReconstructionLoss(nn.Module):
    """L1 between log-mel spectrograms of generated and reference waveforms (HiFi-GAN, weight 45)."""

    def __init__(self, cfg: Optional[MelConfig] = None):
        super().__init__()
        self.cfg = cfg or MelConfig()

    def forward(self, wav_pred: torch.Tensor, wav_target: torch.Tensor) -> torch.Tensor:
        if wav_pred.dim() == 3:
            wav_pred, wav_target = wav_pred.squeeze(1), wav_target.squeeze(1)
        mel_pred = mel_spectrogram(wav_pred, self.cfg)
        with torch.no_grad():
            mel_target = mel_spectrogram(wav_target, self.cfg)
        return F.l1_loss(mel_pred, mel_target)
