"""Trimap construction and trimap-derived region masks.

Trimaps are stored as float tensors in [0, 1]: 0 = background, 0.5 = unknown, 1 = foreground.
"""
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

BACKGROUND, UNKNOWN, FOREGROUND = 0.0, 0.5, 1.0


def dilate(mask: torch.Tensor, k: int) -> torch.Tensor:
    return F.max_pool2d(mask, kernel_size=2 * k + 1, stride=1, padding=k)


def erode(mask: torch.Tensor, k: int) -> torch.Tensor:
    return -F.max_pool2d(-mask, kernel_size=2 * k + 1, stride=1, padding=k)


def trimap_from_alpha(alpha: torch.Tensor, k: int = 10, eps: float = 1e-3) -> torch.Tensor:
    """Trimap from a ground-truth matte: erode the opaque core, dilate the transition band."""
    fg = erode((alpha >= 1.0 - eps).float(), k)
    band = dilate(((alpha > eps) & (alpha < 1.0 - eps)).float(), k)
    trimap = torch.where(fg > 0.5, torch.full_like(alpha, FOREGROUND), torch.full_like(alpha, BACKGROUND))
    return torch.where((band > 0.5) | ((fg < 0.5) & (alpha >= 1.0 - eps)), torch.full_like(alpha, UNKNOWN), trimap)


def random_trimap(alpha: torch.Tensor, k_range: Tuple[int, int] = (1, 30)) -> torch.Tensor:
    """Training-time augmentation: a trimap with a random unknown-band width per sample."""
    out = []
    for i in range(alpha.shape[0]):
        k = int(np.random.randint(*k_range))
        out.append(trimap_from_alpha(alpha[i:i + 1], k))
    return torch.cat(out, dim=0)


def unknown_mask(trimap: torch.Tensor) -> torch.Tensor:
    return ((trimap > 0.25) & (trimap < 0.75)).float()


def trimap_to_classes(trimap: torch.Tensor) -> torch.Tensor:
    """Class indices (0 bg, 1 unknown, 2 fg) for a trimap-prediction head."""
    return torch.round(trimap * 2.0).long().squeeze(1)


def known_region_mask(trimap: torch.Tensor) -> torch.Tensor:
    """MODNet's 'boundaries': pixels whose value is fixed by the trimap."""
    return (trimap < UNKNOWN) | (trimap > UNKNOWN)


def unknown_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Unknown-region mask of a trimap-free model's 3-class trimap head."""
    cls = logits.argmax(dim=1, keepdim=True)
    return (cls == 1).float()


def pseudo_trimap(alpha: torch.Tensor, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """Trimap for unlabeled images from a teacher's alpha, for self-training."""
    a = alpha.detach()
    trimap = torch.full_like(a, UNKNOWN)
    trimap[a < low] = BACKGROUND
    trimap[a > high] = FOREGROUND
    return trimap
