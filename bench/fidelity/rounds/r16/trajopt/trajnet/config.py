"""Configuration dataclasses for trajectory optimisation and imitation training."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class CostWeights:
    collision: float = 10.0
    self_collision: float = 5.0
    joint_limits: float = 1.0
    velocity_limits: float = 1.0
    smoothness: float = 0.1
    jerk: float = 0.01
    goal: float = 50.0
    orientation: float = 5.0
    manipulability: float = 0.0


@dataclass
class CollisionConfig:
    margin: float = 0.05
    smooth_temperature: Optional[float] = None   # None: hard min over obstacles
    cvar_fraction: float = 0.0                   # average of the worst steps (CVaR)
    densify: int = 0                             # spline knots for collision checks
    chomp: bool = False


@dataclass
class TrajOptConfig:
    horizon: int = 64
    dof: int = 7
    dt: float = 0.05
    max_velocity: float = 2.0
    joint_barrier: str = "log"      # "log" | "hinge"
    barrier_eps: float = 1e-4
    jerk_norm: str = "l2"           # "l2" | "l1" | "squared"
    goal_metric: str = "l2"         # "l2" | "squared" | "log"
    goal_tolerance: float = 0.0
    orientation_mode: str = "geodesic"  # "geodesic" | "log" | "quat"
    weights: CostWeights = field(default_factory=CostWeights)
    collision: CollisionConfig = field(default_factory=CollisionConfig)

    def __post_init__(self) -> None:
        if self.dt <= 0:
            raise ValueError(f"dt must be positive, got {self.dt}")
        if self.joint_barrier not in ("log", "hinge"):
            raise ValueError(f"unknown joint barrier {self.joint_barrier!r}")


@dataclass
class ImitationConfig:
    loss: str = "bc"                # "bc" | "dtw" | "soft_dtw" | "wta" | "nll" | "phase"
    huber_beta: float = 0.05
    soft_dtw_gamma: float = 0.1
    log_std_bounds: Tuple[float, float] = (-5.0, 2.0)
    nll_beta: float = 0.5


@dataclass
class TrainConfig:
    lr: float = 3e-4
    grad_clip: float = 1.0
    unroll_steps: int = 5
    unroll_lr: float = 0.05
    unroll_tol: float = 1e-4
    imitation_weight: float = 1.0
    cost_weight: float = 0.1
    collision_boost: float = 4.0
    collision_tolerance: float = 0.1
    normalize_terms: bool = True
    distill_refined: bool = False
    trajopt: TrajOptConfig = field(default_factory=TrajOptConfig)
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
