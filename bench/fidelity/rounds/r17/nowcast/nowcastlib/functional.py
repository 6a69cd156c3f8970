"""Functional building blocks shared by the nowcasting losses."""
import math

import torch
import torch.nn.functional as F


def reduce_loss(loss, reduction="mean"):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"unknown reduction {reduction!r}")


def masked_mean(x, mask=None, dim=None):
    """Mean of ``x`` over the pixels where ``mask`` is set."""
    if mask is None:
        return x.mean() if dim is None else x.mean(dim=dim)
    mask = mask.to(x.dtype)
    num = (x * mask).sum() if dim is None else (x * mask).sum(dim=dim)
    den = mask.sum() if dim is None else mask.sum(dim=dim)
    return num / den.clamp_min(1.0)


def valid_mask(target, fill_value=-1.0):
    """Pixels with a usable radar observation (finite and not the fill value)."""
    return torch.isfinite(target) & (target != fill_value)


def soft_threshold(x, threshold, temperature):
    """Sigmoid relaxation of the event indicator ``x >= threshold``."""
    return torch.sigmoid((x - threshold) / temperature)


def hard_threshold(x, threshold):
    return (x >= threshold).to(x.dtype)


def intensity_weights(rain, boundaries, weights):
    """Piecewise-constant pixel weights of the balanced losses."""
    w = torch.full_like(rain, weights[0])
    for bound, value in zip(boundaries, weights[1:]):
        w = torch.where(rain >= bound, torch.full_like(rain, value), w)
    return w


def power_transform(x, gamma=0.5):
    """Variance-stabilising power transform of rain rates."""
    return x.clamp_min(0.0).pow(gamma)


def hard_pixel_mean(loss_map, frac):
    """Mean of the largest ``frac`` share of the per-pixel losses of each sample."""
    flat = loss_map.flatten(1)
    k = max(1, int(frac * flat.shape[1]))
    return torch.topk(flat, k, dim=1).values.mean(dim=1)


def pinball_loss(pred, target, quantile):
    """Quantile (pinball) loss of a forecast of the ``quantile`` level."""
    diff = target - pred
    return torch.maximum(quantile * diff, (quantile - 1.0) * diff)


def crps_ensemble(members, target, dim=1, fair=True):
    """CRPS of an ensemble, E|X - y| - E|X - X'| / 2, with the optional fair correction."""
    m = members.shape[dim]
    skill = (members - target.unsqueeze(dim)).abs().mean(dim=dim)
    pair = (members.unsqueeze(dim) - members.unsqueeze(dim + 1)).abs()
    spread = pair.sum(dim=(dim, dim + 1))
    if fair and m > 1:
        denom = m * (m - 1)
    else:
        denom = m * m
    return skill - 0.5 * spread / denom


def crps_ensemble_sorted(members, target, dim=1):
    """Ensemble CRPS in O(m log m) from the order statistics of the members."""
    m = members.shape[dim]
    x, _ = torch.sort(members, dim=dim)
    skill = (x - target.unsqueeze(dim)).abs().mean(dim=dim)
    rank = torch.arange(m, device=x.device, dtype=x.dtype)
    shape = [1] * x.dim()
    shape[dim] = m
    coef = (2.0 * rank - m + 1.0).view(shape)
    spread = (coef * x).sum(dim=dim) / (m * m)
    return skill - spread


def crps_gaussian(mu, sigma, target):
    """Closed-form CRPS of a normal predictive distribution (Gneiting et al., 2005)."""
    z = (target - mu) / sigma
    pdf = torch.exp(-0.5 * z ** 2) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    return sigma * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))


def fractions(binary, scale):
    """Neighbourhood event fractions (Roberts and Lean, 2008) by average pooling."""
    if scale <= 1:
        return binary
    return F.avg_pool2d(binary, scale, stride=1, padding=scale // 2, count_include_pad=False)


def fss_from_fractions(fp, fo, eps=1e-6):
    mse = ((fp - fo) ** 2).mean(dim=(-2, -1))
    ref = (fp ** 2).mean(dim=(-2, -1)) + (fo ** 2).mean(dim=(-2, -1))
    return 1.0 - mse / (ref + eps)
