"""Losses of the auxiliary heads: distogram, pLDDT, experimentally-resolved and PAE/pTM."""
from typing import Optional

import torch

from .config import ConfidenceConfig, DistogramConfig
from .metrics import lddt
from .rigid import Rigid
from .tensor_utils import bin_boundaries, one_hot_bins, softmax_cross_entropy, square_distances


def pseudo_beta(aatype: torch.Tensor, all_atom_positions: torch.Tensor,
                all_atom_mask: Optional[torch.Tensor] = None, gly_index: int = 7, ca_idx: int = 1, cb_idx: int = 3):
    is_gly = aatype == gly_index
    pb = torch.where(is_gly[..., None], all_atom_positions[..., ca_idx, :], all_atom_positions[..., cb_idx, :])
    if all_atom_mask is None:
        return pb
    pb_mask = torch.where(is_gly, all_atom_mask[..., ca_idx], all_atom_mask[..., cb_idx])
    return pb, pb_mask


def distogram_loss(logits: torch.Tensor, pseudo_beta_pos: torch.Tensor, pseudo_beta_mask: torch.Tensor,
                   config: DistogramConfig) -> torch.Tensor:
    boundaries = bin_boundaries(config.min_bin, config.max_bin, config.no_bins, device=logits.device) ** 2
    dists = square_distances(pseudo_beta_pos)
    true_bins = one_hot_bins(dists, boundaries)
    errors = softmax_cross_entropy(logits, true_bins)
    square_mask = pseudo_beta_mask[..., None] * pseudo_beta_mask[..., None, :]
    denom = config.eps + torch.sum(square_mask, dim=(-1, -2))
    mean = torch.sum(errors * square_mask, dim=-1)
    mean = mean / denom[..., None]
    return torch.sum(mean, dim=-1)


def plddt_loss(logits: torch.Tensor, all_atom_pred_pos: torch.Tensor, all_atom_positions: torch.Tensor,
               all_atom_mask: torch.Tensor, resolution: torch.Tensor, config: ConfidenceConfig) -> torch.Tensor:
    """Cross-entropy of the per-residue lDDT-Ca bins; the lDDT target is computed from the prediction."""
    ca_pos = all_atom_pred_pos[..., 1, :].detach()
    score = lddt(ca_pos, all_atom_positions[..., 1, :], all_atom_mask[..., 1:2],
                 cutoff=config.plddt_cutoff, per_residue=True)
    bin_index = torch.floor(score * config.plddt_bins).long()
    bin_index = torch.clamp(bin_index, max=config.plddt_bins - 1)
    lddt_ca_one_hot = torch.nn.functional.one_hot(bin_index, num_classes=config.plddt_bins)
    errors = softmax_cross_entropy(logits, lddt_ca_one_hot.to(logits.dtype))
    ca_mask = all_atom_mask[..., 1]
    loss = torch.sum(errors * ca_mask, dim=-1) / (config.eps + torch.sum(ca_mask, dim=-1))
    in_range = (resolution >= config.min_resolution) & (resolution <= config.max_resolution)
    return loss * in_range.to(loss.dtype)


def experimentally_resolved_loss(logits: torch.Tensor, atom37_atom_exists: torch.Tensor,
                                 all_atom_mask: torch.Tensor, resolution: torch.Tensor,
                                 config: ConfidenceConfig) -> torch.Tensor:
    probs = torch.sigmoid(logits)
    errors = -(all_atom_mask * torch.log(probs + config.eps)
               + (1.0 - all_atom_mask) * torch.log(1.0 - probs + config.eps))
    loss = torch.sum(errors * atom37_atom_exists, dim=-1)
    loss = loss / (config.eps + torch.sum(atom37_atom_exists, dim=(-1, -2))[..., None])
    loss = torch.sum(loss, dim=-1)
    in_range = (resolution >= config.min_resolution) & (resolution <= config.max_resolution)
    return loss * in_range.to(loss.dtype)


def tm_loss(logits: torch.Tensor, final_affine_tensor: torch.Tensor, backbone_rigid_tensor: torch.Tensor,
            backbone_rigid_mask: torch.Tensor, resolution: torch.Tensor, config: ConfidenceConfig) -> torch.Tensor:
    """Predicted-aligned-error head: bins of the Ca error after aligning on each residue frame."""
    pred_affine = Rigid.from_tensor_7(final_affine_tensor)
    gt_affine = Rigid.from_tensor_4x4(backbone_rigid_tensor)

    def _points(affine: Rigid) -> torch.Tensor:
        pts = affine.get_trans()[..., None, :, :]
        return affine.unsqueeze(-1).invert_apply(pts)

    sq_diff = torch.sum((_points(pred_affine) - _points(gt_affine)) ** 2, dim=-1)
    sq_diff = sq_diff.detach()
    boundaries = bin_boundaries(0.0, config.pae_max_bin, config.pae_bins, device=logits.device) ** 2
    true_bins = one_hot_bins(sq_diff, boundaries)
    errors = softmax_cross_entropy(logits, true_bins)
    square_mask = backbone_rigid_mask[..., None] * backbone_rigid_mask[..., None, :]
    loss = torch.sum(errors * square_mask, dim=-1)
    scale = 0.5
    denom = config.eps + torch.sum(scale * square_mask, dim=(-1, -2))
    loss = loss / denom[..., None]
    loss = torch.sum(loss, dim=-1) * scale
    in_range = (resolution >= config.min_resolution) & (resolution <= config.max_resolution)
    return loss * in_range.to(loss.dtype)


def predicted_tm_score(logits: torch.Tensor, max_bin: float = 31.0, residue_weights=None, eps: float = 1e-8):
    boundaries = torch.linspace(0, max_bin, logits.shape[-1] - 1, device=logits.device)
    step = boundaries[1] - boundaries[0]
    bin_centers = torch.cat([boundaries + step / 2, (boundaries[-1:] + step)], dim=0)
    if residue_weights is None:
        residue_weights = logits.new_ones(logits.shape[-2])
    n = logits.shape[-2]
    clipped_n = max(n, 19)
    d0 = 1.24 * (clipped_n - 15) ** (1.0 / 3) - 1.8
    probs = torch.nn.functional.softmax(logits, dim=-1)
    tm_per_bin = 1.0 / (1 + (bin_centers ** 2) / (d0 ** 2))
    predicted_tm_term = torch.sum(probs * tm_per_bin, dim=-1)
    normed_residue_mask = residue_weights / (eps + residue_weights.sum())
    per_alignment = torch.sum(predicted_tm_term * normed_residue_mask, dim=-1)
    weighted = per_alignment * residue_weights
    argmax = (weighted == torch.max(weighted)).nonzero()[0]
    return per_alignment[tuple(argmax)]
