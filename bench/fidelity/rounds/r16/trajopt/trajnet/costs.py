"""Cost terms over joint-space trajectories q of shape (B, T, D).

Every term returns a per-trajectory cost reduced according to ``reduction``; the
``TrajectoryCost`` module sums the weighted terms and reports each of them.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import CollisionConfig, TrajOptConfig
from .geometry import Scene, pairwise_sphere_distance, scene_sdf
from .kinematics import (SerialChain, manipulability, matrix_to_quaternion,
                         position_jacobian, rotation_geodesic, so3_log)
from .utils import cubic_spline_densify, finite_difference, safe_norm, time_derivatives


class CostTerm(nn.Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def reduce(self, per_traj: torch.Tensor) -> torch.Tensor:
        if self.reduction == "mean":
            return per_traj.mean()
        if self.reduction == "sum":
            return per_traj.sum()
        return per_traj


def chomp_obstacle_potential(sdf: torch.Tensor, epsilon: float) -> torch.Tensor:
    """CHOMP's obstacle potential: linear inside, quadratic in the margin band, zero outside."""
    inside = -sdf + 0.5 * epsilon
    band = (sdf - epsilon).pow(2) / (2.0 * epsilon)
    zero = torch.zeros_like(sdf)
    return torch.where(sdf < 0, inside, torch.where(sdf <= epsilon, band, zero))


