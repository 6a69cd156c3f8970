"""Pose and shape priors for body-model fitting and regression."""
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .rotations import matrix_to_axis_angle
from .skeleton import H36M_HINGE_TRIPLETS


class MaxMixturePrior(nn.Module):
    """GMM prior over the 69-D SMPL body pose: closest component ("max") or exact mixture ("sum")."""

    def __init__(self, means: np.ndarray, covs: np.ndarray, weights: np.ndarray,
                 merge: str = "max", epsilon: float = 1e-16):
        super().__init__()
        if merge not in ("max", "sum"):
            raise ValueError(f"unknown merge mode {merge!r}")
        self.merge = merge
        dim = means.shape[1]
        precisions = np.stack([np.linalg.inv(c) for c in covs])
        sqrdets = np.array([np.sqrt(np.linalg.det(c)) for c in covs])
        const = (2 * np.pi) ** (dim / 2.0)
        nll_weights = weights / (const * (sqrdets / sqrdets.min()))
        cov_logdets = np.array([np.log(np.linalg.det(c) + epsilon) for c in covs])

        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))
        self.register_buffer("precisions", torch.as_tensor(precisions, dtype=torch.float32))
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.register_buffer("nll_weights", torch.as_tensor(nll_weights, dtype=torch.float32)[None])
        self.register_buffer("cov_logdets", torch.as_tensor(cov_logdets, dtype=torch.float32))
        self.log_2pi = float(np.log(2 * np.pi))
        self.dim = dim

    def _mahalanobis(self, pose: torch.Tensor) -> torch.Tensor:
        diff = pose.unsqueeze(1) - self.means
        prec_diff = torch.einsum("mij,bmj->bmi", self.precisions, diff)
        return (prec_diff * diff).sum(dim=-1)

    def merged_log_likelihood(self, pose: torch.Tensor) -> torch.Tensor:
        curr = 0.5 * self._mahalanobis(pose) - torch.log(self.nll_weights)
        min_ll, _ = torch.min(curr, dim=1)
        return min_ll

    def log_likelihood(self, pose: torch.Tensor) -> torch.Tensor:
        ll = -0.5 * (self._mahalanobis(pose) + self.cov_logdets + self.dim * self.log_2pi)
        ll = ll + torch.log(self.weights)
        shift = ll.max(dim=1, keepdim=True).values.detach()
        return -(shift.squeeze(1) + torch.log(torch.exp(ll - shift).sum(dim=1)))

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        if self.merge == "max":
            return self.merged_log_likelihood(body_pose)
        return self.log_likelihood(body_pose)


def smplify_angle_prior(body_pose: torch.Tensor) -> torch.Tensor:
    """Exponential penalty on elbows and knees bending backwards (SMPLify)."""
    idx = [52, 55, 9, 12]
    signs = body_pose.new_tensor([1.0, -1.0, -1.0, -1.0])
    return (torch.exp(body_pose[:, idx] * signs) ** 2).sum(dim=-1)


def shape_prior(betas: torch.Tensor) -> torch.Tensor:
    return (betas ** 2).sum(dim=-1)


class JointLimitPrior(nn.Module):
    """Hinge on the rotation angle of every body joint beyond a per-joint maximum."""

    def __init__(self, max_angles: Sequence[float], squared: bool = False):
        super().__init__()
        self.register_buffer("max_angles", torch.as_tensor(max_angles, dtype=torch.float32))
        self.squared = squared

    def forward(self, body_rotmat: torch.Tensor) -> torch.Tensor:
        """``body_rotmat``: ``(B, J, 3, 3)`` local joint rotations."""
        angle = matrix_to_axis_angle(body_rotmat).norm(dim=-1)
        excess = F.relu(angle - self.max_angles)
        if self.squared:
            excess = excess ** 2
        return excess.sum(dim=-1)


def joint_flexion_angles(joints: torch.Tensor, triplets: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Interior angle at the middle joint of each ``(a, b, c)`` triplet, in radians."""
    u = joints[:, triplets[:, 0]] - joints[:, triplets[:, 1]]
    v = joints[:, triplets[:, 2]] - joints[:, triplets[:, 1]]
    cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1) + eps)
    return torch.acos(cos.clamp(-1.0 + eps, 1.0 - eps))


class FlexionLimitPrior(nn.Module):
    """Soft lower bound on knee and elbow interior angles (no folding through the limb)."""

    def __init__(self, min_angle: float = 0.35, triplets=H36M_HINGE_TRIPLETS):
        super().__init__()
        self.min_angle = min_angle
        self.register_buffer("triplets", torch.as_tensor(triplets, dtype=torch.long))

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        angles = joint_flexion_angles(joints, self.triplets)
        below = F.relu(self.min_angle - angles) ** 2
        return below.sum(dim=-1)
