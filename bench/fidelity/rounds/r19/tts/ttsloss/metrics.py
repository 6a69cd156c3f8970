"""Evaluation metrics for acoustic models: MCD, F0 RMSE and attention focus rate."""
import math

import torch

from .functional import masked_mean, sequence_mask


def _dct_matrix(n_mels: int, n_ceps: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix (n_ceps, n_mels) mapping log-mel frames to mel cepstra."""
    n = torch.arange(n_mels, dtype=torch.float32)
    k = torch.arange(n_ceps, dtype=torch.float32).unsqueeze(1)
    dct = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    dct[0] /= math.sqrt(2.0)
    return dct


@torch.no_grad()
def mel_cepstral_distortion(mel_pred: torch.Tensor, mel_target: torch.Tensor, mel_lens: torch.Tensor,
                            n_ceps: int = 13) -> torch.Tensor:
    """MCD in dB between (B, T, n_mels) log-mel spectrograms; c0 (energy) is excluded."""
    n_frames = min(mel_pred.size(1), mel_target.size(1))
    dct = _dct_matrix(mel_pred.size(-1), n_ceps + 1).to(mel_pred)
    diff = (mel_pred[:, :n_frames] - mel_target[:, :n_frames]) @ dct.t()
    dist = torch.sqrt(2.0 * (diff[..., 1:] ** 2).sum(-1))
    return 10.0 / math.log(10.0) * masked_mean(dist, sequence_mask(mel_lens.clamp(max=n_frames), n_frames))


@torch.no_grad()
def f0_rmse(f0_pred_hz: torch.Tensor, f0_target_hz: torch.Tensor) -> torch.Tensor:
    """RMSE in Hz over frames that are voiced in both prediction and reference."""
    voiced = (f0_pred_hz > 0) & (f0_target_hz > 0)
    if voiced.sum() == 0:
        return f0_pred_hz.new_tensor(0.0)
    return torch.sqrt(((f0_pred_hz[voiced] - f0_target_hz[voiced]) ** 2).mean())


@torch.no_grad()
def attention_focus_rate(att_ws: torch.Tensor, olens: torch.Tensor) -> torch.Tensor:
    """FastSpeech's focus rate: mean over valid decoder steps of the peak attention weight."""
    peak = att_ws.max(dim=-1).values
    return masked_mean(peak, sequence_mask(olens, att_ws.size(1)))