class CollisionCost(CostTerm):
    """Penalty on robot spheres that come within ``margin`` of an obstacle."""

    def __init__(self, chain: SerialChain, cfg: CollisionConfig, dt: float,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.chain = chain
        self.cfg = cfg
        self.dt = dt

    def forward(self, q: torch.Tensor, scene: Scene) -> torch.Tensor:
        if self.cfg.densify > 0:
            q = cubic_spline_densify(q, self.cfg.densify)
        centres, radii = self.chain.collision_spheres(q)            # (B, T, S, 3), (S,)
        sdf = scene_sdf(centres, scene, self.cfg.smooth_temperature) - radii
        if self.cfg.chomp:
            potential = chomp_obstacle_potential(sdf, self.cfg.margin)
            vel = finite_difference(centres.transpose(-3, -2), self.dt).transpose(-3, -2)
            speed = torch.linalg.norm(vel, dim=-1)
            per_step = (potential[..., 1:, :] * speed).sum(-1)
        else:
            penetration = F.relu(self.cfg.margin - sdf)
            per_step = penetration.pow(2).sum(-1)
        if self.cfg.cvar_fraction > 0:
            k = max(1, int(self.cfg.cvar_fraction * per_step.shape[-1]))
            per_traj = per_step.topk(k, dim=-1).values.mean(-1)
        else:
            per_traj = per_step.mean(-1)
        return self.reduce(per_traj)


class SelfCollisionCost(CostTerm):
    def __init__(self, chain: SerialChain, margin: float = 0.02, reduction: str = "mean"):
        super().__init__(reduction)
        self.chain = chain
        self.margin = margin
        link = chain.sphere_link_index()
        self.register_buffer("pair_mask", (link[:, None] - link[None, :]).abs() > 1)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        centres, radii = self.chain.collision_spheres(q)
        dist = pairwise_sphere_distance(centres, radii)
        violation = F.relu(self.margin - dist) * self.pair_mask
        return self.reduce(violation.sum((-1, -2)).mean(-1))


class JointLimitCost(CostTerm):
    def __init__(self, chain: SerialChain, barrier: str = "log", eps: float = 1e-4,
                 buffer: float = 0.05, reduction: str = "mean"):
        super().__init__(reduction)
        self.chain = chain
        self.barrier = barrier
        self.eps = eps
        self.buffer = buffer

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        lower, upper = self.chain.lower, self.chain.upper
        if self.barrier == "log":
            span = upper - lower
            lo = ((q - lower) / span).clamp_min(self.eps)
            hi = ((upper - q) / span).clamp_min(self.eps)
            per_step = -(torch.log(lo) + torch.log(hi)).sum(-1)
        else:
            below = F.relu(lower + self.buffer - q)
            above = F.relu(q - upper + self.buffer)
            per_step = (below + above).sum(-1)
        return self.reduce(per_step.mean(-1))


class VelocityLimitCost(CostTerm):
    def __init__(self, dt: float, max_velocity: float, reduction: str = "mean"):
        super().__init__(reduction)
        self.dt = dt
        self.max_velocity = max_velocity

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        vel = finite_difference(q, self.dt)
        excess = (vel.abs() - self.max_velocity).clamp_min(0.0)
        return self.reduce(excess.amax(dim=-1).sum(-1))


class SmoothnessCost(CostTerm):
    def __init__(self, dt: float, w_vel: float = 1.0, w_acc: float = 0.1,
                 min_duration: float = 1e-2, reduction: str = "mean"):
        super().__init__(reduction)
        self.dt = dt
        self.w_vel = w_vel
        self.w_acc = w_acc
        self.min_duration = min_duration

    def forward(self, q: torch.Tensor, raw_durations: Optional[torch.Tensor] = None) -> torch.Tensor:
        if raw_durations is None:
            vel = finite_difference(q, self.dt)
            acc = finite_difference(q, self.dt, order=2)
        else:
            durations = F.softplus(raw_durations) + self.min_duration
            vel, acc = time_derivatives(q, durations)
        per_traj = (self.w_vel * vel.pow(2).sum(-1).mean(-1)
                    + self.w_acc * acc.pow(2).sum(-1).mean(-1))
        return self.reduce(per_traj)


class JerkCost(CostTerm):
    def __init__(self, dt: float, norm: str = "l2", reduction: str = "mean"):
        super().__init__(reduction)
        self.dt = dt
        self.norm = norm

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        jerk = finite_difference(q, self.dt, order=3)
        if self.norm == "l1":
            per_step = jerk.abs().sum(-1)
        elif self.norm == "l2":
            per_step = torch.linalg.norm(jerk, dim=-1)
        else:
            per_step = jerk.pow(2).sum(-1)
        return self.reduce(per_step.mean(-1))


class GoalCost(CostTerm):
    def __init__(self, chain: SerialChain, metric: str = "l2", tolerance: float = 0.0,
                 eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.chain = chain
        self.metric = metric
        self.tolerance = tolerance
        self.eps = eps

    def forward(self, q: torch.Tensor, goal_position: torch.Tensor) -> torch.Tensor:
        ee, _ = self.chain.end_effector_pose(q[..., -1, :])
        err = ee - goal_position
        if self.metric == "squared":
            dist = err.pow(2).sum(-1)
        elif self.metric == "log":
            dist = torch.log(safe_norm(err) + self.eps)
        else:
            dist = torch.linalg.norm(err, dim=-1)
        if self.tolerance > 0:
            dist = torch.where(dist > self.tolerance, dist, torch.zeros_like(dist))
        return self.reduce(dist)


class OrientationCost(CostTerm):
    def __init__(self, chain: SerialChain, mode: str = "geodesic", reduction: str = "mean"):
        super().__init__(reduction)
        self.chain = chain
        self.mode = mode

    def forward(self, q: torch.Tensor, goal_rotation: torch.Tensor) -> torch.Tensor:
        _, rot = self.chain.end_effector_pose(q[..., -1, :])
        if self.mode == "geodesic":
            err = rotation_geodesic(rot, goal_rotation)
        elif self.mode == "log":
            err = so3_log(rot.transpose(-1, -2) @ goal_rotation).pow(2).sum(-1)
        else:
            q_pred = matrix_to_quaternion(rot)
            q_goal = matrix_to_quaternion(goal_rotation)
            err = 1.0 - (q_pred * q_goal).sum(-1).pow(2)
        return self.reduce(err)


class ManipulabilityCost(CostTerm):
    def __init__(self, chain: SerialChain, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.chain = chain
        self.eps = eps

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        m = manipulability(position_jacobian(self.chain(q)))
        return self.reduce(-torch.log(m + self.eps).mean(-1))


class TrajectoryCost(nn.Module):
    """Weighted sum of the trajectory cost terms."""

    def __init__(self, chain: SerialChain, cfg: TrajOptConfig):
        super().__init__()
        self.weights = asdict(cfg.weights)
        self.terms = nn.ModuleDict({
            "collision": CollisionCost(chain, cfg.collision, cfg.dt),
            "self_collision": SelfCollisionCost(chain),
            "joint_limits": JointLimitCost(chain, cfg.joint_barrier, cfg.barrier_eps),
            "velocity_limits": VelocityLimitCost(cfg.dt, cfg.max_velocity),
            "smoothness": SmoothnessCost(cfg.dt),
            "jerk": JerkCost(cfg.dt, cfg.jerk_norm),
            "goal": GoalCost(chain, cfg.goal_metric, cfg.goal_tolerance),
            "orientation": OrientationCost(chain, cfg.orientation_mode),
            "manipulability": ManipulabilityCost(chain),
        })

    def forward(self, q: torch.Tensor, scene: Scene, goal_position: torch.Tensor,
                goal_rotation: Optional[torch.Tensor] = None,
                raw_durations: Optional[torch.Tensor] = None,
                normalize: bool = False) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        extra = {
            "collision": (scene,),
            "smoothness": (raw_durations,),
            "goal": (goal_position,),
            "orientation": (goal_rotation,),
        }
        total = q.new_zeros(())
        stats: Dict[str, torch.Tensor] = {}
        for name, term in self.terms.items():
            weight = self.weights[name]
            if weight == 0.0:
                continue
            if name == "orientation" and goal_rotation is None:
                continue
            value = term(q, *extra.get(name, ()))
            stats[name] = value.detach()
            if normalize:
                value = value / value.detach().abs().clamp_min(1e-6)
            total = total + weight * value
        return total, stats
