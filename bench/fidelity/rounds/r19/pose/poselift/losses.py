"""Loss terms for 3D pose regression and body-model fitting."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .camera import (in_frame_mask, normalize_keypoints, perspective_projection,
                     project_points_clamped, sample_distance_transform)
from .metrics import joint_errors, procrustes_align
from .rotations import geodesic_distance
from .skeleton import (Skeleton, bone_directions, bone_lengths, limb_length_asymmetry,
                       root_relative, torso_size)


def gmof(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robust penalty, applied elementwise."""
    sq = residual ** 2
    sigma_sq = sigma ** 2
    return sigma_sq * sq / (sigma_sq + sq)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class MPJPELoss(nn.Module):
    """Euclidean joint error after root or Procrustes alignment."""

    def __init__(self, align: str = "root", root_idx: int = 0, reduction: str = "mean"):
        super().__init__()
        self.align = align
        self.root_idx = root_idx
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.align == "root":
            pred = root_relative(pred, self.root_idx)
            target = root_relative(target, self.root_idx)
        elif self.align == "procrustes":
            pred = procrustes_align(pred, target)
        err = joint_errors(pred, target)
        if valid is not None:
            valid = valid.to(err.dtype)
            return (err * valid).sum() / valid.sum().clamp_min(1.0)
        return _reduce(err, self.reduction)


