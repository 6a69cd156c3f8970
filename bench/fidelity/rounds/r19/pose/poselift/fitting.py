"""SMPLify-style optimisation and a training step for pose/shape regressors."""
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from .camera import PerspectiveCamera, guess_depth_from_torso, weak_perspective_to_translation
from .losses import (BoneLengthLoss, DistanceMapLoss, Keypoint2DLoss, LimbSymmetryLoss,
                     MPJPELoss, ReprojectionLoss, RotationLoss)
from .priors import JointLimitPrior, MaxMixturePrior, shape_prior, smplify_angle_prior
from .rotations import batch_rodrigues, rotation_6d_to_matrix
from .skeleton import Skeleton


@dataclass
class FittingConfig:
    num_iters: int = 100
    camera_iters: int = 50
    lr: float = 1e-2
    focal_length: float = 5000.0
    img_size: int = 224
    robust_sigma: float = 100.0
    pose_prior_weight: float = 4.78
    angle_prior_weight: float = 15.2
    shape_prior_weight: float = 5.0
    joint_limit_weight: float = 0.0
    symmetry_weight: float = 0.0
    silhouette_weight: float = 0.0
    anneal_threshold: float = 2.0e3
    anneal_factor: float = 0.25
    max_beta: float = 3.0
    early_stop_tol: float = 1e-5
    # (hip, shoulder) joint pairs used to guess the initial depth
    torso_pairs: Tuple[Tuple[int, int], ...] = ((2, 9), (3, 8))


class SMPLifyFitter:
    """Fit body-model parameters to 2D keypoints; ``body_model(...)`` must return ``.joints``."""

    def __init__(self, body_model, pose_prior: MaxMixturePrior, cfg: Optional[FittingConfig] = None,
                 joint_limits: Optional[JointLimitPrior] = None, skeleton: Optional[Skeleton] = None):
        self.body_model = body_model
        self.cfg = cfg or FittingConfig()
        self.pose_prior = pose_prior
        self.joint_limits = joint_limits
        self.skeleton = skeleton
        self.keypoint_loss = Keypoint2DLoss(robust_sigma=self.cfg.robust_sigma)
        self.symmetry = LimbSymmetryLoss(skeleton) if skeleton is not None else None
        self.silhouette = DistanceMapLoss()

    def _joints(self, body_pose, betas, global_orient) -> torch.Tensor:
        return self.body_model(body_pose=body_pose, betas=betas, global_orient=global_orient).joints

    def camera_stage(self, camera, body_pose, betas, global_orient, keypoints_2d) -> None:
        """Optimise camera and global orientation on the torso joints only."""
        cfg = self.cfg
        torso = sorted({i for pair in cfg.torso_pairs for i in pair})
        optimizer = torch.optim.Adam([camera.translation, camera.rotation, global_orient], lr=cfg.lr)
        for _ in range(cfg.camera_iters):
            optimizer.zero_grad()
            joints = self._joints(body_pose.detach(), betas.detach(), global_orient)
            proj = camera(joints)
            loss = self.keypoint_loss(proj[:, torso], keypoints_2d[:, torso]).sum()
            loss.backward()
            optimizer.step()

    def losses(self, camera, body_pose, betas, global_orient, keypoints_2d,
               dist_map=None) -> Dict[str, torch.Tensor]:
        cfg = self.cfg
        joints = self._joints(body_pose, betas, global_orient)
        proj = camera(joints)
        reproj = self.keypoint_loss(proj, keypoints_2d)
        # relax the pose prior once the 2D fit is good
        reproj_level = reproj.mean().item()
        prior_w = (
            cfg.pose_prior_weight
            if reproj_level > cfg.anneal_threshold
            else cfg.pose_prior_weight * cfg.anneal_factor
        )
        losses = {
            "reproj": reproj,
            "pose_prior": prior_w ** 2 * self.pose_prior(body_pose),
            "angle_prior": cfg.angle_prior_weight ** 2 * smplify_angle_prior(body_pose),
            "shape_prior": cfg.shape_prior_weight ** 2 * shape_prior(betas),
        }
        if self.joint_limits is not None and cfg.joint_limit_weight > 0:
            rotmat = batch_rodrigues(body_pose)
            losses["joint_limits"] = cfg.joint_limit_weight * self.joint_limits(rotmat)
        if self.symmetry is not None and cfg.symmetry_weight > 0:
            body_joints = joints[:, : self.skeleton.num_joints]
            losses["symmetry"] = cfg.symmetry_weight * self.symmetry(body_joints)
        if dist_map is not None and cfg.silhouette_weight > 0:
            losses["silhouette"] = cfg.silhouette_weight * self.silhouette(proj, dist_map)
        return losses

    def fit(self, init_pose, init_betas, init_orient, keypoints_2d, dist_map=None) -> Dict[str, torch.Tensor]:
        cfg = self.cfg
        batch_size = init_pose.shape[0]
        body_pose = init_pose.detach().clone().requires_grad_(True)
        betas = init_betas.detach().clone().requires_grad_(True)
        global_orient = init_orient.detach().clone().requires_grad_(True)

        with torch.no_grad():
            joints0 = self._joints(body_pose, betas, global_orient)
        depth = guess_depth_from_torso(joints0, keypoints_2d[..., :2], cfg.torso_pairs, cfg.focal_length)
        init_t = torch.zeros(batch_size, 3, dtype=init_pose.dtype, device=init_pose.device)
        init_t[:, 2] = depth
        camera = PerspectiveCamera(batch_size, cfg.focal_length, cfg.img_size, init_t)
        camera = camera.to(init_pose.device)

        self.camera_stage(camera, body_pose, betas, global_orient, keypoints_2d)

        optimizer = torch.optim.Adam([body_pose, betas, global_orient, camera.translation], lr=cfg.lr)
        prev, cur = None, float("nan")
        for _ in range(cfg.num_iters):
            optimizer.zero_grad()
            losses = self.losses(camera, body_pose, betas, global_orient, keypoints_2d, dist_map)
            total = sum(v.sum() for v in losses.values())
            total.backward()
            optimizer.step()
            with torch.no_grad():
                betas.data.clamp_(-cfg.max_beta, cfg.max_beta)
            cur = total.item()
            if prev is not None and abs(prev - cur) < cfg.early_stop_tol * max(abs(prev), 1.0):
                break
            prev = cur

        return {"body_pose": body_pose.detach(), "betas": betas.detach(),
                "global_orient": global_orient.detach(), "cam_t": camera.translation.detach(),
                "loss": cur}


