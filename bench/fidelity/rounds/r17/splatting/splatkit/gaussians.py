"""Gaussian parameter container, activations and covariance construction."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199


def inverse_sigmoid(x):
    return torch.log(x / (1 - x))


def build_rotation(r):
    norm = torch.sqrt(r[:, 0] * r[:, 0] + r[:, 1] * r[:, 1] + r[:, 2] * r[:, 2] + r[:, 3] * r[:, 3])
    q = r / norm[:, None]
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )
    return R.view(-1, 3, 3)


def build_covariance(scales, rotation, scaling_modifier=1.0):
    R = build_rotation(rotation)
    L = R * (scaling_modifier * scales)[:, None, :]
    return L @ L.transpose(1, 2)


def knn_mean_dist2(points, k=3, chunk=4096):
    out = []
    for start in range(0, points.shape[0], chunk):
        d = torch.cdist(points[start:start + chunk], points)
        vals, _ = torch.topk(d, k + 1, dim=-1, largest=False)
        out.append((vals[:, 1:] ** 2).mean(-1))
    return torch.cat(out)


def view_directions(means, cam_center):
    dirs = means - cam_center[None, :]
    return dirs / dirs.norm(dim=1, keepdim=True)


def eval_sh_deg1(features, dirs):
    """features: (N, 4, 3) SH coefficients up to degree 1."""
    x, y, z = dirs[:, 0:1], dirs[:, 1:2], dirs[:, 2:3]
    rgb = SH_C0 * features[:, 0]
    rgb = rgb - SH_C1 * y * features[:, 1] + SH_C1 * z * features[:, 2] - SH_C1 * x * features[:, 3]
    return torch.clamp_min(rgb + 0.5, 0.0)


class GaussianParams(nn.Module):
    def __init__(self, num_points, sh_degree=1):
        super().__init__()
        self.sh_degree = sh_degree
        n_coef = (sh_degree + 1) ** 2
        self._xyz = nn.Parameter(torch.zeros(num_points, 3))
        self._scaling = nn.Parameter(torch.zeros(num_points, 3))
        self._rotation = nn.Parameter(torch.zeros(num_points, 4))
        self._opacity = nn.Parameter(torch.zeros(num_points, 1))
        self._features = nn.Parameter(torch.zeros(num_points, n_coef, 3))

    @classmethod
    @torch.no_grad()
    def from_point_cloud(cls, points, colors, sh_degree=1, init_opacity=0.1):
        model = cls(points.shape[0], sh_degree)
        dist2 = torch.clamp_min(knn_mean_dist2(points), 1e-7)
        model._xyz.copy_(points)
        model._scaling.copy_(torch.log(torch.sqrt(dist2))[:, None].repeat(1, 3))
        rots = torch.zeros(points.shape[0], 4, device=points.device)
        rots[:, 0] = 1.0
        model._rotation.copy_(rots)
        model._opacity.copy_(inverse_sigmoid(torch.full((points.shape[0], 1), init_opacity)))
        model._features.zero_()
        model._features[:, 0] = (colors - 0.5) / SH_C0
        return model

    @property
    def num_points(self):
        return self._xyz.shape[0]

    @property
    def means(self):
        return self._xyz

    @property
    def scales(self):
        return torch.exp(self._scaling)

    @property
    def rotations(self):
        return F.normalize(self._rotation, dim=-1)

    @property
    def opacity(self):
        return torch.sigmoid(self._opacity)

    def covariance(self, scaling_modifier=1.0):
        return build_covariance(self.scales, self._rotation, scaling_modifier)

    def colors(self, cam_center):
        return eval_sh_deg1(self._features, view_directions(self._xyz, cam_center))

    @torch.no_grad()
    def reset_opacity(self, max_opacity=0.01):
        capped = torch.min(self.opacity, torch.ones_like(self.opacity) * max_opacity)
        self._opacity.copy_(inverse_sigmoid(capped))

    def extra_repr(self):
        return f"num_points={self.num_points}, sh_degree={self.sh_degree}, log_n={math.log10(max(self.num_points, 1)):.1f}"
