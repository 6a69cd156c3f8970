"""Depth / normal geometry terms (2DGS-style depth-normal consistency, depth priors)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def pixel_rays(height, width, fx, fy, cx, cy, device=None):
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + 0.5,
        torch.arange(width, device=device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    x = (u - cx) / fx
    y = (v - cy) / fy
    return torch.stack([x, y, torch.ones_like(x)], dim=-1)


def depth_to_points(depth, rays, c2w):
    """depth: (1, H, W); rays: (H, W, 3) camera-space; c2w: (4, 4)."""
    pts_cam = rays * depth[0, :, :, None]
    return pts_cam @ c2w[:3, :3].T + c2w[:3, 3]


def depth_to_normal(depth, rays, c2w):
    points = depth_to_points(depth, rays, c2w)
    normal = torch.zeros_like(points)
    dx = points[2:, 1:-1] - points[:-2, 1:-1]
    dy = points[1:-1, 2:] - points[1:-1, :-2]
    normal[1:-1, 1:-1] = F.normalize(torch.cross(dx, dy, dim=-1), dim=-1)
    return normal.permute(2, 0, 1)


def normalize_rendered_normal(rend_normal):
    return rend_normal / (rend_normal.norm(dim=0, keepdim=True) + 1e-6)


def gaussian_normals(rotmats, scales, view_dirs):
    """Normal of each Gaussian: the axis of its smallest scale, facing the camera."""
    idx = scales.argmin(dim=-1)
    normals = torch.gather(rotmats, 2, idx[:, None, None].expand(-1, 3, 1)).squeeze(-1)
    facing = (normals * view_dirs).sum(-1, keepdim=True) > 0
    return torch.where(facing, -normals, normals)


def normal_consistency_loss(rend_normal, surf_normal, rend_alpha):
    surf_normal = surf_normal * rend_alpha.detach()
    err = 1.0 - (rend_normal * surf_normal).sum(dim=0)
    return err.mean()


def angular_normal_loss(pred_normal, gt_normal, mask=None, eps=1e-6):
    pred = F.normalize(pred_normal, dim=0)
    cos = (pred * gt_normal).sum(dim=0).clamp(-1.0 + eps, 1.0 - eps)
    ang = torch.acos(cos)
    if mask is not None:
        return (ang * mask).sum() / mask.sum().clamp_min(1.0)
    return ang.mean()


def depth_l1_loss(pred_depth, gt_depth, rend_alpha, alpha_threshold=0.5):
    valid = (gt_depth > 0) & (rend_alpha > alpha_threshold)
    if valid.sum() < 16:
        return pred_depth.sum() * 0.0
    return torch.abs(pred_depth[valid] - gt_depth[valid]).mean()


def log_depth_loss(pred_depth, gt_depth):
    valid = gt_depth > 0
    return torch.log(1.0 + torch.abs(pred_depth - gt_depth))[valid].mean()


def pearson_depth_loss(pred_depth, mono_depth, eps=1e-8):
    p = pred_depth.reshape(-1)
    t = mono_depth.reshape(-1)
    pc = p - p.mean()
    tc = t - t.mean()
    corr = (pc * tc).sum() / (pc.norm() * tc.norm() + eps)
    return 1.0 - corr


def minmax_depth_loss(pred_depth, mono_depth):
    near = pred_depth.min().item()
    far = pred_depth.max().item()
    pred_n = (pred_depth - near) / (far - near)
    t = mono_depth
    t_n = (t - t.min()) / (t.max() - t.min() + 1e-8)
    return torch.abs(pred_n - t_n).mean()


def align_scale_shift(pred, target, mask):
    """Closed-form least squares for s, b minimising |s * target + b - pred|^2 over mask."""
    a00 = (mask * target * target).sum()
    a01 = (mask * target).sum()
    a11 = mask.sum()
    b0 = (mask * target * pred).sum()
    b1 = (mask * pred).sum()
    det = a00 * a11 - a01 * a01
    scale = (a11 * b0 - a01 * b1) / det
    shift = (-a01 * b0 + a00 * b1) / det
    return scale, shift


def aligned_depth_loss(pred_depth, mono_depth, mask):
    scale, shift = align_scale_shift(pred_depth.detach(), mono_depth, mask)
    target = scale * mono_depth + shift
    return (torch.abs(pred_depth - target) * mask).sum() / mask.sum().clamp_min(1.0)


class DepthNormalConsistency(nn.Module):
    def __init__(self, cfg, height, width, fx, fy, cx, cy):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("rays", pixel_rays(height, width, fx, fy, cx, cy), persistent=False)

    def surface_depth(self, expected_depth, median_depth):
        r = self.cfg.depth_ratio
        if r <= 0.0:
            return expected_depth
        return expected_depth * (1.0 - r) + median_depth * r

    def forward(self, render_pkg, c2w, iteration):
        cfg = self.cfg
        zero = render_pkg["rend_alpha"].new_zeros(())
        if iteration < cfg.normal_from_iter or cfg.lambda_normal <= 0:
            return zero, {}
        depth = self.surface_depth(render_pkg["expected_depth"], render_pkg["median_depth"])
        surf_normal = depth_to_normal(depth, self.rays, c2w)
        rend_normal = normalize_rendered_normal(render_pkg["rend_normal"])
        loss = cfg.lambda_normal * normal_consistency_loss(rend_normal, surf_normal, render_pkg["rend_alpha"])
        return loss, {"normal": loss.item()}


def depth_prior_loss(cfg, render_pkg, mono_depth, gt_mask):
    pred = render_pkg["expected_depth"]
    kind = cfg.depth_loss_type
    if kind == "l1":
        return depth_l1_loss(pred, mono_depth, render_pkg["rend_alpha"], cfg.depth_alpha_threshold)
    if kind == "log":
        return log_depth_loss(pred, mono_depth)
    if kind == "pearson":
        return pearson_depth_loss(pred, mono_depth)
    if kind == "minmax":
        return minmax_depth_loss(pred, mono_depth)
    return aligned_depth_loss(pred, mono_depth, gt_mask)
