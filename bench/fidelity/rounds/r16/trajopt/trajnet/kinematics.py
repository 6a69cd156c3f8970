"""Differentiable forward kinematics for serial revolute chains (standard DH convention)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn as nn

from .utils import normalize


@dataclass
class DHChainSpec:
    a: Tuple[float, ...]
    d: Tuple[float, ...]
    alpha: Tuple[float, ...]
    offset: Tuple[float, ...]
    lower: Tuple[float, ...]
    upper: Tuple[float, ...]
    link_radius: Tuple[float, ...]
    spheres_per_link: int = 4

    @property
    def dof(self) -> int:
        return len(self.a)


def dh_transform(theta: torch.Tensor, d: torch.Tensor, a: torch.Tensor,
                 alpha: torch.Tensor) -> torch.Tensor:
    """Homogeneous transform of one DH joint, (..., 4, 4)."""
    ct, st = torch.cos(theta), torch.sin(theta)
    ca = torch.cos(alpha).expand_as(theta)
    sa = torch.sin(alpha).expand_as(theta)
    zero = torch.zeros_like(theta)
    one = torch.ones_like(theta)
    d = d.expand_as(theta)
    a = a.expand_as(theta)
    rows = [
        torch.stack([ct, -st * ca, st * sa, a * ct], dim=-1),
        torch.stack([st, ct * ca, -ct * sa, a * st], dim=-1),
        torch.stack([zero, sa, ca, d], dim=-1),
        torch.stack([zero, zero, zero, one], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


class SerialChain(nn.Module):
    """Revolute serial manipulator; joint configurations have shape (..., dof)."""

    def __init__(self, spec: DHChainSpec):
        super().__init__()
        self.spec = spec
        for name in ("a", "d", "alpha", "offset", "lower", "upper", "link_radius"):
            self.register_buffer(name, torch.tensor(getattr(spec, name), dtype=torch.float32))
        self.spheres_per_link = spec.spheres_per_link
        self.dof = spec.dof

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """Frames of every link, (..., dof + 1, 4, 4), base frame first."""
        batch_shape = q.shape[:-1]
        T = torch.eye(4, dtype=q.dtype, device=q.device).expand(*batch_shape, 4, 4)
        frames = [T]
        theta = q + self.offset
        for j in range(self.dof):
            T = T @ dh_transform(theta[..., j], self.d[j], self.a[j], self.alpha[j])
            frames.append(T)
        return torch.stack(frames, dim=-3)

    def link_positions(self, q: torch.Tensor) -> torch.Tensor:
        return self.forward(q)[..., :3, 3]

    def end_effector_pose(self, q: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        ee = self.forward(q)[..., -1, :, :]
        return ee[..., :3, 3], ee[..., :3, :3]

    def collision_spheres(self, q: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Spheres spaced along each link: centres (..., dof * S, 3) and radii (dof * S,)."""
        p = self.link_positions(q)
        s = torch.linspace(0.0, 1.0, self.spheres_per_link, dtype=q.dtype, device=q.device)
        start, end = p[..., :-1, None, :], p[..., 1:, None, :]
        centres = start + s[:, None] * (end - start)
        radii = self.link_radius[:, None].expand(-1, self.spheres_per_link)
        return centres.flatten(-3, -2), radii.reshape(-1)

    def sphere_link_index(self) -> torch.Tensor:
        idx = torch.arange(self.dof, device=self.a.device)
        return idx.repeat_interleave(self.spheres_per_link)


def position_jacobian(frames: torch.Tensor) -> torch.Tensor:
    """Geometric position Jacobian of the last frame for revolute joints, (..., 3, dof)."""
    z = frames[..., :-1, :3, 2]
    p = frames[..., :-1, :3, 3]
    p_ee = frames[..., -1:, :3, 3]
    cols = torch.cross(z, p_ee - p, dim=-1)
    return cols.transpose(-1, -2)


def manipulability(jac: torch.Tensor) -> torch.Tensor:
    """Yoshikawa's manipulability index sqrt(det(J J^T))."""
    jjt = jac @ jac.transpose(-1, -2)
    return torch.sqrt(torch.det(jjt))


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) of rotation matrices whose angle is below pi."""
    trace = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    w = 0.5 * torch.sqrt((1.0 + trace).clamp_min(0.0))
    x = (R[..., 2, 1] - R[..., 1, 2]) / (4.0 * w)
    y = (R[..., 0, 2] - R[..., 2, 0]) / (4.0 * w)
    z = (R[..., 1, 0] - R[..., 0, 1]) / (4.0 * w)
    return normalize(torch.stack([w, x, y, z], dim=-1))


def so3_log(R: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Rotation vector (axis * angle) of rotation matrices R, (..., 3)."""
    trace = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    cos = ((trace - 1.0) / 2.0).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    vee = torch.stack([R[..., 2, 1] - R[..., 1, 2],
                       R[..., 0, 2] - R[..., 2, 0],
                       R[..., 1, 0] - R[..., 0, 1]], dim=-1)
    scale = torch.where(theta < eps, 0.5 + theta ** 2 / 12.0, theta / (2.0 * torch.sin(theta)))
    return scale[..., None] * vee


def rotation_geodesic(R1: torch.Tensor, R2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Angle of the relative rotation R1^T R2."""
    R = R1.transpose(-1, -2) @ R2
    trace = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    cos = ((trace - 1.0) * 0.5).clamp(-1.0 + eps, 1.0 - eps)
    return torch.acos(cos)
