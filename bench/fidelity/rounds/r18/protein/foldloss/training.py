"""Combined loss module and training / validation step functions."""
import logging
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from . import heads, metrics, structure, violations
from .config import LossConfig
from .rigid import Rigid, rotation_angle
from .tensor_utils import tree_map_detach

logger = logging.getLogger(__name__)


class AlphaFoldLoss(nn.Module):
    """Weighted sum of the structure, violation and auxiliary-head losses."""

    def __init__(self, config: LossConfig):
        super().__init__()
        config.validate()
        self.config = config

    def forward(self, out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]
                ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        c = self.config
        angles = out.get("angles_sin_cos")
        if angles is None:
            angles = structure.normalize_sin_cos(out["unnormalized_angles_sin_cos"])
        renamed = structure.compute_renamed_ground_truth(batch, out["final_atom14_positions"])
        terms = {
            "fape": c.fape.backbone_weight * structure.backbone_loss(
                out["frames"], batch["backbone_rigid_tensor"], batch["backbone_rigid_mask"], c.fape,
                use_clamped_fape=batch.get("use_clamped_fape"))
            + c.fape.sidechain_weight * structure.sidechain_loss(
                out["sidechain_frames"], out["positions"], batch["rigidgroups_gt_frames"],
                batch["rigidgroups_alt_gt_frames"], batch["rigidgroups_gt_exists"], renamed, c.fape),
            "supervised_chi": c.torsion.weight * structure.supervised_chi_loss(
                angles, out["unnormalized_angles_sin_cos"], batch["aatype"], batch["seq_mask"],
                batch["chi_mask"], batch["chi_angles_sin_cos"], batch["chi_pi_periodic"], c.torsion),
            "distogram": c.distogram.weight * heads.distogram_loss(
                out["distogram_logits"], batch["pseudo_beta"], batch["pseudo_beta_mask"], c.distogram),
            "plddt": c.confidence.plddt_weight * heads.plddt_loss(
                out["lddt_logits"], out["final_atom_positions"], batch["all_atom_positions"],
                batch["all_atom_mask"], batch["resolution"], c.confidence),
            "experimentally_resolved": c.confidence.resolved_weight * heads.experimentally_resolved_loss(
                out["experimentally_resolved_logits"], batch["atom37_atom_exists"], batch["all_atom_mask"],
                batch["resolution"], c.confidence),
        }
        ca_pred = out["final_atom_positions"][..., 1, :]
        ca_true = batch["all_atom_positions"][..., 1, :]
        ca_mask = batch["all_atom_mask"][..., 1]
        if c.confidence.tm_weight > 0:
            terms["tm"] = c.confidence.tm_weight * heads.tm_loss(
                out["tm_logits"], out["final_affine_tensor"], batch["backbone_rigid_tensor"],
                batch["backbone_rigid_mask"], batch["resolution"], c.confidence)
        if c.violation.weight > 0:
            terms["violation"] = c.violation.weight * self._violation_term(out, batch)
            limit = c.violation.max_fape_for_violation
            if limit is not None and terms["fape"].mean() > limit:
                terms["violation"] = torch.zeros_like(terms["violation"])
        if c.drmsd_weight > 0:
            terms["drmsd"] = c.drmsd_weight * metrics.drmsd(ca_pred, ca_true, ca_mask)
        if c.smooth_lddt_weight > 0:
            terms["smooth_lddt"] = c.smooth_lddt_weight * structure.smooth_lddt_loss(ca_pred, ca_true, ca_mask)
        if c.log_distance_weight > 0:
            terms["log_distance"] = c.log_distance_weight * structure.log_distance_loss(ca_pred, ca_true, ca_mask)
        if c.aligned_mse_weight > 0:
            aligned_true = metrics.superimpose(ca_true, ca_pred.detach(), ca_mask)
            sq = torch.sum((ca_pred - aligned_true) ** 2, dim=-1)
            terms["aligned_mse"] = c.aligned_mse_weight * torch.sum(sq * ca_mask, -1) / (ca_mask.sum(-1) + 1e-8)

        cum_loss = sum(torch.mean(v) for v in terms.values())
        if c.scale_by_crop:
            seq_len = torch.mean(batch["seq_length"].float())
            crop_len = batch["aatype"].shape[-1]
            cum_loss = cum_loss * torch.sqrt(min(seq_len, crop_len))
        if torch.isnan(cum_loss) or torch.isinf(cum_loss):
            logger.warning("loss is NaN or inf; skipping its contribution")
            cum_loss = cum_loss.new_tensor(0.0, requires_grad=True)
        terms = tree_map_detach(terms)
        terms["loss"] = cum_loss.detach().clone()
        return cum_loss, terms

    def _violation_term(self, out, batch) -> torch.Tensor:
        v = self.config.violation
        pos = out["final_atom14_positions"]
        bonds = violations.between_residue_bond_loss(
            pos, batch["atom14_atom_exists"], batch["residue_index"], batch["aatype"],
            tolerance_factor_soft=v.violation_tolerance_factor, tolerance_factor_hard=v.violation_tolerance_factor)
        clashes = violations.between_residue_clash_loss(
            pos, batch["atom14_atom_exists"], batch["atom14_atom_radius"], batch["residue_index"],
            overlap_tolerance_soft=v.clash_overlap_tolerance, overlap_tolerance_hard=v.clash_overlap_tolerance)
        within = violations.within_residue_violations(
            pos, batch["atom14_atom_exists"], batch["atom14_dists_lower_bound"], batch["atom14_dists_upper_bound"])
        loss = violations.violation_loss(bonds, clashes, within, batch["atom14_atom_exists"])
        if "asym_id" in batch:
            loss = loss + violations.chain_center_of_mass_loss(
                out["final_atom_positions"], batch["all_atom_positions"], batch["all_atom_mask"],
                batch["asym_id"], int(batch["num_chains"].max()), clamp_distance=-v.center_of_mass_margin)
        return loss


