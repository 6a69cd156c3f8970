"""EWA projection and anti-aliasing filters (3D smoothing filter, 2D mip filter)."""
import torch


def _eye2(like):
    return torch.eye(2, device=like.device, dtype=like.dtype)[None]


def world_to_camera(means, cam):
    return means @ cam.R.T + cam.T[None, :]


@torch.no_grad()
def compute_3d_filter(means, cameras, variance=0.2, near=0.2):
    """Per-Gaussian 3D filter size from the highest sampling rate over training cameras."""
    n = means.shape[0]
    distance = torch.full((n,), 1e5, device=means.device)
    valid = torch.zeros(n, dtype=torch.bool, device=means.device)
    focal = 0.0
    for cam in cameras:
        xyz = world_to_camera(means, cam)
        z = xyz[:, 2]
        in_front = z > near
        x = xyz[:, 0] / z * cam.fx + cam.width / 2.0
        y = xyz[:, 1] / z * cam.fy + cam.height / 2.0
        in_screen = (x >= -0.15 * cam.width) & (x <= 1.15 * cam.width) \
            & (y >= -0.15 * cam.height) & (y <= 1.15 * cam.height)
        vis = in_front & in_screen
        distance[vis] = torch.min(distance[vis], z[vis])
        valid |= vis
        focal = max(focal, float(cam.fx))
    if valid.any():
        distance[~valid] = distance[valid].max()
    return (distance / focal * variance ** 0.5)[:, None]


def apply_3d_filter(scales, opacity, filter_3d):
    scales_sq = scales.square()
    det1 = scales_sq.prod(dim=1)
    scales_after_sq = scales_sq + filter_3d.square()
    det2 = scales_after_sq.prod(dim=1)
    coef = torch.sqrt(det1 / det2)
    return torch.sqrt(scales_after_sq), opacity * coef[:, None]


def ewa_radius(cov2d):
    a, b, c = cov2d[:, 0, 0], cov2d[:, 0, 1], cov2d[:, 1, 1]
    det = a * c - b * b
    mid = 0.5 * (a + c)
    lambda1 = mid + torch.sqrt(torch.clamp_min(mid * mid - det, 0.1))
    return torch.ceil(3.0 * torch.sqrt(lambda1)).int()


def project_gaussians(means, cov3d, cam, near=0.2, kernel_size=0.3):
    """Returns means2d, cov2d, depths, radii and the visibility mask."""
    n = means.shape[0]
    xyz = world_to_camera(means, cam)
    depths = xyz[:, 2]
    in_front = depths > near
    z = depths.clamp_min(near)

    lim_x = 1.3 * cam.tan_fovx
    lim_y = 1.3 * cam.tan_fovy
    tx = (xyz[:, 0] / z).clamp(-lim_x, lim_x) * z
    ty = (xyz[:, 1] / z).clamp(-lim_y, lim_y) * z

    J = means.new_zeros(n, 2, 3)
    J[:, 0, 0] = cam.fx / z
    J[:, 0, 2] = -cam.fx * tx / (z * z)
    J[:, 1, 1] = cam.fy / z
    J[:, 1, 2] = -cam.fy * ty / (z * z)
    T = J @ cam.R[None]
    cov2d = T @ cov3d @ T.transpose(1, 2)
    cov2d = cov2d + kernel_size * _eye2(cov2d)

    means2d = torch.stack([cam.fx * xyz[:, 0] / z + cam.cx, cam.fy * xyz[:, 1] / z + cam.cy], dim=-1)
    radii = ewa_radius(cov2d.detach()) * in_front
    return means2d, cov2d, depths, radii, in_front


def mip_filter_2d(cov2d, opacity, kernel_size=0.1):
    """Mip-Splatting 2D filter: dilate the screen-space covariance, compensate opacity."""
    det_orig = cov2d[:, 0, 0] * cov2d[:, 1, 1] - cov2d[:, 0, 1] * cov2d[:, 1, 0]
    cov_blur = cov2d + kernel_size * _eye2(cov2d)
    det_blur = cov_blur[:, 0, 0] * cov_blur[:, 1, 1] - cov_blur[:, 0, 1] * cov_blur[:, 1, 0]
    with torch.no_grad():
        coef = torch.sqrt(torch.clamp_min(det_orig / det_blur, 0.0))
    return cov_blur, opacity * coef[:, None]


def filtered_scales_and_opacity(gaussians, filter_3d, cfg):
    scales, opacity = gaussians.scales, gaussians.opacity
    if cfg.use_3d_filter and filter_3d is not None:
        scales, opacity = apply_3d_filter(scales, opacity, filter_3d)
    return scales, opacity
