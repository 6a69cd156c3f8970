"""Backward warping with ``grid_sample`` and related flow-field utilities."""

from typing import Sequence

import torch
import torch.nn.functional as F


def coords_grid(batch, height, width, device=None, dtype=torch.float32):
    """Pixel coordinate grid of shape (B, 2, H, W) with x in channel 0."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    grid = torch.stack([xs, ys], dim=0)
    return grid[None].expand(batch, -1, -1, -1)


def normalize_coords(coords, height, width, align_corners=True):
    """Map pixel coordinates (B, 2, H, W) to the [-1, 1] sampling grid (B, H, W, 2)."""
    if align_corners:
        x = 2.0 * coords[:, 0] / max(width - 1, 1) - 1.0
        y = 2.0 * coords[:, 1] / max(height - 1, 1) - 1.0
    else:
        x = (2.0 * coords[:, 0] + 1.0) / width - 1.0
        y = (2.0 * coords[:, 1] + 1.0) / height - 1.0
    return torch.stack([x, y], dim=-1)


def flow_warp(image, flow, padding_mode="zeros", align_corners=True):
    """Backward warp: ``out(p) = image(p + flow(p))``.

    Args:
        image: (B, C, H, W) tensor to sample from.
        flow: (B, 2, H, W) displacement in pixels, x first.
    """
    b, _, h, w = image.shape
    grid = coords_grid(b, h, w, device=flow.device, dtype=flow.dtype)
    sample_grid = normalize_coords(grid + flow, h, w, align_corners)
    return F.grid_sample(
        image, sample_grid, mode="bilinear", padding_mode=padding_mode, align_corners=align_corners
    )


def warp_with_validity(image, flow, threshold=0.999):
    """Warp ``image`` and return a mask of pixels whose bilinear footprint lies inside it."""
    warped = flow_warp(image, flow)
    ones = torch.ones_like(image[:, :1])
    footprint = flow_warp(ones, flow)
    valid = (footprint > threshold).to(image.dtype)
    return warped, valid


def out_of_bounds_mask(flow, margin=0.0):
    """1 where ``p + flow(p)`` stays inside the image, 0 where it leaves it."""
    b, _, h, w = flow.shape
    coords = coords_grid(b, h, w, device=flow.device, dtype=flow.dtype) + flow.detach()
    x, y = coords[:, 0:1], coords[:, 1:2]
    inside = (x >= -margin) & (x <= w - 1 + margin) & (y >= -margin) & (y <= h - 1 + margin)
    return inside.to(flow.dtype)


def disparity_to_flow(disparity, view="left"):
    """Horizontal flow that warps the other view of a rectified pair onto ``view``."""
    sign = -1.0 if view == "left" else 1.0
    return torch.cat([sign * disparity, torch.zeros_like(disparity)], dim=1)


def resize_flow(flow, size: Sequence[int], mode="bilinear"):
    """Resize a flow field to ``size`` = (H, W) and rescale its vectors accordingly."""
    h, w = flow.shape[-2:]
    new_h, new_w = int(size[0]), int(size[1])
    if (new_h, new_w) == (h, w):
        return flow
    out = F.interpolate(flow, size=(new_h, new_w), mode=mode, align_corners=True)
    scale = out.new_tensor([new_w / w, new_h / h]).view(1, 2, 1, 1)
    return out * scale


def convex_upsample(flow, mask, factor=8):
    """RAFT convex upsampling of a (B, 2, H, W) flow with a predicted (B, 9*f*f, H, W) mask."""
    b, _, h, w = flow.shape
    mask = mask.view(b, 1, 9, factor, factor, h, w)
    mask = torch.softmax(mask, dim=2)
    up = F.unfold(factor * flow, [3, 3], padding=1)
    up = up.view(b, 2, 9, 1, 1, h, w)
    up = torch.sum(mask * up, dim=2)
    up = up.permute(0, 1, 4, 2, 5, 3)
    return up.reshape(b, 2, factor * h, factor * w)
