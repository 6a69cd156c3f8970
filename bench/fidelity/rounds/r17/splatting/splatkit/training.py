"""Training objective, densification statistics and the optimisation step."""
import torch
import torch.nn as nn

from .compositing import render_reference
from .gaussians import build_rotation
from .geometry import DepthNormalConsistency, depth_prior_loss
from .image_losses import PhotometricLoss, background_leak_loss
from .regularizers import OpacityRegularizer, ScaleRegularizer


class DensificationStats:
    """Running view-space gradient statistics used by adaptive density control."""

    def __init__(self, num_points, device="cpu"):
        self.reset(num_points, device)

    def reset(self, num_points, device="cpu"):
        self.grad_accum = torch.zeros(num_points, 1, device=device)
        self.denom = torch.zeros(num_points, 1, device=device)
        self.max_radii2d = torch.zeros(num_points, device=device)

    @torch.no_grad()
    def update(self, means2d_grad, radii, visibility, width, height):
        g = means2d_grad[visibility]
        g = g * g.new_tensor([width * 0.5, height * 0.5])
        self.grad_accum[visibility] += torch.norm(g, dim=-1, keepdim=True)
        self.denom[visibility] += 1
        self.max_radii2d[visibility] = torch.max(self.max_radii2d[visibility], radii[visibility].float())

    @torch.no_grad()
    def mean_grad(self):
        grads = self.grad_accum / self.denom
        grads[grads.isnan()] = 0.0
        return grads.squeeze(-1)


@torch.no_grad()
def densify_and_prune_masks(stats, gaussians, cfg, scene_extent, iteration):
    grads = stats.mean_grad()
    max_scale = gaussians.scales.max(dim=1).values
    selected = grads >= cfg.grad_threshold
    small = max_scale <= cfg.percent_dense * scene_extent
    clone = selected & small
    split = selected & ~small
    prune = (gaussians.opacity < cfg.min_opacity).squeeze(-1)
    if cfg.max_screen_size is not None and iteration > cfg.opacity_reset_interval:
        big_vs = stats.max_radii2d > cfg.max_screen_size
        big_ws = max_scale > 0.1 * scene_extent
        prune = prune | big_vs | big_ws
    return clone, split, prune


@torch.no_grad()
def split_samples(means, scales, raw_rotation, n=2):
    stds = scales.repeat(n, 1)
    samples = torch.normal(mean=torch.zeros_like(stds), std=stds)
    rots = build_rotation(raw_rotation).repeat(n, 1, 1)
    new_means = torch.bmm(rots, samples[..., None]).squeeze(-1) + means.repeat(n, 1)
    new_log_scales = torch.log(scales.repeat(n, 1) / (0.8 * n))
    return new_means, new_log_scales


class SplatObjective(nn.Module):
    def __init__(self, cfg, scene_extent, height, width, intrinsics):
        super().__init__()
        self.cfg = cfg
        self.photometric = PhotometricLoss(cfg.photometric)
        self.opacity_reg = OpacityRegularizer(cfg.reg.opacity_mode, cfg.reg.lambda_opacity)
        self.scale_reg = ScaleRegularizer(cfg.reg, scene_extent)
        self.depth_normal = DepthNormalConsistency(cfg.geometry, height, width, *intrinsics)

    def forward(self, render_pkg, batch, gaussians, iteration):
        cfg = self.cfg
        gt_mask = batch.get("alpha_mask")
        loss, log = self.photometric(render_pkg["render"], batch["image"], gt_mask)
        loss = loss + self.opacity_reg(gaussians.opacity, render_pkg["visibility"])
        reg, reg_log = self.scale_reg(gaussians.scales, gaussians._rotation)
        loss = loss + reg
        dn, dn_log = self.depth_normal(render_pkg, batch["c2w"], iteration)
        loss = loss + dn
        geo = cfg.geometry
        if geo.lambda_dist > 0 and iteration >= geo.dist_from_iter:
            loss = loss + geo.lambda_dist * render_pkg["distortion"]
        if geo.lambda_depth > 0 and "mono_depth" in batch:
            loss = loss + geo.lambda_depth * depth_prior_loss(geo, render_pkg, batch["mono_depth"], gt_mask)
        if gt_mask is not None:
            loss = loss + 0.1 * background_leak_loss(render_pkg["rend_alpha"], gt_mask)
        log.update(reg_log)
        log.update(dn_log)
        log["total"] = loss.item()
        return loss, log


def train_step(gaussians, objective, optimizer, batch, stats, cfg, iteration, scene_extent, filter_3d=None):
    cam = batch["camera"]
    if cfg.random_background:
        background = torch.rand(3, device=batch["image"].device)
    else:
        background = batch["image"].new_tensor(cfg.background)
    render_pkg = render_reference(gaussians, cam, cfg, background, filter_3d)
    loss, log = objective(render_pkg, batch, gaussians, iteration)
    loss.backward()

    dcfg = cfg.densify
    with torch.no_grad():
        if iteration < dcfg.densify_until_iter:
            stats.update(render_pkg["means2d"].grad, render_pkg["radii"], render_pkg["visibility"],
                         cam.width, cam.height)
            if iteration > dcfg.densify_from_iter and iteration % dcfg.densification_interval == 0:
                log["masks"] = densify_and_prune_masks(stats, gaussians, dcfg, scene_extent, iteration)
            if iteration % dcfg.opacity_reset_interval == 0:
                gaussians.reset_opacity()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    log["num_points"] = gaussians.num_points
    return log
