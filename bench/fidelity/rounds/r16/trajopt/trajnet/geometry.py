"""Signed distance functions for obstacle scenes and robot collision spheres.

All SDFs broadcast query points (..., P, 3) against M obstacles and return (..., P, M).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .utils import soft_min


@dataclass
class Scene:
    sphere_centers: torch.Tensor               # (Ns, 3)
    sphere_radii: torch.Tensor                 # (Ns,)
    box_centers: torch.Tensor                  # (Nb, 3)
    box_half_extents: torch.Tensor             # (Nb, 3)
    box_rotations: Optional[torch.Tensor] = None   # (Nb, 3, 3), world-from-box
    capsule_starts: Optional[torch.Tensor] = None  # (Nc, 3)
    capsule_ends: Optional[torch.Tensor] = None    # (Nc, 3)
    capsule_radii: Optional[torch.Tensor] = None   # (Nc,)


def sphere_sdf(points: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    diff = points[..., :, None, :] - centers
    return torch.linalg.norm(diff, dim=-1) - radii


def box_sdf(points: torch.Tensor, centers: torch.Tensor, half_extents: torch.Tensor,
            rotations: Optional[torch.Tensor] = None) -> torch.Tensor:
    local = points[..., :, None, :] - centers
    if rotations is not None:
        local = torch.einsum("...mi,mij->...mj", local, rotations)
    q = local.abs() - half_extents
    outside = torch.linalg.norm(q.clamp_min(0.0), dim=-1)
    inside = q.amax(dim=-1).clamp_max(0.0)
    return outside + inside


def capsule_sdf(points: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                radius: torch.Tensor) -> torch.Tensor:
    pa = points[..., :, None, :] - start
    ba = end - start
    h = (pa * ba).sum(-1) / (ba * ba).sum(-1).clamp_min(1e-9)
    h = h.clamp(0.0, 1.0)
    return torch.linalg.norm(pa - h[..., None] * ba, dim=-1) - radius


def obstacle_distances(points: torch.Tensor, scene: Scene) -> torch.Tensor:
    """Signed distance of every point to every obstacle, (..., P, M)."""
    parts = [
        sphere_sdf(points, scene.sphere_centers, scene.sphere_radii),
        box_sdf(points, scene.box_centers, scene.box_half_extents, scene.box_rotations),
    ]
    if scene.capsule_starts is not None:
        parts.append(capsule_sdf(points, scene.capsule_starts, scene.capsule_ends,
                                 scene.capsule_radii))
    return torch.cat(parts, dim=-1)


def scene_sdf(points: torch.Tensor, scene: Scene,
              smooth_temperature: Optional[float] = None) -> torch.Tensor:
    """Distance of each point to the closest obstacle, (..., P)."""
    d = obstacle_distances(points, scene)
    if smooth_temperature is None:
        return d.amin(dim=-1)
    return soft_min(d, smooth_temperature)


def pairwise_sphere_distance(centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Surface distance between every pair of robot spheres, (..., S, S)."""
    d = torch.cdist(centres, centres)
    return d - radii[:, None] - radii[None, :]
