"""Camera models used to bring body joints into the image plane."""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from .rotations import quaternion_to_matrix


def perspective_projection(points: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor,
                           focal_length, camera_center: torch.Tensor) -> torch.Tensor:
    """Project ``(B, N, 3)`` points with a pinhole camera (SPIN convention)."""
    batch_size = points.shape[0]
    K = torch.zeros([batch_size, 3, 3], device=points.device, dtype=points.dtype)
    K[:, 0, 0] = focal_length
    K[:, 1, 1] = focal_length
    K[:, 2, 2] = 1.0
    K[:, :-1, -1] = camera_center

    points = torch.einsum("bij,bkj->bki", rotation, points)
    points = points + translation.unsqueeze(1)
    projected = points / points[:, :, -1].unsqueeze(-1)
    projected = torch.einsum("bij,bkj->bki", K, projected)
    return projected[:, :, :-1]


def project_points_clamped(points_cam: torch.Tensor, focal_length: float,
                           camera_center: torch.Tensor, min_depth: float = 1e-2) -> torch.Tensor:
    """Pinhole projection of camera-frame points kept in front of the image plane."""
    depth = points_cam[..., 2:].clamp(min=min_depth)
    return focal_length * points_cam[..., :2] / depth + camera_center.unsqueeze(-2)


def weak_perspective_to_translation(pred_cam: torch.Tensor, focal_length: float,
                                    img_res: int) -> torch.Tensor:
    """Convert a weak-perspective camera ``(s, tx, ty)`` to a translation ``(tx, ty, tz)``."""
    tz = 2.0 * focal_length / (img_res * pred_cam[..., 0] + 1e-9)
    return torch.stack([pred_cam[..., 1], pred_cam[..., 2], tz], dim=-1)


def normalize_keypoints(keypoints_2d: torch.Tensor, img_size: float) -> torch.Tensor:
    """Pixel coordinates in ``[0, img_size]`` to ``[-1, 1]``."""
    return 2.0 * keypoints_2d / img_size - 1.0


def in_frame_mask(points_2d: torch.Tensor, width: float, height: float, margin: float = 0.0) -> torch.Tensor:
    """Boolean mask of the projected points that land inside the image."""
    x, y = points_2d[..., 0], points_2d[..., 1]
    inside_x = (x >= -margin) & (x <= width + margin)
    inside_y = (y >= -margin) & (y <= height + margin)
    return inside_x & inside_y


def sample_distance_transform(dist_map: torch.Tensor, points_2d: torch.Tensor) -> torch.Tensor:
    """Look up a ``(B, H, W)`` distance map at the pixels under ``(B, N, 2)`` points."""
    height, width = dist_map.shape[-2:]
    px = points_2d[..., 0].long().clamp(0, width - 1)
    py = points_2d[..., 1].long().clamp(0, height - 1)
    batch_idx = torch.arange(dist_map.shape[0], device=dist_map.device)[:, None]
    return dist_map[batch_idx, py, px]


@torch.no_grad()
def guess_depth_from_torso(joints_3d: torch.Tensor, joints_2d: torch.Tensor,
                           torso_pairs: Sequence[Sequence[int]], focal_length: float) -> torch.Tensor:
    """Initial camera depth from the ratio of 3D to 2D torso edge lengths (SMPLify)."""
    a = [p[0] for p in torso_pairs]
    b = [p[1] for p in torso_pairs]
    len_3d = (joints_3d[:, a] - joints_3d[:, b]).pow(2).sum(-1).sqrt().mean(-1)
    len_2d = (joints_2d[:, a] - joints_2d[:, b]).pow(2).sum(-1).sqrt().mean(-1)
    return focal_length * len_3d / len_2d


class PerspectiveCamera(nn.Module):
    """Pinhole camera with learnable rotation (quaternion) and translation."""

    def __init__(self, batch_size: int = 1, focal_length: float = 5000.0, img_size: int = 224,
                 translation: Optional[torch.Tensor] = None):
        super().__init__()
        quat = torch.zeros(batch_size, 4)
        quat[:, 0] = 1.0
        self.rotation = nn.Parameter(quat)
        if translation is None:
            translation = torch.zeros(batch_size, 3)
        self.translation = nn.Parameter(translation.clone())
        self.focal_length = focal_length
        self.register_buffer("center", torch.full((batch_size, 2), img_size / 2.0))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        rotmat = quaternion_to_matrix(self.rotation)
        return perspective_projection(points, rotmat, self.translation, self.focal_length, self.center)