def train_step(model: nn.Module, loss_fn: AlphaFoldLoss, optimizer: torch.optim.Optimizer,
               batch: Dict[str, torch.Tensor], running_loss: Optional[float] = None,
               spike_factor: float = 5.0) -> Dict[str, float]:
    model.train()
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    loss, terms = loss_fn(out, batch)
    loss_value = loss.detach().item()
    if running_loss is not None and loss_value > spike_factor * running_loss:
        logger.info("skipping step: loss %.3f spiked above %.3f", loss_value, running_loss)
        return {"loss": loss_value, "skipped": 1.0}
    loss.backward()
    if loss_fn.config.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), loss_fn.config.max_grad_norm)
    optimizer.step()
    return {k: v.mean().item() for k, v in terms.items()}


def validation_step(model: nn.Module, batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
    model.eval()
    with torch.no_grad():
        out = model(batch)
        pred = out["final_atom_positions"][..., 1, :]
        true = batch["all_atom_positions"][..., 1, :]
        mask = batch["all_atom_mask"][..., 1]
        aligned = metrics.superimpose(pred, true, mask)
        result = {
            "lddt_ca": metrics.lddt(pred, true, mask[..., None], per_residue=False).mean().item(),
            "rmsd_ca": metrics.rmsd(aligned, true, mask).mean().item(),
            "tm_score": metrics.tm_score(pred, true, mask).mean().item(),
            "gdt_ts": metrics.gdt(pred, true, mask).mean().item(),
            "drmsd_ca": metrics.drmsd(pred, true, mask).mean().item(),
        }
        if "tm_logits" in out:
            result["ptm"] = heads.predicted_tm_score(out["tm_logits"][0]).item()
        if "final_affine_tensor" in out:
            pred_rots = Rigid.from_tensor_7(out["final_affine_tensor"], normalize_quats=True).get_rots()
            true_rots = batch["backbone_rigid_tensor"][..., :3, :3]
            err = rotation_angle(torch.einsum("...ji,...jk->...ik", pred_rots, true_rots))
            result["rot_err_deg"] = torch.rad2deg(err[mask > 0]).mean().item()
    p = pred[0].cpu().numpy()
    t = true[0].cpu().numpy()
    m = mask[0].cpu().numpy() > 0
    rot = metrics.kabsch_numpy(p[m], t[m])
    result["rmsd_ca_np"] = float(((((p[m] - p[m].mean(0)) @ rot - (t[m] - t[m].mean(0))) ** 2).sum(-1).mean()) ** 0.5)
    return result
