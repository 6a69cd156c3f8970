"""Spectrogram-domain data augmentation for SED (mixup, SpecAugment, shifts, filters).

All functions act on input features and labels, which carry no gradient.
"""
import random

import numpy as np
import torch


def mixup(features, targets, alpha=0.2, label_type="soft"):
    """Mix each clip with a random other clip of the batch."""
    batch_size = features.size(0)
    c = np.random.beta(alpha, alpha)
    c = max(c, 1.0 - c)
    perm = torch.randperm(batch_size, device=features.device)
    mixed_features = c * features + (1.0 - c) * features[perm]
    if label_type == "soft":
        mixed_targets = torch.clamp(c * targets + (1.0 - c) * targets[perm], min=0.0, max=1.0)
    elif label_type == "hard":
        mixed_targets = torch.clamp(targets + targets[perm], min=0.0, max=1.0)
    else:
        raise NotImplementedError(f"mixup label type {label_type!r}")
    return mixed_features, mixed_targets


def _band_mask(batch_size, length, max_width, device):
    width = torch.randint(0, max_width + 1, (batch_size,), device=device)
    start = (torch.rand(batch_size, device=device) * (length - width).clamp(min=1)).long()
    grid = torch.arange(length, device=device)[None, :]
    return (grid >= start[:, None]) & (grid < (start + width)[:, None])


def time_mask(features, max_width, n_masks=1, fill_value=None):
    """Mask random runs of frames. ``features``: (batch, bands, frames)."""
    out = features.clone()
    fill = features.mean() if fill_value is None else fill_value
    for _ in range(n_masks):
        mask = _band_mask(features.shape[0], features.shape[-1], max_width, features.device)
        out = out.masked_fill(mask[:, None, :], fill)
    return out


def freq_mask(features, max_width, n_masks=1, fill_value=0.0):
    """Mask random runs of mel bands."""
    out = features.clone()
    for _ in range(n_masks):
        mask = _band_mask(features.shape[0], features.shape[1], max_width, features.device)
        out = out.masked_fill(mask[:, :, None], fill_value)
    return out


def spec_augment(features, cfg):
    features = time_mask(features, cfg.time_mask_width, cfg.n_masks)
    return freq_mask(features, cfg.freq_mask_width, cfg.n_masks)


def frame_shift(features, labels, max_shift, net_pooling=1):
    """Roll features and strong labels along time by the same random offset.

    ``labels`` live on the network output resolution, hence the division by
    ``net_pooling``.
    """
    shifted_feats, shifted_labels = [], []
    for idx in range(features.shape[0]):
        shift = int(random.gauss(0, max_shift))
        shifted_feats.append(torch.roll(features[idx], shift, dims=-1))
        label_shift = -(abs(shift) // net_pooling) if shift < 0 else shift // net_pooling
        shifted_labels.append(torch.roll(labels[idx], label_shift, dims=0))
    return torch.stack(shifted_feats), torch.stack(shifted_labels)


def filter_augment(features, db_range=(-6.0, 6.0), n_bands=(3, 6), min_bw=6):
    """Random piecewise-linear frequency filter (Nam et al., 2022) on linear energies."""
    batch_size, n_freq, _ = features.shape
    n_band = torch.randint(low=n_bands[0], high=n_bands[1], size=(1,)).item()
    if n_band <= 1:
        return features
    while n_freq - n_band * min_bw + 1 < 0:
        min_bw -= 1
    inner = torch.randint(0, n_freq - n_band * min_bw + 1, (n_band - 1,))
    bounds = torch.sort(inner)[0] + torch.arange(1, n_band) * min_bw
    bounds = torch.cat((torch.tensor([0]), bounds, torch.tensor([n_freq])))
    factors = torch.rand((batch_size, n_band + 1)) * (db_range[1] - db_range[0]) + db_range[0]
    filt = torch.ones((batch_size, n_freq, 1))
    for i in range(n_band):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        for j in range(batch_size):
            filt[j, lo:hi, 0] = torch.linspace(factors[j, i], factors[j, i + 1], hi - lo)
    gain = 10.0 ** (filt / 20.0)
    return features * gain.to(features.device)


def random_gain(waveform, min_db=-6.0, max_db=6.0, peak_normalize=True):
    """Scale waveforms by a random gain; optionally peak-normalise first."""
    if peak_normalize:
        peak = waveform.abs().amax(dim=-1, keepdim=True)
        waveform = waveform / peak.clamp(min=1e-8)
    db = torch.empty(waveform.shape[0], 1, device=waveform.device).uniform_(min_db, max_db)
    return waveform * torch.pow(10.0, db / 20.0)
