"""Stereochemical violation losses: peptide-bond geometry, steric clashes, chain packing."""
from typing import Dict

import torch

from .config import ViolationConfig

# Literature values (Engh & Huber) for the peptide bond; lengths in Angstrom, angles as cosines.
C_N_LENGTH = (1.329, 1.341)
C_N_STDDEV = (0.014, 0.016)
CA_C_N_COS = (-0.4473, 0.0311)
C_N_CA_COS = (-0.5203, 0.0353)
VDW_RADII = {"C": 1.7, "N": 1.55, "O": 1.52, "S": 1.8}


def between_residue_bond_loss(pred_atom_positions: torch.Tensor, pred_atom_mask: torch.Tensor,
                              residue_index: torch.Tensor, aatype: torch.Tensor,
                              tolerance_factor_soft: float = 12.0, tolerance_factor_hard: float = 12.0,
                              eps: float = 1e-6) -> Dict[str, torch.Tensor]:
    """Flat-bottom losses on the C-N bond length and the two angles around it."""
    this_ca_pos = pred_atom_positions[..., :-1, 1, :]
    this_ca_mask = pred_atom_mask[..., :-1, 1]
    this_c_pos = pred_atom_positions[..., :-1, 2, :]
    this_c_mask = pred_atom_mask[..., :-1, 2]
    next_n_pos = pred_atom_positions[..., 1:, 0, :]
    next_n_mask = pred_atom_mask[..., 1:, 0]
    next_ca_pos = pred_atom_positions[..., 1:, 1, :]
    next_ca_mask = pred_atom_mask[..., 1:, 1]
    has_no_gap_mask = ((residue_index[..., 1:] - residue_index[..., :-1]) == 1.0).to(pred_atom_positions.dtype)

    c_n_bond_length = torch.sqrt(eps + torch.sum((this_c_pos - next_n_pos) ** 2, dim=-1))
    next_is_proline = (aatype[..., 1:] == 14).to(pred_atom_positions.dtype)
    gt_length = (1.0 - next_is_proline) * C_N_LENGTH[0] + next_is_proline * C_N_LENGTH[1]
    gt_stddev = (1.0 - next_is_proline) * C_N_STDDEV[0] + next_is_proline * C_N_STDDEV[1]
    c_n_bond_length_error = torch.sqrt(eps + (c_n_bond_length - gt_length) ** 2)
    c_n_loss_per_residue = torch.nn.functional.relu(c_n_bond_length_error - tolerance_factor_soft * gt_stddev)
    mask = this_c_mask * next_n_mask * has_no_gap_mask
    c_n_loss = torch.sum(mask * c_n_loss_per_residue, dim=-1) / (torch.sum(mask, dim=-1) + eps)
    c_n_violation_mask = mask * (c_n_bond_length_error > (tolerance_factor_hard * gt_stddev))

    ca_c_bond_length = torch.linalg.norm(this_ca_pos - this_c_pos, dim=-1)
    n_ca_bond_length = torch.linalg.norm(next_n_pos - next_ca_pos, dim=-1)
    c_ca_unit_vec = (this_ca_pos - this_c_pos) / ca_c_bond_length[..., None]
    c_n_unit_vec = (next_n_pos - this_c_pos) / c_n_bond_length[..., None]
    n_ca_unit_vec = (next_ca_pos - next_n_pos) / n_ca_bond_length[..., None]

    ca_c_n_cos_angle = torch.sum(c_ca_unit_vec * c_n_unit_vec, dim=-1)
    ca_c_n_cos_angle_error = torch.sqrt(eps + (ca_c_n_cos_angle - CA_C_N_COS[0]) ** 2)
    ca_c_n_loss_per_residue = torch.nn.functional.relu(
        ca_c_n_cos_angle_error - tolerance_factor_soft * CA_C_N_COS[1])
    mask = this_ca_mask * this_c_mask * next_n_mask * has_no_gap_mask
    ca_c_n_loss = torch.sum(mask * ca_c_n_loss_per_residue, dim=-1) / (torch.sum(mask, dim=-1) + eps)
    ca_c_n_violation_mask = mask * (ca_c_n_cos_angle_error > (tolerance_factor_hard * CA_C_N_COS[1]))

    c_n_ca_cos_angle = torch.sum((-c_n_unit_vec) * n_ca_unit_vec, dim=-1)
    c_n_ca_cos_angle_error = torch.sqrt(eps + torch.square(c_n_ca_cos_angle - C_N_CA_COS[0]))
    c_n_ca_loss_per_residue = torch.nn.functional.relu(
        c_n_ca_cos_angle_error - tolerance_factor_soft * C_N_CA_COS[1])
    mask = this_c_mask * next_n_mask * next_ca_mask * has_no_gap_mask
    c_n_ca_loss = torch.sum(mask * c_n_ca_loss_per_residue, dim=-1) / (torch.sum(mask, dim=-1) + eps)
    c_n_ca_violation_mask = mask * (c_n_ca_cos_angle_error > (tolerance_factor_hard * C_N_CA_COS[1]))

    per_residue_loss_sum = c_n_loss_per_residue + ca_c_n_loss_per_residue + c_n_ca_loss_per_residue
    per_residue_loss_sum = 0.5 * (torch.nn.functional.pad(per_residue_loss_sum, (0, 1))
                                  + torch.nn.functional.pad(per_residue_loss_sum, (1, 0)))
    violation_mask = torch.max(torch.stack([c_n_violation_mask, ca_c_n_violation_mask,
                                            c_n_ca_violation_mask], dim=-2), dim=-2)[0]
    violation_mask = torch.maximum(torch.nn.functional.pad(violation_mask, (0, 1)),
                                   torch.nn.functional.pad(violation_mask, (1, 0)))
    return {
        "c_n_loss_mean": c_n_loss,
        "ca_c_n_loss_mean": ca_c_n_loss,
        "c_n_ca_loss_mean": c_n_ca_loss,
        "per_residue_loss_sum": per_residue_loss_sum,
        "per_residue_violation_mask": violation_mask,
    }


