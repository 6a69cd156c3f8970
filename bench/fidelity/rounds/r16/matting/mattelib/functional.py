"""Functional building blocks shared by the losses, the refiners and the evaluation code."""
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def gauss_kernel(size: int = 5, sigma: float = 1.0, channels: int = 1,
                 device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel of shape ``(channels, 1, size, size)``."""
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2.0
    g = torch.exp(-(coords ** 2) / (2.0 * sigma ** 2))
    kernel = torch.outer(g, g)
    kernel = kernel / kernel.sum()
    return kernel.expand(channels, 1, size, size).contiguous()


def conv_gauss(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    pad = kernel.shape[-1] // 2
    img = F.pad(img, (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(img, kernel, groups=img.shape[1])


def downsample(img: torch.Tensor) -> torch.Tensor:
    return img[:, :, ::2, ::2]


def upsample(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    n, c, h, w = img.shape
    up = img.new_zeros(n, c, h * 2, w * 2)
    up[:, :, ::2, ::2] = img * 4.0
    return conv_gauss(up, kernel)


def laplacian_pyramid(img: torch.Tensor, kernel: torch.Tensor, max_levels: int = 5) -> List[torch.Tensor]:
    current = img
    pyramid = []
    for _ in range(max_levels):
        filtered = conv_gauss(current, kernel)
        down = downsample(filtered)
        up = upsample(down, kernel)
        if up.shape[-2:] != current.shape[-2:]:
            up = F.interpolate(up, size=current.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(current - up)
        current = down
    pyramid.append(current)
    return pyramid


def sobel_kernels(device=None, dtype=torch.float32) -> Tuple[torch.Tensor, torch.Tensor]:
    kx = torch.tensor(_SOBEL_X, device=device, dtype=dtype)
    ky = kx.t().contiguous()
    return kx.view(1, 1, 3, 3) / 8.0, ky.view(1, 1, 3, 3) / 8.0


def image_gradient(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    kx, ky = sobel_kernels(x.device, x.dtype)
    c = x.shape[1]
    x = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(x, kx.expand(c, 1, 3, 3), groups=c)
    gy = F.conv2d(x, ky.expand(c, 1, 3, 3), groups=c)
    return gx, gy


def gradient_magnitude(x: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    gx, gy = image_gradient(x)
    return torch.sqrt(gx * gx + gy * gy + eps)


def charbonnier(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return torch.sqrt(x * x + eps * eps)


def smooth_l1(x: torch.Tensor, y: torch.Tensor, beta: float = 1.0 / 255.0) -> torch.Tensor:
    diff = torch.abs(x - y)
    return torch.where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta)


def masked_mean(x: torch.Tensor, mask: Optional[torch.Tensor] = None, eps: float = 1e-8) -> torch.Tensor:
    if mask is None:
        return x.mean()
    if mask.shape[1] != x.shape[1]:
        mask = mask.expand_as(x)
    return (x * mask).sum() / (mask.sum() + eps)


def composite(fg: torch.Tensor, bg: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    return alpha * fg + (1.0 - alpha) * bg


def solve_foreground(image: torch.Tensor, bg: torch.Tensor, alpha: torch.Tensor,
                     eps: float = 1e-3) -> torch.Tensor:
    """Invert the compositing equation I = aF + (1 - a)B for F given a known background."""
    fg = (image - (1.0 - alpha) * bg) / alpha.clamp_min(eps)
    return fg.clamp(0.0, 1.0)


def uncertain_region_from_pred(pred: torch.Tensor, width: int = 15, training: bool = True,
                               low: float = 1.0 / 255.0, high: float = 254.0 / 255.0) -> torch.Tensor:
    """Self-guidance mask of MG-Matting: a dilated band around semi-transparent predicted pixels."""
    pred_np = pred.data.cpu().numpy()
    uncertain = (pred_np > low) & (pred_np < high)
    weight = np.zeros_like(pred_np, dtype=np.float32)
    for i in range(pred_np.shape[0]):
        k = np.random.randint(1, width) if training else width
        structure = np.ones((1, 2 * k + 1, 2 * k + 1), dtype=bool)
        weight[i] = ndimage.binary_dilation(uncertain[i], structure=structure)
    return torch.from_numpy(weight).to(pred.device)


def box_filter(x: torch.Tensor, r: int) -> torch.Tensor:
    """Window sums over (2r + 1) x (2r + 1) neighbourhoods using cumulative sums."""
    h, w = x.shape[-2:]
    if 2 * r + 1 > min(h, w):
        raise ValueError(f"radius {r} too large for a {h}x{w} input")
    cum = x.cumsum(dim=2)
    left = cum[:, :, r:2 * r + 1]
    middle = cum[:, :, 2 * r + 1:] - cum[:, :, :-2 * r - 1]
    right = cum[:, :, -1:] - cum[:, :, -2 * r - 1:-r - 1]
    x = torch.cat([left, middle, right], dim=2)
    cum = x.cumsum(dim=3)
    left = cum[:, :, :, r:2 * r + 1]
    middle = cum[:, :, :, 2 * r + 1:] - cum[:, :, :, :-2 * r - 1]
    right = cum[:, :, :, -1:] - cum[:, :, :, -2 * r - 1:-r - 1]
    return torch.cat([left, middle, right], dim=3)


def guided_filter_coeffs(guide: torch.Tensor, src: torch.Tensor, r: int,
                         eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Linear coefficients (A, b) of the guided filter of He et al., averaged over windows."""
    n = box_filter(torch.ones_like(guide[:, :1]), r)
    mean_i = box_filter(guide, r) / n
    mean_p = box_filter(src, r) / n
    cov_ip = box_filter(guide * src, r) / n - mean_i * mean_p
    var_i = box_filter(guide * guide, r) / n - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, r) / n, box_filter(b, r) / n


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    mean_a, mean_b = guided_filter_coeffs(guide, src, r, eps)
    return mean_a * guide + mean_b
