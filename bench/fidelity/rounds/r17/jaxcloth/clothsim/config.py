"""Configuration dataclasses for cloth simulation and system identification."""

from __future__ import annotations

import dataclasses
from typing import Tuple


@dataclasses.dataclass(frozen=True)
class ClothConfig:
    """Geometry and material parameters of a rectangular cloth patch."""

    rows: int = 16
    cols: int = 16
    width: float = 1.0
    height: float = 1.0
    density: float = 0.2  # kg / m^2
    stretch_stiffness: float = 800.0
    shear_stiffness: float = 200.0
    bend_stiffness: float = 2e-3
    damping: float = 0.02
    max_strain: float = 0.1
    pin_corners: bool = True

    def __post_init__(self):
        if self.rows < 2 or self.cols < 2:
            raise ValueError("a cloth grid needs at least 2x2 vertices")

    @property
    def spacing(self) -> Tuple[float, float]:
        return self.width / (self.cols - 1), self.height / (self.rows - 1)


@dataclasses.dataclass(frozen=True)
class ContactConfig:
    """Penalty contact against static obstacles and the cloth itself."""

    stiffness: float = 1e4
    friction: float = 0.3
    thickness: float = 5e-3
    ground_height: float = -1.0
    smooth_contact: bool = True
    self_collision: bool = False
    self_radius: float = 0.01
    friction_regularization: float = 1e-3


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Time integration settings."""

    dt: float = 2e-3
    substeps: int = 4
    num_steps: int = 200
    gravity: Tuple[float, float, float] = (0.0, -9.81, 0.0)
    max_velocity: float = 20.0
    air_drag: float = 0.0
    truncate_every: int = 0
    max_penetration: float = 2e-2
    min_dt: float = 1e-5

    def __post_init__(self):
        if self.dt <= 0:
            raise ValueError(f"dt must be positive, got {self.dt}")
        if self.substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {self.substeps}")

    @property
    def substep_dt(self) -> float:
        return self.dt / self.substeps


@dataclasses.dataclass
class SysIdConfig:
    """Weights and optimiser settings for fitting simulation parameters."""

    learning_rate: float = 3e-2
    num_iters: int = 300
    grad_clip: float = 1.0
    position_weight: float = 1.0
    chamfer_weight: float = 0.0
    energy_weight: float = 0.0
    penetration_weight: float = 0.0
    noise_weight: float = 0.0
    prior_weight: float = 1e-3
    robust_delta: float = 0.0
    worst_k: int = 0
    reduction: str = "mean"
    freeze_damping: bool = False
    fit_time_offset: bool = True
    max_time_offset: float = 0.05
    log_every: int = 10