def between_residue_clash_loss(atom14_pred_positions: torch.Tensor, atom14_atom_exists: torch.Tensor,
                               atom14_atom_radius: torch.Tensor, residue_index: torch.Tensor,
                               overlap_tolerance_soft: float = 1.5, overlap_tolerance_hard: float = 1.5,
                               eps: float = 1e-10) -> Dict[str, torch.Tensor]:
    """Penalise non-bonded atom pairs of different residues that overlap their van der Waals radii."""
    fp_type = atom14_pred_positions.dtype
    dists = torch.sqrt(eps + torch.sum(
        (atom14_pred_positions[..., :, None, :, None, :] - atom14_pred_positions[..., None, :, None, :, :]) ** 2,
        dim=-1))
    dists_mask = (atom14_atom_exists[..., :, None, :, None] * atom14_atom_exists[..., None, :, None, :]).type(fp_type)
    dists_mask = dists_mask * (residue_index[..., :, None, None, None] < residue_index[..., None, :, None, None])

    c_one_hot = torch.nn.functional.one_hot(residue_index.new_tensor(2), num_classes=14)
    n_one_hot = torch.nn.functional.one_hot(residue_index.new_tensor(0), num_classes=14)
    neighbour_mask = (residue_index[..., :, None, None, None] + 1) == residue_index[..., None, :, None, None]
    c_n_bonds = neighbour_mask * c_one_hot[..., None, None, :, None] * n_one_hot[..., None, None, None, :]
    dists_mask = dists_mask * (1.0 - c_n_bonds.type(fp_type))

    dists_lower_bound = dists_mask * (atom14_atom_radius[..., :, None, :, None]
                                      + atom14_atom_radius[..., None, :, None, :])
    dists_to_low_error = dists_mask * torch.nn.functional.relu(dists_lower_bound - overlap_tolerance_soft - dists)
    mean_loss = torch.sum(dists_to_low_error) / (1e-6 + torch.sum(dists_mask))
    per_atom_loss_sum = torch.sum(dists_to_low_error, dim=(-4, -2)) + torch.sum(dists_to_low_error, dim=(-3, -1))
    clash_mask = dists_mask * (dists < (dists_lower_bound - overlap_tolerance_hard))
    per_atom_clash_mask = torch.maximum(torch.amax(clash_mask, dim=(-4, -2)), torch.amax(clash_mask, dim=(-3, -1)))
    return {"mean_loss": mean_loss, "per_atom_loss_sum": per_atom_loss_sum,
            "per_atom_clash_mask": per_atom_clash_mask}


