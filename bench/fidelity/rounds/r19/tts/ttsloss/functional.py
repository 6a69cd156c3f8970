"""Functional helpers: sequence masks, masked reductions and spectral features."""
import math
from typing import Optional

import torch
import torch.nn.functional as F

from .config import MelConfig

_MEL_BASIS = {}
_HANN_WINDOW = {}


def sequence_mask(lengths: torch.Tensor, max_len: Optional[int] = None) -> torch.Tensor:
    """(B, T) boolean mask, True on valid (non-padded) steps."""
    if max_len is None:
        max_len = int(lengths.max())
    ids = torch.arange(max_len, device=lengths.device)
    return ids.unsqueeze(0) < lengths.unsqueeze(1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: Optional[int] = None) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is set; the mask is broadcast over trailing dims."""
    mask = mask.to(x.dtype)
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    mask = mask.expand_as(x)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)


def dynamic_range_compression(x: torch.Tensor, C: float = 1.0, clip_val: float = 1e-5) -> torch.Tensor:
    return torch.log(torch.clamp(x, min=clip_val) * C)


def _hz_to_mel(freq: float) -> float:
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def _mel_to_hz(mel: float) -> float:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular mel filterbank with Slaney area normalization, (n_mels, n_fft // 2 + 1)."""
    n_freqs = n_fft // 2 + 1
    fft_freqs = torch.linspace(0.0, sample_rate / 2.0, n_freqs)
    m_pts = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    f_pts = torch.tensor([_mel_to_hz(m.item()) for m in m_pts])
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - fft_freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.clamp(torch.min(down, up), min=0.0)
    enorm = 2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])
    return (fb * enorm.unsqueeze(0)).t()


def spectrogram_magnitude(x: torch.Tensor, fft_size: int, hop_size: int, win_length: int,
                          window: torch.Tensor) -> torch.Tensor:
    """Linear magnitude spectrogram (B, frames, fft_size // 2 + 1) of waveforms (B, T)."""
    x_stft = torch.stft(x, fft_size, hop_size, win_length, window, return_complex=True)
    power = x_stft.real ** 2 + x_stft.imag ** 2
    return torch.sqrt(torch.clamp(power, min=1e-7)).transpose(2, 1)


def mel_spectrogram(wav: torch.Tensor, cfg: MelConfig, center: bool = False) -> torch.Tensor:
    """Log-mel spectrogram (B, n_mels, frames) of waveforms (B, T), as in HiFi-GAN's meldataset."""
    key = (cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max, str(wav.device))
    if key not in _MEL_BASIS:
        fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
        _MEL_BASIS[key] = fb.to(wav.device)
        _HANN_WINDOW[key] = torch.hann_window(cfg.win_length, device=wav.device)
    pad = (cfg.n_fft - cfg.hop_length) // 2
    wav = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(wav, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                      window=_HANN_WINDOW[key], center=center, return_complex=True)
    mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
    mel = torch.matmul(_MEL_BASIS[key], mag)
    return dynamic_range_compression(mel, clip_val=cfg.log_eps)


def frame_energy(mel: torch.Tensor, log_mel: bool = True) -> torch.Tensor:
    """Per-frame energy (L2 norm over mel bins) of a (B, T, n_mels) mel spectrogram."""
    if log_mel:
        mel = torch.exp(mel)
    return torch.norm(mel, dim=-1)
