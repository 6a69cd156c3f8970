"""UFlow / SMURF-style unsupervised flow objective and a training step."""

import torch
import torch.nn as nn

from .config import FlowLossConfig
from .occlusion import estimate_occlusion, fb_consistency_mask
from .photometric import abs_robust_loss, census_loss, masked_mean, weighted_ssim
from .smoothness import EdgeAwareSmoothness
from .warp import flow_warp, out_of_bounds_mask, resize_flow


class UnsupervisedFlowLoss(nn.Module):
    """Occlusion-masked photometric loss + edge-aware smoothness (+ optional self-supervision).

    Applied to every prediction of an iterative model, weighted like the RAFT sequence loss.
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = config if config is not None else FlowLossConfig()
        sc = self.config.smoothness
        self.smoothness = EdgeAwareSmoothness(sc.order, sc.edge_constant, sc.edge_weighting, sc.power)

    def data_term(self, image1, image2, flow_fw, flow_bw):
        pc = self.config.photometric
        oc = self.config.occlusion
        warped = flow_warp(image2, flow_fw)
        mask = estimate_occlusion(flow_fw, flow_bw, oc.method, oc.fb_alpha, oc.fb_beta)
        if oc.mask_out_of_bounds:
            mask = mask * out_of_bounds_mask(flow_fw)
        loss = image1.new_zeros(())
        if pc.l1_weight > 0:
            l1 = abs_robust_loss(image1 - warped, pc.robust_eps, pc.robust_q)
            loss = loss + pc.l1_weight * masked_mean(l1, mask)
        if pc.census_weight > 0:
            census = census_loss(image1, warped, mask, pc.census_patch_size, pc.robust_eps, pc.robust_q)
            loss = loss + pc.census_weight * census
        if pc.ssim_weight > 0:
            ssim_err, avg_weight = weighted_ssim(warped, image1, mask, pc.ssim_c1, pc.ssim_c2)
            ssim_loss = (ssim_err * avg_weight).sum() / (avg_weight.sum() + 1e-6)
            loss = loss + pc.ssim_weight * ssim_loss
        return loss, mask

    def self_supervision(self, student_fw, teacher_fw, teacher_bw):
        """SMURF: distil the flow of the full-image teacher into the cropped student."""
        teacher_fw = teacher_fw.detach()
        teacher_bw = teacher_bw.detach()
        mask = fb_consistency_mask(teacher_fw, teacher_bw)
        mask = mask * out_of_bounds_mask(teacher_fw)
        err = abs_robust_loss(student_fw - teacher_fw).sum(dim=1, keepdim=True)
        return masked_mean(err, mask)

    def forward(self, image1, image2, flows_fw, flows_bw, teacher=None):
        """``flows_fw`` / ``flows_bw``: lists of (B, 2, h, w) predictions, last one final."""
        cfg = self.config
        n = len(flows_fw)
        size = image1.shape[-2:]
        total = image1.new_zeros(())
        logs = {}
        for i, (f_fw, f_bw) in enumerate(zip(flows_fw, flows_bw)):
            weight = cfg.sequence.gamma ** (n - i - 1)
            if f_fw.shape[-2:] != size:
                f_fw = resize_flow(f_fw, size)
                f_bw = resize_flow(f_bw, size)
            data, mask = self.data_term(image1, image2, f_fw, f_bw)
            smooth = self.smoothness(f_fw, image1)
            if cfg.balance_smoothness:
                smooth = smooth * (data.item() / (smooth.item() + 1e-8))
            total = total + weight * (data + cfg.smoothness.weight * smooth)
            logs[f"data_{i}"] = data.item()
        if teacher is not None and cfg.selfsup_weight > 0:
            selfsup = self.self_supervision(flows_fw[-1], teacher[0], teacher[1])
            total = total + cfg.selfsup_weight * selfsup
            logs["selfsup"] = selfsup.item()
        logs["visible"] = mask.mean().item()
        return total, logs


def train_step(model, optimizer, batch, loss_fn, clip_grad=1.0, teacher_model=None):
    """One optimisation step on a batch with ``image1`` and ``image2`` (B, 3, H, W) in [0, 1]."""
    image1, image2 = batch["image1"], batch["image2"]
    model.train()
    flows_fw = model(image1, image2)
    flows_bw = model(image2, image1)
    teacher = None
    if teacher_model is not None:
        with torch.no_grad():
            teacher = (teacher_model(image1, image2)[-1], teacher_model(image2, image1)[-1])
    loss, logs = loss_fn(image1, image2, flows_fw, flows_bw, teacher=teacher)
    optimizer.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        logs["skipped"] = 1.0
        return logs
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    optimizer.step()
    logs["loss"] = loss.item()
    logs["grad_norm"] = grad_norm.item()
    return logs
