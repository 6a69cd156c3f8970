"""Rotation conversions (axis-angle ``(..., 3)``, quaternion ``(w, x, y, z)``, matrices ``(..., 3, 3)``)."""
import torch
import torch.nn.functional as F


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, written as in the SMPL reference implementation."""
    batch_shape = axis_angle.shape[:-1]
    angle = torch.norm(axis_angle + 1e-8, dim=-1, keepdim=True)
    axis = axis_angle / angle
    cos = torch.cos(angle).unsqueeze(-1)
    sin = torch.sin(angle).unsqueeze(-1)

    rx, ry, rz = axis.unbind(-1)
    zeros = torch.zeros_like(rx)
    skew = torch.stack(
        [zeros, -rz, ry, rz, zeros, -rx, -ry, rx, zeros], dim=-1
    ).reshape(batch_shape + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin * skew + (1.0 - cos) * (skew @ skew)


def quaternion_to_matrix(quaternions: torch.Tensor) -> torch.Tensor:
    """Convert (possibly unnormalised) quaternions to rotation matrices."""
    r, i, j, k = torch.unbind(quaternions, -1)
    two_s = 2.0 / (quaternions * quaternions).sum(-1)

    out = torch.stack(
        (
            1 - two_s * (j * j + k * k),
            two_s * (i * j - k * r),
            two_s * (i * k + j * r),
            two_s * (i * j + k * r),
            1 - two_s * (i * i + k * k),
            two_s * (j * k - i * r),
            two_s * (i * k - j * r),
            two_s * (j * k + i * r),
            1 - two_s * (i * i + j * j),
        ),
        -1,
    )
    return out.reshape(quaternions.shape[:-1] + (3, 3))


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Continuous 6D representation (Zhou et al., CVPR 2019) to rotation matrix (Gram-Schmidt)."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = F.normalize(b2, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Log map of SO(3): rotation matrix to axis-angle vector."""
    trace = matrix[..., 0, 0] + matrix[..., 1, 1] + matrix[..., 2, 2]
    cos = ((trace - 1.0) * 0.5).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    vee = torch.stack(
        [
            matrix[..., 2, 1] - matrix[..., 1, 2],
            matrix[..., 0, 2] - matrix[..., 2, 0],
            matrix[..., 1, 0] - matrix[..., 0, 1],
        ],
        dim=-1,
    )
    axis = vee / (2.0 * torch.sin(angle)).unsqueeze(-1)
    return axis * angle.unsqueeze(-1)


def geodesic_distance(r1: torch.Tensor, r2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Angle (radians) of the relative rotation ``r1^T r2``."""
    rel = r1.transpose(-1, -2) @ r2
    trace = rel.diagonal(dim1=-2, dim2=-1).sum(-1)
    cos = ((trace - 1.0) / 2.0).clamp(-1.0 + eps, 1.0 - eps)
    return torch.acos(cos)


def batch_rodrigues(pose: torch.Tensor) -> torch.Tensor:
    """Flattened ``(B, 3 * J)`` axis-angle pose to ``(B, J, 3, 3)`` matrices."""
    batch_size = pose.shape[0]
    return axis_angle_to_matrix(pose.reshape(batch_size, -1, 3))
