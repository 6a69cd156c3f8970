"""Alpha compositing helpers and a pure-torch reference rasteriser."""
import torch

from .filters import filtered_scales_and_opacity, mip_filter_2d, project_gaussians
from .gaussians import build_covariance, build_rotation
from .geometry import gaussian_normals


def pixel_centers(height, width, device=None):
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1).reshape(-1, 2) + 0.5


def conic_from_cov2d(cov2d):
    a, b, c = cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]
    det = a * c - b * b
    det_inv = 1.0 / torch.where(det == 0, torch.ones_like(det), det)
    return torch.stack([c * det_inv, -b * det_inv, a * det_inv], dim=-1)


def gaussian_alpha(means2d, conics, opacity, pixels, max_alpha=0.99, min_alpha=1.0 / 255.0):
    """alpha[p, i] of Gaussian i at pixel p; means2d (N, 2), conics (N, 3), opacity (N, 1)."""
    d = pixels[:, None, :] - means2d[None, :, :]
    power = -0.5 * (conics[None, :, 0] * d[..., 0] ** 2 + conics[None, :, 2] * d[..., 1] ** 2) \
        - conics[None, :, 1] * d[..., 0] * d[..., 1]
    power = torch.where(power > 0, torch.zeros_like(power), power)
    alpha = (opacity[None, :, 0] * torch.exp(power)).clamp_max(max_alpha)
    return torch.where(alpha < min_alpha, torch.zeros_like(alpha), alpha)


def transmittance(alphas):
    T = torch.cumprod(1.0 - alphas, dim=-1)
    return torch.cat([torch.ones_like(T[:, :1]), T[:, :-1]], dim=-1)


def composite_front_to_back(alphas, values, t_min=1e-4):
    """alphas (P, K) sorted front to back, values (P, K, C)."""
    T = transmittance(alphas)
    alive = T > t_min
    weights = alphas * T * alive
    out = (weights[..., None] * values).sum(dim=1)
    return out, weights.sum(dim=-1), weights, T


def expected_depth(weights, depths, acc, eps=1e-6):
    return (weights * depths[None, :]).sum(-1) / acc.clamp_min(eps)


def median_depth(T, alphas, depths):
    T_after = T * (1.0 - alphas)
    crossed = T_after <= 0.5
    idx = crossed.float().argmax(dim=-1, keepdim=True)
    has = crossed.any(dim=-1, keepdim=True)
    d = depths[None, :].expand_as(alphas)
    med = torch.gather(d, -1, idx)
    return torch.where(has, med, d[:, -1:]).squeeze(-1)


def depth_distortion(weights, depths, near, far):
    z = depths.clamp_min(near)
    m = far / (far - near) * (1.0 - near / z)
    dm = torch.abs(m[:, None] - m[None, :])
    return (weights[:, :, None] * weights[:, None, :] * dm[None]).sum((-1, -2)).mean()


def blend_background(rgb, acc, background):
    return rgb + (1.0 - acc)[:, None] * background[None, :]


def rasterize_pixels(means2d, conics, colors, normals, opacity, depths, visible, pixels, background,
                     near=0.2, far=100.0):
    means2d, conics, colors = means2d[visible], conics[visible], colors[visible]
    normals, opacity, depths = normals[visible], opacity[visible], depths[visible]
    depths_sorted, order = torch.sort(depths)
    alphas = gaussian_alpha(means2d[order], conics[order], opacity[order], pixels)
    values = torch.cat([colors[order], normals[order]], dim=-1)
    out, acc, weights, T = composite_front_to_back(alphas, values[None].expand(alphas.shape[0], -1, -1))
    return {
        "rgb": blend_background(out[:, :3], acc, background),
        "normal": out[:, 3:],
        "alpha": acc,
        "expected_depth": expected_depth(weights, depths_sorted, acc),
        "median_depth": median_depth(T, alphas, depths_sorted),
        "distortion": depth_distortion(weights, depths_sorted, near, far),
    }


def render_reference(gaussians, cam, cfg, background, filter_3d=None):
    """Dense reference renderer (small images only); returns a 2DGS-style render package."""
    scales, opacity = filtered_scales_and_opacity(gaussians, filter_3d, cfg.filters)
    cov3d = build_covariance(scales, gaussians._rotation)
    near, far = cfg.geometry.near, cfg.geometry.far
    if cfg.filters.use_mip_2d:
        means2d, cov2d, depths, radii, visible = project_gaussians(gaussians.means, cov3d, cam, near, 0.0)
        cov2d, opacity = mip_filter_2d(cov2d, opacity, cfg.filters.kernel_size_2d)
    else:
        means2d, cov2d, depths, radii, visible = project_gaussians(
            gaussians.means, cov3d, cam, near, cfg.filters.kernel_size_2d)
    means2d.retain_grad()
    conics = conic_from_cov2d(cov2d)
    colors = gaussians.colors(cam.center)
    rotmats = build_rotation(gaussians._rotation)
    normals = gaussian_normals(rotmats, scales, gaussians.means - cam.center[None])
    pixels = pixel_centers(cam.height, cam.width, device=means2d.device)
    out = rasterize_pixels(means2d, conics, colors, normals, opacity, depths, visible, pixels,
                           background, near, far)
    h, w = cam.height, cam.width
    return {
        "render": out["rgb"].T.reshape(3, h, w),
        "rend_normal": out["normal"].T.reshape(3, h, w),
        "rend_alpha": out["alpha"].reshape(1, h, w),
        "expected_depth": out["expected_depth"].reshape(1, h, w),
        "median_depth": out["median_depth"].reshape(1, h, w),
        "distortion": out["distortion"],
        "means2d": means2d,
        "radii": radii,
        "visibility": visible,
    }