class NormalizedMPJPELoss(nn.Module):
    """MPJPE after the least-squares scale of the root-relative prediction (N-MPJPE)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = root_relative(pred)
        target = root_relative(target)
        with torch.no_grad():
            energy = (pred ** 2).sum(dim=(1, 2)).clamp_min(1e-8)
            scale = (pred * target).sum(dim=(1, 2)) / energy
        return joint_errors(scale[:, None, None] * pred, target).mean()


class Keypoint2DLoss(nn.Module):
    """Confidence-weighted 2D keypoint loss; ``gt`` holds ``(x, y, confidence)`` per joint."""

    def __init__(self, robust_sigma: float = 100.0, conf_threshold: float = 0.0):
        super().__init__()
        self.robust_sigma = robust_sigma
        self.conf_threshold = conf_threshold

    def forward(self, pred_2d: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        conf = gt[..., 2]
        conf = conf * (conf > self.conf_threshold).to(conf.dtype)
        residual = pred_2d - gt[..., :2]
        if self.robust_sigma > 0:
            per_joint = gmof(residual, self.robust_sigma).sum(dim=-1)
        else:
            per_joint = (residual ** 2).sum(dim=-1)
        return (conf ** 2 * per_joint).sum(dim=-1)


class ConfidenceWeightedL1Loss(nn.Module):
    """L1 keypoint loss weighted by annotation confidence, optionally by predicted visibility."""

    def __init__(self, min_pred_conf: float = 0.1, normalize_by_torso: bool = True):
        super().__init__()
        self.min_pred_conf = min_pred_conf
        self.normalize_by_torso = normalize_by_torso

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                pred_conf: Optional[torch.Tensor] = None) -> torch.Tensor:
        conf = target[..., -1:]
        err = (pred - target[..., :-1]).abs() * conf
        if self.normalize_by_torso:
            err = err / torso_size(target)[..., None, None]
        if pred_conf is not None:
            keep = pred_conf.detach() > self.min_pred_conf
            err = err * keep.unsqueeze(-1).to(err.dtype)
        return err.sum() / conf.sum().clamp_min(1.0)


class HeteroscedasticKeypointLoss(nn.Module):
    """Laplace NLL with a predicted per-joint scale; ``beta > 0`` gives beta-NLL (Seitzer et al.)."""

    def __init__(self, min_scale: float = 1e-3, beta: float = 0.5):
        super().__init__()
        self.min_scale = min_scale
        self.beta = beta

    def forward(self, pred: torch.Tensor, raw_scale: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        scale = F.softplus(raw_scale) + self.min_scale
        err = joint_errors(pred, target)
        nll = err / scale + torch.log(scale)
        if self.beta > 0:
            nll = nll * scale.detach() ** self.beta
        return nll.mean()


class ReprojectionLoss(nn.Module):
    """2D loss between projected 3D joints and detected keypoints."""

    def __init__(self, focal_length: float = 5000.0, img_size: int = 224,
                 robust_sigma: Optional[float] = None, clamp_depth: bool = False,
                 ignore_out_of_frame: bool = True):
        super().__init__()
        self.focal_length = focal_length
        self.img_size = img_size
        self.robust_sigma = robust_sigma
        self.clamp_depth = clamp_depth
        self.ignore_out_of_frame = ignore_out_of_frame

    def project(self, joints: torch.Tensor, cam_t: torch.Tensor, rotation=None) -> torch.Tensor:
        batch_size = joints.shape[0]
        center = joints.new_full((batch_size, 2), self.img_size / 2.0)
        if self.clamp_depth:
            points_cam = joints + cam_t.unsqueeze(1)
            return project_points_clamped(points_cam, self.focal_length, center)
        if rotation is None:
            rotation = torch.eye(3, dtype=joints.dtype, device=joints.device).expand(batch_size, 3, 3)
        return perspective_projection(joints, rotation, cam_t, self.focal_length, center)

    def forward(self, joints: torch.Tensor, cam_t: torch.Tensor, gt_2d: torch.Tensor,
                rotation=None) -> torch.Tensor:
        proj = self.project(joints, cam_t, rotation)
        conf = gt_2d[..., 2]
        if self.ignore_out_of_frame:
            conf = conf * in_frame_mask(proj, self.img_size, self.img_size).to(conf.dtype)
        residual = (normalize_keypoints(proj, self.img_size)
                    - normalize_keypoints(gt_2d[..., :2], self.img_size))
        if self.robust_sigma is not None:
            per_joint = gmof(residual, self.robust_sigma).sum(dim=-1)
        else:
            per_joint = (residual ** 2).sum(dim=-1)
        return (conf * per_joint).sum(dim=-1) / conf.shape[-1]


class BoneLengthLoss(nn.Module):
    """Match predicted bone lengths to those of the ground-truth skeleton."""

    def __init__(self, skeleton: Skeleton, relative: bool = False, eps: float = 1e-6):
        super().__init__()
        self.skeleton = skeleton
        self.relative = relative
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_len = bone_lengths(pred, self.skeleton)
        with torch.no_grad():
            gt_len = bone_lengths(target, self.skeleton)
        if self.relative:
            return ((pred_len / gt_len.clamp_min(self.eps) - 1.0) ** 2).mean()
        return (pred_len - gt_len).abs().mean()


class LimbSymmetryLoss(nn.Module):
    """Left and right limbs of the predicted skeleton should have equal lengths."""

    def __init__(self, skeleton: Skeleton):
        super().__init__()
        self.skeleton = skeleton
        self.register_buffer("pairs", skeleton.symmetric_bone_pairs())

    def forward(self, pred: torch.Tensor) -> torch.Tensor:
        lengths = bone_lengths(pred, self.skeleton)
        return limb_length_asymmetry(lengths, self.pairs).mean()


class BoneDirectionLoss(nn.Module):
    """Cosine distance between predicted and ground-truth bone directions."""

    def __init__(self, skeleton: Skeleton):
        super().__init__()
        self.skeleton = skeleton

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d_pred = bone_directions(pred, self.skeleton)
        d_gt = bone_directions(target, self.skeleton)
        return (1.0 - (d_pred * d_gt).sum(dim=-1)).mean()


class TemporalSmoothnessLoss(nn.Module):
    """Penalise joint acceleration of a ``(B, T, J, 3)`` sequence."""

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        accel = seq[:, 2:] - 2.0 * seq[:, 1:-1] + seq[:, :-2]
        return torch.linalg.norm(accel, dim=-1).mean()


class GroundPenetrationLoss(nn.Module):
    """Feet must stay above the floor plane ``y = floor`` (y axis points down)."""

    def __init__(self, foot_idx=(3, 6), floor: float = 0.0):
        super().__init__()
        self.foot_idx = list(foot_idx)
        self.floor = floor

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        depth_below = joints[..., self.foot_idx, 1] - self.floor
        return torch.clamp(depth_below, min=0.0).sum(dim=-1).mean()


class HardJointLoss(nn.Module):
    """Online hard keypoint mining: average error over the worst joints."""

    def __init__(self, ratio: float = 0.5, mode: str = "topk"):
        super().__init__()
        self.ratio = ratio
        self.mode = mode

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        err = joint_errors(pred, target)
        if self.mode == "topk":
            k = max(1, int(round(self.ratio * err.shape[1])))
            hard, _ = torch.topk(err, k, dim=1)
            return hard.mean()
        thresh = torch.quantile(err.detach(), 1.0 - self.ratio).item()
        mask = err >= thresh
        return (err * mask).sum() / mask.sum().clamp_min(1)


class MultiHypothesisLoss(nn.Module):
    """Relaxed winner-takes-all over ``K`` pose hypotheses ``(B, K, J, 3)``."""

    def __init__(self, other_weight: float = 0.05):
        super().__init__()
        self.other_weight = other_weight

    def forward(self, hyps: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        err = joint_errors(hyps, target.unsqueeze(1)).mean(dim=-1)
        best = err.argmin(dim=1)
        wta = err.gather(1, best[:, None]).squeeze(1)
        return (wta + self.other_weight * err.mean(dim=1)).mean()


class RotationLoss(nn.Module):
    """Geodesic distance between predicted and ground-truth joint rotations."""

    def forward(self, pred_rotmat: torch.Tensor, gt_rotmat: torch.Tensor,
                has_smpl: torch.Tensor) -> torch.Tensor:
        valid = has_smpl == 1
        if valid.sum() == 0:
            return pred_rotmat.new_zeros(())
        return geodesic_distance(pred_rotmat[valid], gt_rotmat[valid]).mean()


class DistanceMapLoss(nn.Module):
    """Projected joints should fall inside the person mask (distance transform is 0 there)."""

    def forward(self, proj_2d: torch.Tensor, dist_map: torch.Tensor) -> torch.Tensor:
        return sample_distance_transform(dist_map, proj_2d).mean()
