"""Structure-comparison metrics: lDDT, superposition RMSD, TM-score, GDT and dRMSD."""
from typing import Optional, Tuple

import numpy as np
import torch


def lddt(all_atom_pred_pos: torch.Tensor, all_atom_positions: torch.Tensor, all_atom_mask: torch.Tensor,
         cutoff: float = 15.0, eps: float = 1e-10, per_residue: bool = True) -> torch.Tensor:
    n = all_atom_mask.shape[-2]
    dmat_true = torch.sqrt(eps + torch.sum(
        (all_atom_positions[..., None, :] - all_atom_positions[..., None, :, :]) ** 2, dim=-1))
    dmat_pred = torch.sqrt(eps + torch.sum(
        (all_atom_pred_pos[..., None, :] - all_atom_pred_pos[..., None, :, :]) ** 2, dim=-1))
    dists_to_score = ((dmat_true < cutoff) * all_atom_mask * all_atom_mask.transpose(-1, -2)
                      * (1.0 - torch.eye(n, device=all_atom_mask.device)))
    dist_l1 = torch.abs(dmat_true - dmat_pred)
    score = ((dist_l1 < 0.5).type(dist_l1.dtype) + (dist_l1 < 1.0).type(dist_l1.dtype)
             + (dist_l1 < 2.0).type(dist_l1.dtype) + (dist_l1 < 4.0).type(dist_l1.dtype)) * 0.25
    dims = (-1,) if per_residue else (-2, -1)
    norm = 1.0 / (eps + torch.sum(dists_to_score, dim=dims))
    return norm * (eps + torch.sum(dists_to_score * score, dim=dims))


def kabsch(mobile: torch.Tensor, target: torch.Tensor, weights: Optional[torch.Tensor] = None,
           eps: float = 1e-8) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rotation and translation that best superimpose ``mobile`` onto ``target`` (weighted)."""
    if weights is None:
        weights = mobile.new_ones(mobile.shape[:-1])
    w = weights[..., None]
    w_sum = torch.clamp(torch.sum(w, dim=-2, keepdim=True), min=eps)
    mobile_center = torch.sum(w * mobile, dim=-2, keepdim=True) / w_sum
    target_center = torch.sum(w * target, dim=-2, keepdim=True) / w_sum
    cov = torch.einsum("...ni,...nj->...ij", w * (mobile - mobile_center), target - target_center)
    u, _, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.det(torch.einsum("...ij,...jk->...ik", u, vh)))
    flip = torch.ones_like(u[..., 0, :])
    flip[..., -1] = d
    rot = torch.einsum("...ij,...j,...jk->...ik", u, flip, vh)
    trans = target_center - torch.einsum("...ni,...ij->...nj", mobile_center, rot)
    return rot, trans


def superimpose(mobile: torch.Tensor, target: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    rot, trans = kabsch(mobile, target, weights)
    return torch.einsum("...ni,...ij->...nj", mobile, rot) + trans


def kabsch_numpy(mobile: np.ndarray, target: np.ndarray) -> np.ndarray:
    mobile = mobile - mobile.mean(axis=0)
    target = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(mobile.T @ target)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] = -u[:, -1]
    return u @ vt


def rmsd(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    sq = torch.sum((pred - target) ** 2, dim=-1)
    return torch.sqrt(torch.sum(sq * mask, dim=-1) / (torch.sum(mask, dim=-1) + eps) + eps)


def tm_score(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    n_res = torch.clamp(mask.sum(dim=-1), min=19.0)
    d0 = 1.24 * (n_res - 15.0) ** (1.0 / 3.0) - 1.8
    aligned = superimpose(pred, target, mask)
    d = torch.linalg.norm(aligned - target, dim=-1)
    per_res = 1.0 / (1.0 + (d / d0[..., None]) ** 2)
    return torch.sum(per_res * mask, dim=-1) / n_res


def gdt(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cutoffs=(1.0, 2.0, 4.0, 8.0)) -> torch.Tensor:
    aligned = superimpose(pred, target, mask)
    d = torch.linalg.norm(aligned - target, dim=-1)
    n = torch.clamp(mask.sum(dim=-1), min=1.0)
    fractions = [torch.sum((d <= c) * mask, dim=-1) / n for c in cutoffs]
    return torch.stack(fractions, dim=-1).mean(dim=-1)


def drmsd(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Distance-matrix RMSD; needs no superposition, so it is also used as a training loss."""
    d_pred = torch.cdist(pred, pred)
    d_true = torch.cdist(target, target)
    pair_mask = mask[..., :, None] * mask[..., None, :]
    n_pairs = pair_mask.sum(dim=(-1, -2))
    if bool((n_pairs == 0).any()):
        raise ValueError("dRMSD needs at least one resolved residue per structure")
    sq = torch.sum(((d_pred - d_true) ** 2) * pair_mask, dim=(-1, -2)) / n_pairs
    return sq ** 0.5


def chi_accuracy(pred_chi: torch.Tensor, true_chi: torch.Tensor, chi_mask: torch.Tensor,
                 tolerance_deg: float = 40.0) -> float:
    diff = torch.remainder(pred_chi - true_chi + np.pi, 2 * np.pi) - np.pi
    correct = (torch.abs(diff) < np.deg2rad(tolerance_deg)) * chi_mask
    return (correct.sum() / chi_mask.sum().clamp_min(1.0)).item()
