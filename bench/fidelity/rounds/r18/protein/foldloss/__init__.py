"""foldloss: losses and metrics for protein structure prediction in PyTorch."""
from .config import (ConfidenceConfig, DistogramConfig, FAPEConfig, LossConfig, TorsionConfig,
                     ViolationConfig)
from .heads import distogram_loss, experimentally_resolved_loss, plddt_loss, tm_loss
from .metrics import drmsd, gdt, lddt, rmsd, superimpose, tm_score
from .rigid import Rigid
from .structure import (backbone_loss, compute_fape, compute_renamed_ground_truth, sidechain_loss,
                        smooth_lddt_loss, supervised_chi_loss)
from .training import AlphaFoldLoss, train_step, validation_step
from .violations import (between_residue_bond_loss, between_residue_clash_loss, violation_loss,
                         within_residue_violations)

__all__ = [
    "AlphaFoldLoss", "ConfidenceConfig", "DistogramConfig", "FAPEConfig", "LossConfig", "Rigid",
    "TorsionConfig", "ViolationConfig", "backbone_loss", "between_residue_bond_loss",
    "between_residue_clash_loss", "compute_fape", "compute_renamed_ground_truth", "distogram_loss",
    "drmsd", "experimentally_resolved_loss", "gdt", "lddt", "plddt_loss", "rmsd", "sidechain_loss",
    "smooth_lddt_loss", "superimpose", "supervised_chi_loss", "tm_loss", "tm_score", "train_step",
    "validation_step", "violation_loss", "within_residue_violations",
]

__version__ = "0.1.0"
