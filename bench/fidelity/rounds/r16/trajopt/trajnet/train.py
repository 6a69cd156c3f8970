"""Training a trajectory generator with imitation and differentiable trajectory optimisation."""
from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TrainConfig
from .costs import TrajectoryCost
from .imitation import (BehaviorCloningLoss, DTWImitationLoss, GaussianTrajectoryNLL,
                        MultiModalImitationLoss, PhaseImitationLoss, path_chamfer,
                        prepare_demos)
from .kinematics import SerialChain
from .metrics import summarize

CostFn = Callable[[torch.Tensor], torch.Tensor]


def project_to_limits(q: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    return torch.max(torch.min(q, upper), lower)


def log_barrier(q: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    span = upper - lower
    return -torch.log((q - lower) * (upper - q) / (0.25 * span * span)).sum(-1)


def unrolled_refine(q: torch.Tensor, cost_fn: CostFn, steps: int, lr: float,
                    lower: torch.Tensor, upper: torch.Tensor, tol: float = 0.0,
                    barrier_weight: float = 1e-3) -> torch.Tensor:
    """Projected gradient descent on the cost, kept in the graph for backpropagation."""
    for _ in range(steps):
        cost = cost_fn(q) + barrier_weight * log_barrier(q, lower, upper).mean()
        if cost.item() < tol:
            break
        (grad,) = torch.autograd.grad(cost, q, create_graph=True)
        q = project_to_limits(q - lr * grad, lower, upper)
    return q


class PlannerTrainer:
    """One optimisation step = imitation loss + weighted trajectory cost of the refined output."""

    def __init__(self, policy: nn.Module, chain: SerialChain, cfg: TrainConfig):
        self.policy = policy
        self.chain = chain
        self.cfg = cfg
        self.cost = TrajectoryCost(chain, cfg.trajopt)
        im = cfg.imitation
        if im.loss in ("dtw", "soft_dtw"):
            self.imitation = DTWImitationLoss(soft=im.loss == "soft_dtw", gamma=im.soft_dtw_gamma)
        elif im.loss == "wta":
            self.imitation = MultiModalImitationLoss()
        elif im.loss == "nll":
            self.imitation = GaussianTrajectoryNLL(im.log_std_bounds, im.nll_beta)
        elif im.loss == "phase":
            self.imitation = PhaseImitationLoss()
        else:
            self.imitation = BehaviorCloningLoss(im.huber_beta, dt=cfg.trajopt.dt)
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.lr)

    def imitation_loss(self, out: Dict[str, torch.Tensor], demos: torch.Tensor,
                       lengths: torch.Tensor) -> torch.Tensor:
        kind = self.cfg.imitation.loss
        if kind in ("dtw", "soft_dtw"):
            pred_ee = self.chain.link_positions(out["q"])[..., -1, :]
            with torch.no_grad():
                demo_ee = self.chain.link_positions(demos)[..., -1, :]
            return self.imitation(pred_ee, demo_ee) + 0.1 * path_chamfer(pred_ee, demo_ee).mean()
        if kind == "wta":
            return self.imitation(out["modes"], out["mode_logits"], demos, lengths)
        if kind == "nll":
            return self.imitation(out["q"], out["log_std"], demos, lengths)
        if kind == "phase":
            return self.imitation(out["q"], out["phase"], demos)
        return self.imitation(out["q"], demos, lengths)

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
        cfg = self.cfg
        scene, goal = batch["scene"], batch["goal_position"]
        demos, lengths = prepare_demos(batch["demos"], batch["lengths"], cfg.trajopt.horizon)
        out = self.policy(batch["start"], goal, scene)
        lower, upper = self.chain.lower, self.chain.upper

        def cost_fn(traj: torch.Tensor) -> torch.Tensor:
            return self.cost(traj, scene, goal)[0]

        q = out["q"]
        if cfg.unroll_steps > 0:
            q = unrolled_refine(q, cost_fn, cfg.unroll_steps, cfg.unroll_lr, lower, upper,
                                tol=cfg.unroll_tol)
        traj_cost, stats = self.cost(q, scene, goal, batch.get("goal_rotation"),
                                     out.get("raw_durations"), normalize=cfg.normalize_terms)
        boost = cfg.collision_boost if stats["collision"] > cfg.collision_tolerance else 1.0
        im_loss = self.imitation_loss(out, demos, lengths)
        loss = cfg.imitation_weight * im_loss + cfg.cost_weight * boost * traj_cost
        if cfg.distill_refined and cfg.unroll_steps > 0:
            loss = loss + F.mse_loss(out["q"], q.detach())

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip)
        self.optimizer.step()
        log = {f"cost/{k}": v.item() for k, v in stats.items()}
        log.update(loss=loss.item(), imitation=im_loss.item(), grad_norm=float(grad_norm))
        return log

    @torch.no_grad()
    def evaluate(self, batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
        out = self.policy(batch["start"], batch["goal_position"], batch["scene"])
        return summarize(self.chain, out["q"], batch["scene"], batch["goal_position"],
                         self.cfg.trajopt.dt)
