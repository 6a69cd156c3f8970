"""Rigid-body frames (rotation + translation) used by the structure losses."""
from __future__ import annotations

from typing import Optional, Tuple

import torch


def rot_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.einsum("...ij,...jk->...ik", a, b)


def rot_vec_mul(r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.einsum("...ij,...j->...i", r, t)


def quat_to_rot(quat: torch.Tensor) -> torch.Tensor:
    w, x, y, z = torch.unbind(quat, dim=-1)
    rows = [
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(quat.shape[:-1] + (3, 3))


def compose_q_update_vec(quat: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
    """Compose ``quat`` with the small update (1, b, c, d) predicted by a network."""
    ones = torch.ones_like(update[..., :1])
    q_update = torch.cat([ones, update], dim=-1)
    q_update = q_update / torch.linalg.norm(q_update, dim=-1, keepdim=True)
    w1, x1, y1, z1 = torch.unbind(quat, dim=-1)
    w2, x2, y2, z2 = torch.unbind(q_update, dim=-1)
    return torch.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], dim=-1)


class Rigid:
    """A batch of rigid transformations x -> R x + t."""

    def __init__(self, rots: torch.Tensor, trans: torch.Tensor):
        if rots.shape[-2:] != (3, 3):
            raise ValueError(f"expected rotation matrices, got shape {tuple(rots.shape)}")
        self._rots = rots
        self._trans = trans

    @property
    def shape(self) -> torch.Size:
        return self._trans.shape[:-1]

    def get_rots(self) -> torch.Tensor:
        return self._rots

    def get_trans(self) -> torch.Tensor:
        return self._trans

    def __getitem__(self, index) -> "Rigid":
        if not isinstance(index, tuple):
            index = (index,)
        return Rigid(self._rots[index + (slice(None), slice(None))], self._trans[index + (slice(None),)])

    def unsqueeze(self, dim: int) -> "Rigid":
        if dim >= len(self.shape):
            raise ValueError("invalid dimension")
        rot_dim = dim if dim >= 0 else dim - 2
        trans_dim = dim if dim >= 0 else dim - 1
        return Rigid(self._rots.unsqueeze(rot_dim), self._trans.unsqueeze(trans_dim))

    def apply(self, pts: torch.Tensor) -> torch.Tensor:
        return rot_vec_mul(self._rots, pts) + self._trans

    def invert_apply(self, pts: torch.Tensor) -> torch.Tensor:
        return rot_vec_mul(self._rots.transpose(-1, -2), pts - self._trans)

    def invert(self) -> "Rigid":
        rot_inv = self._rots.transpose(-1, -2)
        return Rigid(rot_inv, -rot_vec_mul(rot_inv, self._trans))

    def compose(self, other: "Rigid") -> "Rigid":
        return Rigid(rot_matmul(self._rots, other._rots), self.apply(other._trans))

    def stop_rot_gradient(self) -> "Rigid":
        return Rigid(self._rots.detach(), self._trans)

    @staticmethod
    def from_tensor_4x4(t: torch.Tensor) -> "Rigid":
        return Rigid(t[..., :3, :3], t[..., :3, 3])

    @staticmethod
    def from_tensor_7(t: torch.Tensor, normalize_quats: bool = False) -> "Rigid":
        quats, trans = t[..., :4], t[..., 4:]
        if normalize_quats:
            quats = quats / torch.linalg.norm(quats, dim=-1, keepdim=True)
        return Rigid(quat_to_rot(quats), trans)

    @staticmethod
    def from_3_points(p_neg_x_axis: torch.Tensor, origin: torch.Tensor, p_xy_plane: torch.Tensor,
                      eps: float = 1e-8) -> "Rigid":
        """Gram-Schmidt frame with ``origin`` at the centre, as for N-CA-C backbone frames."""
        e0 = origin - p_neg_x_axis
        e1 = p_xy_plane - origin
        denom = torch.sqrt(torch.sum(e0 ** 2, dim=-1, keepdim=True) + eps)
        e0 = e0 / denom
        dot = torch.sum(e0 * e1, dim=-1, keepdim=True)
        e1 = e1 - e0 * dot
        denom = torch.sqrt(torch.sum(e1 ** 2, dim=-1, keepdim=True) + eps)
        e1 = e1 / denom
        e2 = torch.cross(e0, e1, dim=-1)
        rots = torch.stack([e0, e1, e2], dim=-1)
        return Rigid(rots, origin)

    @staticmethod
    def cat(rigids, dim: int) -> "Rigid":
        rot_dim = dim if dim >= 0 else dim - 2
        trans_dim = dim if dim >= 0 else dim - 1
        return Rigid(torch.cat([r._rots for r in rigids], dim=rot_dim),
                     torch.cat([r._trans for r in rigids], dim=trans_dim))


def rotation_angle(rots: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Angle of rotation of each matrix, in radians."""
    trace = rots[..., 0, 0] + rots[..., 1, 1] + rots[..., 2, 2]
    cos = torch.clamp((trace - 1.0) / 2.0, -1.0 + eps, 1.0 - eps)
    return torch.acos(cos)


def frames_from_backbone(n_xyz: torch.Tensor, ca_xyz: torch.Tensor, c_xyz: torch.Tensor,
                         mask: Optional[torch.Tensor] = None) -> Tuple[Rigid, Optional[torch.Tensor]]:
    frames = Rigid.from_3_points(n_xyz, ca_xyz, c_xyz)
    if mask is not None:
        mask = mask[..., 0] * mask[..., 1] * mask[..., 2]
    return frames, mask
