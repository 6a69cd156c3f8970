"""Structure-module losses: FAPE, side-chain renaming, torsion angles, smooth lDDT."""
from typing import Dict, Optional

import torch

from .config import FAPEConfig, TorsionConfig
from .rigid import Rigid, frames_from_backbone
from .tensor_utils import masked_mean


def compute_fape(
    pred_frames: Rigid,
    target_frames: Rigid,
    frames_mask: torch.Tensor,
    pred_positions: torch.Tensor,
    target_positions: torch.Tensor,
    positions_mask: torch.Tensor,
    length_scale: float,
    l1_clamp_distance: Optional[float] = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Frame-aligned point error, averaged over frames and points."""
    local_pred_pos = pred_frames.invert()[..., None].apply(pred_positions[..., None, :, :])
    local_target_pos = target_frames.invert()[..., None].apply(target_positions[..., None, :, :])
    error_dist = torch.sqrt(torch.sum((local_pred_pos - local_target_pos) ** 2, dim=-1) + eps)
    if l1_clamp_distance is not None:
        error_dist = torch.clamp(error_dist, min=0, max=l1_clamp_distance)
    normed_error = error_dist / length_scale
    normed_error = normed_error * frames_mask[..., None]
    normed_error = normed_error * positions_mask[..., None, :]
    normed_error = torch.sum(normed_error, dim=-1)
    normed_error = normed_error / (eps + torch.sum(frames_mask, dim=-1))[..., None]
    normed_error = torch.sum(normed_error, dim=-1)
    return normed_error / (eps + torch.sum(positions_mask, dim=-1))


def backbone_loss(
    traj: torch.Tensor,
    backbone_rigid_tensor: torch.Tensor,
    backbone_rigid_mask: torch.Tensor,
    config: FAPEConfig,
    use_clamped_fape: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """FAPE of every structure-module layer's backbone frames; ``traj`` is [L, ..., N, 7]."""
    pred_frames = Rigid.from_tensor_7(traj, normalize_quats=True)
    if config.stop_rot_gradient_intermediate and traj.shape[0] > 1:
        last = pred_frames[-1:]
        pred_frames = Rigid.cat([pred_frames[:-1].stop_rot_gradient(), last], dim=0)
    gt_frames = Rigid.from_tensor_4x4(backbone_rigid_tensor)[None]
    pred_ca = pred_frames.get_trans()
    gt_ca = gt_frames.get_trans()
    fape = compute_fape(pred_frames, gt_frames, backbone_rigid_mask[None], pred_ca, gt_ca,
                        backbone_rigid_mask[None], config.loss_unit_distance,
                        l1_clamp_distance=config.clamp_distance, eps=config.eps)
    if use_clamped_fape is not None:
        unclamped = compute_fape(pred_frames, gt_frames, backbone_rigid_mask[None], pred_ca, gt_ca,
                                 backbone_rigid_mask[None], config.loss_unit_distance,
                                 l1_clamp_distance=None, eps=config.eps)
        fape = fape * use_clamped_fape + unclamped * (1 - use_clamped_fape)
    return torch.mean(fape, dim=0)


def compute_renamed_ground_truth(batch: Dict[str, torch.Tensor], atom14_pred_positions: torch.Tensor,
                                 eps: float = 1e-10) -> Dict[str, torch.Tensor]:
    """Pick, per residue, the naming of symmetric side-chain atoms closest to the prediction."""
    pred_dists = torch.sqrt(eps + torch.sum(
        (atom14_pred_positions[..., None, :, None, :] - atom14_pred_positions[..., None, :, None, :, :]) ** 2,
        dim=-1))
    gt_pos = batch["atom14_gt_positions"]
    alt_gt_pos = batch["atom14_alt_gt_positions"]
    gt_dists = torch.sqrt(eps + torch.sum((gt_pos[..., None, :, None, :] - gt_pos[..., None, :, None, :, :]) ** 2, dim=-1))
    alt_gt_dists = torch.sqrt(eps + torch.sum(
        (alt_gt_pos[..., None, :, None, :] - alt_gt_pos[..., None, :, None, :, :]) ** 2, dim=-1))
    lddt = torch.sqrt(eps + (pred_dists - gt_dists) ** 2)
    alt_lddt = torch.sqrt(eps + (pred_dists - alt_gt_dists) ** 2)
    exists = batch["atom14_gt_exists"]
    ambiguous = batch["atom14_atom_is_ambiguous"]
    mask = (exists[..., None, :, None] * ambiguous[..., None, :, None]
            * exists[..., None, :, None, :] * (1.0 - ambiguous[..., None, :, None, :]))
    per_res_lddt = torch.sum(mask * lddt, dim=(-1, -2, -3))
    alt_per_res_lddt = torch.sum(mask * alt_lddt, dim=(-1, -2, -3))
    alt_naming_is_better = (alt_per_res_lddt < per_res_lddt).type(atom14_pred_positions.dtype)
    renamed_positions = ((1.0 - alt_naming_is_better[..., None, None]) * gt_pos
                         + alt_naming_is_better[..., None, None] * alt_gt_pos)
    renamed_exists = ((1.0 - alt_naming_is_better[..., None]) * exists
                      + alt_naming_is_better[..., None] * batch["atom14_alt_gt_exists"])
    return {
        "alt_naming_is_better": alt_naming_is_better,
        "renamed_atom14_gt_positions": renamed_positions,
        "renamed_atom14_gt_exists": renamed_exists,
    }


def sidechain_loss(sidechain_frames: torch.Tensor, sidechain_atom_pos: torch.Tensor,
                   rigidgroups_gt_frames: torch.Tensor, rigidgroups_alt_gt_frames: torch.Tensor,
                   rigidgroups_gt_exists: torch.Tensor, renamed: Dict[str, torch.Tensor],
                   config: FAPEConfig) -> torch.Tensor:
    alt = renamed["alt_naming_is_better"][..., None, None, None]
    renamed_gt_frames = (1.0 - alt) * rigidgroups_gt_frames + alt * rigidgroups_alt_gt_frames
    batch_dims = sidechain_frames.shape[:-4]
    pred_frames = Rigid.from_tensor_4x4(sidechain_frames[-1].reshape(*batch_dims[1:], -1, 4, 4))
    gt_frames = Rigid.from_tensor_4x4(renamed_gt_frames.reshape(*batch_dims[1:], -1, 4, 4))
    frames_mask = rigidgroups_gt_exists.reshape(*batch_dims[1:], -1)
    pred_pos = sidechain_atom_pos[-1].reshape(*batch_dims[1:], -1, 3)
    gt_pos = renamed["renamed_atom14_gt_positions"].reshape(*batch_dims[1:], -1, 3)
    pos_mask = renamed["renamed_atom14_gt_exists"].reshape(*batch_dims[1:], -1)
    return compute_fape(pred_frames, gt_frames, frames_mask, pred_pos, gt_pos, pos_mask,
                        config.sidechain_length_scale, l1_clamp_distance=config.sidechain_clamp_distance,
                        eps=config.eps)


def coordinate_fape(pred_atom37: torch.Tensor, gt_atom37: torch.Tensor, atom37_mask: torch.Tensor,
                    config: FAPEConfig) -> torch.Tensor:
    """FAPE for coordinate-only models: frames are rebuilt from N, CA, C of both structures."""
    pred_frames, _ = frames_from_backbone(pred_atom37[..., 0, :], pred_atom37[..., 1, :], pred_atom37[..., 2, :])
    gt_frames, frames_mask = frames_from_backbone(gt_atom37[..., 0, :], gt_atom37[..., 1, :],
                                                  gt_atom37[..., 2, :], mask=atom37_mask)
    return compute_fape(pred_frames, gt_frames, frames_mask, pred_atom37[..., 1, :], gt_atom37[..., 1, :],
                        atom37_mask[..., 1], config.loss_unit_distance,
                        l1_clamp_distance=config.clamp_distance, eps=config.eps)


def supervised_chi_loss(angles_sin_cos: torch.Tensor, unnormalized_angles_sin_cos: torch.Tensor,
                        aatype: torch.Tensor, seq_mask: torch.Tensor, chi_mask: torch.Tensor,
                        chi_angles_sin_cos: torch.Tensor, chi_pi_periodic: torch.Tensor,
                        config: TorsionConfig) -> torch.Tensor:
    """Torsion-angle loss on the chi angles plus a penalty keeping raw (sin, cos) near unit norm."""
    pred_angles = angles_sin_cos[..., 3:, :]
    residue_type_one_hot = torch.nn.functional.one_hot(aatype, chi_pi_periodic.shape[0]).to(pred_angles.dtype)
    chi_pi_periodic = torch.einsum("...ij,jk->...ik", residue_type_one_hot, chi_pi_periodic.to(pred_angles.dtype))
    true_chi = chi_angles_sin_cos[None]
    shifted_mask = (1 - 2 * chi_pi_periodic).unsqueeze(-1)
    true_chi_shifted = shifted_mask * true_chi
    sq_chi_error = torch.sum((true_chi - pred_angles) ** 2, dim=-1)
    sq_chi_error_shifted = torch.sum((true_chi_shifted - pred_angles) ** 2, dim=-1)
    sq_chi_error = torch.minimum(sq_chi_error, sq_chi_error_shifted)
    sq_chi_loss = masked_mean(chi_mask[None], sq_chi_error, dim=(-1, -2, -3))
    loss = config.chi_weight * sq_chi_loss
    angle_norm = torch.sqrt(torch.sum(unnormalized_angles_sin_cos ** 2, dim=-1) + config.eps)
    norm_error = torch.abs(angle_norm - 1.0)
    angle_norm_loss = masked_mean(seq_mask[None, ..., None], norm_error, dim=(-1, -2, -3))
    return loss + config.angle_norm_weight * angle_norm_loss


def normalize_sin_cos(unnormalized: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    denom = torch.sqrt(torch.clamp(torch.sum(unnormalized ** 2, dim=-1, keepdim=True), min=eps))
    return unnormalized / denom


def smooth_lddt_loss(pred_pos: torch.Tensor, gt_pos: torch.Tensor, mask: torch.Tensor,
                     is_nucleotide: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Differentiable lDDT surrogate with sigmoid-smoothed distance-difference thresholds."""
    pred_d = torch.cdist(pred_pos, pred_pos)
    gt_d = torch.cdist(gt_pos, gt_pos)
    delta = torch.abs(pred_d - gt_d)
    score = 0.25 * sum(torch.sigmoid(t - delta) for t in (0.5, 1.0, 2.0, 4.0))
    cutoff = 15.0
    if is_nucleotide is not None:
        cutoff = 15.0 + 15.0 * is_nucleotide[..., None, :]
    n = gt_pos.shape[-2]
    pair_mask = (gt_d < cutoff) * (1.0 - torch.eye(n, device=gt_pos.device, dtype=gt_pos.dtype))
    pair_mask = pair_mask * mask[..., :, None] * mask[..., None, :]
    lddt = torch.sum(score * pair_mask, dim=(-1, -2)) / torch.clamp(torch.sum(pair_mask, dim=(-1, -2)), min=1.0)
    return 1.0 - lddt


def log_distance_loss(pred_pos: torch.Tensor, gt_pos: torch.Tensor, mask: torch.Tensor,
                      max_distance: float = 20.0, eps: float = 1e-6) -> torch.Tensor:
    """L1 error of log pairwise distances for pairs closer than ``max_distance`` in the target."""
    pred_d = torch.linalg.norm(pred_pos[..., :, None, :] - pred_pos[..., None, :, :], dim=-1)
    gt_d = torch.linalg.norm(gt_pos[..., :, None, :] - gt_pos[..., None, :, :], dim=-1)
    pair_mask = mask[..., :, None] * mask[..., None, :] * (gt_d < max_distance)
    err = torch.abs(torch.log(pred_d) - torch.log(gt_d.clamp_min(eps)))
    return torch.sum(err * pair_mask, dim=(-1, -2)) / (eps + torch.sum(pair_mask, dim=(-1, -2)))