def within_residue_violations(atom14_pred_positions: torch.Tensor, atom14_atom_exists: torch.Tensor,
                              lower_bound: torch.Tensor, upper_bound: torch.Tensor,
                              tighten_bounds_for_loss: float = 0.0, eps: float = 1e-10) -> Dict[str, torch.Tensor]:
    """Bond-length and bond-angle bounds between atoms of the same residue."""
    dists_masks = 1.0 - torch.eye(14, device=atom14_atom_exists.device)[None]
    dists_masks = dists_masks * atom14_atom_exists[..., :, :, None] * atom14_atom_exists[..., :, None, :]
    dists = torch.sqrt(eps + torch.sum(
        (atom14_pred_positions[..., :, :, None, :] - atom14_pred_positions[..., :, None, :, :]) ** 2, dim=-1))
    dists_to_low_error = torch.nn.functional.relu(lower_bound + tighten_bounds_for_loss - dists)
    dists_to_high_error = torch.nn.functional.relu(dists - (upper_bound - tighten_bounds_for_loss))
    loss = dists_masks * (dists_to_low_error + dists_to_high_error)
    per_atom_loss_sum = torch.sum(loss, dim=-2) + torch.sum(loss, dim=-1)
    violations = dists_masks * ((dists < lower_bound) | (dists > upper_bound))
    per_atom_violations = torch.maximum(torch.max(violations, dim=-2)[0], torch.max(violations, dim=-1)[0])
    return {"per_atom_loss_sum": per_atom_loss_sum, "per_atom_violations": per_atom_violations}


def violation_loss(bonds: Dict[str, torch.Tensor], clashes: Dict[str, torch.Tensor],
                   within: Dict[str, torch.Tensor], atom14_atom_exists: torch.Tensor,
                   eps: float = 1e-6) -> torch.Tensor:
    num_atoms = torch.sum(atom14_atom_exists)
    l_clash = torch.sum(clashes["per_atom_loss_sum"] + within["per_atom_loss_sum"])
    l_clash = l_clash / (eps + num_atoms)
    return bonds["c_n_loss_mean"] + bonds["ca_c_n_loss_mean"] + bonds["c_n_ca_loss_mean"] + l_clash


def chain_center_of_mass_loss(all_atom_pred_pos: torch.Tensor, all_atom_positions: torch.Tensor,
                              all_atom_mask: torch.Tensor, asym_id: torch.Tensor, num_chains: int,
                              clamp_distance: float = -4.0, eps: float = 1e-10) -> torch.Tensor:
    """Penalise chains whose predicted centres of mass are closer than in the target."""
    ca_pos = all_atom_pred_pos[..., 1, :]
    gt_ca = all_atom_positions[..., 1, :]
    ca_mask = all_atom_mask[..., 1]
    chains = torch.arange(num_chains, device=asym_id.device)
    chain_mask = (asym_id[..., None, :] == chains[:, None]).to(ca_pos.dtype) * ca_mask[..., None, :]
    atoms_per_chain = torch.sum(chain_mask, dim=-1, keepdim=True)
    chain_count = torch.clamp(atoms_per_chain, min=1.0)
    pred_com = torch.einsum("...cn,...nd->...cd", chain_mask, ca_pos) / chain_count
    gt_com = torch.einsum("...cn,...nd->...cd", chain_mask, gt_ca) / chain_count
    pred_dists = torch.linalg.norm(pred_com[..., :, None, :] - pred_com[..., None, :, :], dim=-1)
    gt_dists = torch.linalg.norm(gt_com[..., :, None, :] - gt_com[..., None, :, :], dim=-1)
    pair_exists = (atoms_per_chain > 0).to(ca_pos.dtype)
    pair_mask = pair_exists * pair_exists.transpose(-1, -2)
    losses = torch.clamp(clamp_distance - (pred_dists - gt_dists), min=0) ** 2
    return torch.sum(losses * pair_mask, dim=(-1, -2)) / (eps + torch.sum(pair_mask, dim=(-1, -2)))
