"""Fourier-domain losses against the loss of small-scale variance in nowcasts."""
import numpy as np
import torch
import torch.nn as nn

from .config import SpectralConfig
from .functional import reduce_loss


def power_spectrum(x):
    f = torch.fft.rfft2(x, norm="ortho")
    return f.real ** 2 + f.imag ** 2


def amplitude_spectrum(x):
    return torch.fft.rfft2(x, norm="ortho").abs()


def radial_bins(h, w, n_bins=None, device=None):
    """Wavenumber bin of every coefficient of an ``rfft2`` of an (h, w) field."""
    fy = torch.fft.fftfreq(h, device=device)
    fx = torch.fft.rfftfreq(w, device=device)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    if n_bins is None:
        n_bins = min(h, w) // 2
    idx = torch.floor(radius / radius.max() * n_bins).long()
    return idx.clamp_max(n_bins - 1), n_bins


def radial_average(spec, idx, n_bins):
    flat = spec.flatten(-2)
    index = idx.flatten().expand_as(flat)
    total = flat.new_zeros(*flat.shape[:-1], n_bins).scatter_add(-1, index, flat)
    counts = torch.bincount(idx.flatten(), minlength=n_bins).clamp_min(1)
    return total / counts.to(total.dtype)


class SpectralLoss(nn.Module):
    """Squared difference of radially averaged power spectra."""

    def __init__(self, cfg=None, reduction="mean"):
        super().__init__()
        self.cfg = cfg or SpectralConfig()
        self.reduction = reduction

    def forward(self, pred, target):
        h, w = pred.shape[-2:]
        idx, n_bins = radial_bins(h, w, self.cfg.n_bins, pred.device)
        ps = radial_average(power_spectrum(pred), idx, n_bins)
        ts = radial_average(power_spectrum(target), idx, n_bins)
        if self.cfg.log_power:
            diff = torch.log(ps + self.cfg.eps) - torch.log(ts + self.cfg.eps)
        else:
            diff = ps - ts
        return reduce_loss(diff ** 2, self.reduction)


class SpectralAmplitudeLoss(nn.Module):
    """L1 distance between Fourier amplitude spectra."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, pred, target):
        diff = amplitude_spectrum(pred) - amplitude_spectrum(target)
        return reduce_loss(diff.abs(), self.reduction)


class LogSpectralDistance(nn.Module):
    def __init__(self, eps=1e-10, reduction="mean"):
        super().__init__()
        self.eps = eps
        self.reduction = reduction

    def forward(self, pred, target):
        ratio = (power_spectrum(pred) + self.eps) / (power_spectrum(target) + self.eps)
        lsd = torch.sqrt((torch.log10(ratio) ** 2).mean(dim=(-2, -1)))
        return reduce_loss(lsd, self.reduction)


def rapsd_np(field):
    """Radially averaged power spectral density of a 2-D field (as in pysteps)."""
    h, w = field.shape
    f = np.fft.fftshift(np.fft.fft2(field))
    psd = np.abs(f) ** 2 / (h * w)
    yc, xc = h // 2, w // 2
    y, x = np.ogrid[-yc:h - yc, -xc:w - xc]
    r = np.sqrt(x ** 2 + y ** 2).round().astype(int)
    n = min(yc, xc)
    total = np.bincount(r.ravel(), psd.ravel())
    count = np.bincount(r.ravel())
    return total[1:n] / np.maximum(count[1:n], 1)


def spectral_slope_np(field):
    psd = rapsd_np(field)
    k = np.arange(1, len(psd) + 1)
    slope, _ = np.polyfit(np.log(k), np.log(psd + 1e-12), 1)
    return slope


class SpectralSlopeLoss(nn.Module):
    """Absolute difference of the fitted power-law slopes of forecast and observation."""

    def forward(self, pred, target):
        p = pred.detach().cpu().numpy().reshape(-1, *pred.shape[-2:])
        t = target.cpu().numpy().reshape(-1, *target.shape[-2:])
        diffs = [abs(spectral_slope_np(a) - spectral_slope_np(b)) for a, b in zip(p, t)]
        return pred.new_tensor(float(np.mean(diffs)))
