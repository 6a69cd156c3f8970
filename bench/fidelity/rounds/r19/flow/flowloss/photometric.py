"""Photometric data terms: robust L1, soft census (ternary) and SSIM."""

import torch
import torch.nn.functional as F


def rgb_to_grayscale(image):
    """ITU-R 601 luma of a (B, 3, H, W) image; single-channel input is returned as is."""
    if image.shape[1] == 1:
        return image
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.2989 * r + 0.5870 * g + 0.1140 * b


def charbonnier(x, alpha=0.45, eps=1e-3):
    """Generalised Charbonnier penalty ``(x^2 + eps^2)^alpha`` (Sun et al. 2014)."""
    return (x * x + eps * eps) ** alpha


def abs_robust_loss(diff, eps=0.01, q=0.4):
    """Robust penalty ``(|x| + eps)^q`` used by DDFlow and UFlow."""
    return (torch.abs(diff) + eps) ** q


def masked_mean(x, mask, eps=1e-6):
    """Mean of ``x`` over the pixels where ``mask`` is on (mask is broadcast over channels)."""
    mask = mask.expand_as(x)
    return (x * mask).sum() / (mask.sum() + eps)


def valid_border_mask(like, border):
    """(B, 1, H, W) mask that is zero within ``border`` pixels of the image boundary."""
    b, _, h, w = like.shape
    inner = like.new_ones(b, 1, h - 2 * border, w - 2 * border)
    return F.pad(inner, [border, border, border, border])


def census_transform(image, patch_size=7):
    """Soft census transform (Meister et al. 2018).

    Every pixel is described by the normalised intensity differences to its
    ``patch_size**2`` neighbours, ``d / sqrt(0.81 + d^2)``.
    """
    gray = rgb_to_grayscale(image) * 255.0
    n = patch_size * patch_size
    kernel = torch.eye(n, device=image.device, dtype=image.dtype).view(n, 1, patch_size, patch_size)
    neighbours = F.conv2d(gray, kernel, padding=patch_size // 2)
    diff = neighbours - gray
    return diff / torch.sqrt(0.81 + diff * diff)


def soft_hamming(t1, t2, thresh=0.1):
    """Soft Hamming distance between two census descriptors, summed over the patch."""
    sq = (t1 - t2) ** 2
    return (sq / (thresh + sq)).sum(dim=1, keepdim=True)


def census_loss(image1, image2_warped, mask, patch_size=7, eps=0.01, q=0.4):
    """Census (ternary) loss between frame 1 and frame 2 warped onto frame 1."""
    t1 = census_transform(image1, patch_size)
    t2 = census_transform(image2_warped, patch_size)
    dist = soft_hamming(t1, t2)
    valid = mask * valid_border_mask(mask, patch_size // 2)
    return masked_mean(abs_robust_loss(dist, eps, q), valid)


def ssim(x, y, c1=0.01 ** 2, c2=0.03 ** 2, window=3):
    """Per-pixel SSIM dissimilarity ``(1 - SSIM) / 2`` with a reflection-padded box window."""
    pad = window // 2
    x = F.pad(x, [pad, pad, pad, pad], mode="reflect")
    y = F.pad(y, [pad, pad, pad, pad], mode="reflect")
    mu_x = F.avg_pool2d(x, window, 1)
    mu_y = F.avg_pool2d(y, window, 1)
    sigma_x = F.avg_pool2d(x * x, window, 1) - mu_x * mu_x
    sigma_y = F.avg_pool2d(y * y, window, 1) - mu_y * mu_y
    sigma_xy = F.avg_pool2d(x * y, window, 1) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * sigma_xy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sigma_x + sigma_y + c2)
    return torch.clamp((1.0 - num / den) / 2.0, 0.0, 1.0)


def weighted_ssim(x, y, weight, c1=float("inf"), c2=9e-6, weight_epsilon=0.01):
    """SSIM with per-pixel weights (UFlow): occluded pixels do not enter the local statistics.

    With ``c1 = inf`` the luminance term is dropped, as in UFlow.
    Returns the dissimilarity map and the average-pooled weight.
    """
    def pool(t):
        return F.avg_pool2d(t, 3, 1)

    avg_weight = pool(weight)
    inv_avg_weight = 1.0 / (avg_weight + weight_epsilon)
    mu_x = pool(x * weight) * inv_avg_weight
    mu_y = pool(y * weight) * inv_avg_weight
    sigma_x = pool(x * x * weight) * inv_avg_weight - mu_x * mu_x
    sigma_y = pool(y * y * weight) * inv_avg_weight - mu_y * mu_y
    sigma_xy = pool(x * y * weight) * inv_avg_weight - mu_x * mu_y
    if c1 == float("inf"):
        num = 2.0 * sigma_xy + c2
        den = sigma_x + sigma_y + c2
    else:
        num = (2.0 * mu_x * mu_y + c1) * (2.0 * sigma_xy + c2)
        den = (mu_x * mu_x + mu_y * mu_y + c1) * (sigma_x + sigma_y + c2)
    result = num / den
    return torch.clamp((1.0 - result) / 2.0, 0.0, 1.0), avg_weight


def photometric_error(target, pred, alpha=0.85, use_ssim=True):
    """Monodepth appearance term: ``alpha * SSIM + (1 - alpha) * L1`` per pixel, (B, 1, H, W)."""
    pred = pred.clamp(0.0, 1.0)
    l1 = (target - pred).abs().mean(dim=1, keepdim=True)
    if not use_ssim:
        return l1
    ssim_err = ssim(pred, target).mean(dim=1, keepdim=True)
    return alpha * ssim_err + (1.0 - alpha) * l1


def min_reprojection_error(errors):
    """Monodepth2 per-pixel minimum over source frames: (B, S, H, W) -> (B, 1, H, W)."""
    err, _ = torch.min(errors, dim=1, keepdim=True)
    return err


def trimmed_mean(err, keep_ratio=0.9):
    """Average the smallest ``keep_ratio`` of the residuals of each sample (outlier rejection)."""
    flat = err.flatten(1)
    k = max(int(flat.shape[1] * keep_ratio), 1)
    kept, _ = torch.topk(flat, k, dim=1, largest=False)
    return kept.mean()
