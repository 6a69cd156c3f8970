"""Skeleton topology and geometric quantities derived from joint positions."""
from dataclasses import dataclass
from typing import List, Tuple

import torch

H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_LEFT_RIGHT = ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16))
# (proximal, joint, distal) triplets for knees and elbows
H36M_HINGE_TRIPLETS = ((1, 2, 3), (4, 5, 6), (11, 12, 13), (14, 15, 16))


@dataclass(frozen=True)
class Skeleton:
    """Kinematic tree given by a parent index per joint (``-1`` for the root)."""

    parents: Tuple[int, ...] = H36M_PARENTS
    left_right: Tuple[Tuple[int, int], ...] = H36M_LEFT_RIGHT
    root: int = 0

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def bones(self) -> List[Tuple[int, int]]:
        """``(child, parent)`` pairs in joint order."""
        return [(j, p) for j, p in enumerate(self.parents) if p >= 0]

    def bone_index(self, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
        child = torch.tensor([c for c, _ in self.bones], dtype=torch.long, device=device)
        parent = torch.tensor([p for _, p in self.bones], dtype=torch.long, device=device)
        return child, parent

    def symmetric_bone_pairs(self, device=None) -> torch.Tensor:
        """Indices into :meth:`bones` of matching left/right bones."""
        child_to_bone = {c: i for i, (c, _) in enumerate(self.bones)}
        pairs = [
            (child_to_bone[l], child_to_bone[r])
            for l, r in self.left_right
            if l in child_to_bone and r in child_to_bone
        ]
        return torch.tensor(pairs, dtype=torch.long, device=device)


def bone_vectors(joints: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """``(..., J, 3)`` joints to ``(..., J - 1, 3)`` child-minus-parent vectors."""
    child, parent = skeleton.bone_index(joints.device)
    return joints[..., child, :] - joints[..., parent, :]


def bone_lengths(joints: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    return torch.linalg.norm(bone_vectors(joints, skeleton), dim=-1)


def bone_directions(joints: torch.Tensor, skeleton: Skeleton, eps: float = 1e-6) -> torch.Tensor:
    vec = bone_vectors(joints, skeleton)
    return vec / (vec.norm(dim=-1, keepdim=True) + eps)


def limb_length_asymmetry(lengths: torch.Tensor, bone_pairs: torch.Tensor) -> torch.Tensor:
    """Absolute left/right difference of matching bone lengths."""
    left = lengths[..., bone_pairs[:, 0]]
    right = lengths[..., bone_pairs[:, 1]]
    return (left - right).abs()


def root_relative(joints: torch.Tensor, root: int = 0) -> torch.Tensor:
    return joints - joints[..., root : root + 1, :]


def torso_size(
    keypoints: torch.Tensor, shoulder: int = 11, hip: int = 1, min_size: float = 1.0
) -> torch.Tensor:
    """Diagonal shoulder-hip distance of annotated keypoints, used as a normaliser."""
    diag = torch.linalg.norm(keypoints[..., shoulder, :2] - keypoints[..., hip, :2], dim=-1)
    return diag.clamp_min(min_size)
