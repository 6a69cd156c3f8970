"""Evaluation metrics for planned trajectories (logged, never differentiated)."""
from __future__ import annotations

from typing import Dict

import torch

from .geometry import Scene, scene_sdf
from .kinematics import SerialChain
from .utils import finite_difference


@torch.no_grad()
def min_clearance(chain: SerialChain, q: torch.Tensor, scene: Scene) -> torch.Tensor:
    centres, radii = chain.collision_spheres(q)
    sdf = scene_sdf(centres, scene) - radii
    return sdf.flatten(1).amin(dim=-1)


@torch.no_grad()
def goal_error(chain: SerialChain, q: torch.Tensor, goal_position: torch.Tensor) -> torch.Tensor:
    ee, _ = chain.end_effector_pose(q[..., -1, :])
    return torch.linalg.norm(ee - goal_position, dim=-1)


def summarize(chain: SerialChain, q: torch.Tensor, scene: Scene, goal_position: torch.Tensor,
              dt: float, tol: float = 0.01) -> Dict[str, float]:
    clearance = min_clearance(chain, q, scene)
    err = goal_error(chain, q, goal_position)
    success = (clearance > 0) & (err < tol)
    p10 = clearance.sort().values[int(0.1 * (clearance.numel() - 1))]
    return {
        "success_rate": success.float().mean().item(),
        "collision_rate": (clearance < 0).float().mean().item(),
        "min_clearance": clearance.min().item(),
        "p10_clearance": p10.item(),
        "goal_error": err.mean().item(),
        "max_jerk": finite_difference(q, dt, order=3).abs().amax().item(),
    }