@dataclass
class LossWeights:
    kp2d: float = 5.0
    kp3d: float = 5.0
    rot: float = 1.0
    betas: float = 0.001
    bone: float = 0.1
    symmetry: float = 0.05


@dataclass
class RegressorConfig:
    focal_length: float = 5000.0
    img_size: int = 224
    num_eval_joints: int = 17
    kp2d_start_mpjpe: float = 0.25
    weights: LossWeights = field(default_factory=LossWeights)


def build_criteria(skeleton: Skeleton, cfg: RegressorConfig) -> nn.ModuleDict:
    return nn.ModuleDict({
        "kp2d": ReprojectionLoss(cfg.focal_length, cfg.img_size),
        "kp3d": MPJPELoss(align="root"),
        "rot": RotationLoss(),
        "bone": BoneLengthLoss(skeleton),
        "symmetry": LimbSymmetryLoss(skeleton),
    })


def regressor_train_step(model: nn.Module, body_model, batch: Dict[str, torch.Tensor],
                         optimizer: torch.optim.Optimizer, criteria: nn.ModuleDict,
                         cfg: RegressorConfig) -> Dict[str, float]:
    """One optimisation step of an image-to-SMPL regressor with a 6D pose head."""
    model.train()
    out = model(batch["img"])
    batch_size = batch["img"].shape[0]
    pred_rotmat = rotation_6d_to_matrix(out["pose_6d"].reshape(batch_size, -1, 6))
    smpl_out = body_model(global_orient=pred_rotmat[:, :1], body_pose=pred_rotmat[:, 1:],
                          betas=out["betas"], pose2rot=False)
    pred_joints = smpl_out.joints
    with torch.no_grad():
        cam_t = weak_perspective_to_translation(out["cam"], cfg.focal_length, cfg.img_size)

    n = cfg.num_eval_joints
    gt_joints = batch["joints_3d"][..., :3]
    losses = {
        "kp2d": criteria["kp2d"](pred_joints, cam_t, batch["keypoints_2d"]).mean(),
        "kp3d": criteria["kp3d"](pred_joints[:, :n], gt_joints, valid=batch["joints_3d"][..., 3]),
        "rot": criteria["rot"](pred_rotmat, batch["rotmat"], batch["has_smpl"]),
        "betas": (out["betas"] ** 2).mean(),
        "bone": criteria["bone"](pred_joints[:, :n], gt_joints),
        "symmetry": criteria["symmetry"](pred_joints[:, :n]),
    }
    # the 2D term only kicks in once the 3D error is reasonable
    w_2d = cfg.weights.kp2d if losses["kp3d"].item() < cfg.kp2d_start_mpjpe else 0.0
    loss = w_2d * losses["kp2d"] + sum(
        getattr(cfg.weights, k) * v for k, v in losses.items() if k != "kp2d")

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()

    stats = {k: v.item() for k, v in losses.items()}
    stats["loss"] = loss.item()
    return stats
