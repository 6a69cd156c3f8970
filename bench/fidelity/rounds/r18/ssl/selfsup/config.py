"""Hyper-parameter containers for the objectives in :mod:`selfsup`."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class SimCLRConfig:
    temperature: float = 0.1
    normalize: bool = True
    gather_distributed: bool = False
    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


@dataclass
class BYOLConfig:
    base_momentum: float = 0.996
    final_momentum: float = 1.0
    symmetric: bool = True
    track_collapse: bool = False


@dataclass
class VICRegConfig:
    sim_coeff: float = 25.0
    std_coeff: float = 25.0
    cov_coeff: float = 1.0
    gamma: float = 1.0
    eps: float = 1e-4


@dataclass
class BarlowTwinsConfig:
    lambd: float = 5e-3
    scale_loss: float = 1.0
    eps: float = 1e-5


@dataclass
class DINOConfig:
    out_dim: int = 65536
    ncrops: int = 10
    student_temp: float = 0.1
    warmup_teacher_temp: float = 0.04
    teacher_temp: float = 0.07
    warmup_teacher_temp_epochs: int = 30
    nepochs: int = 100
    center_momentum: float = 0.9
    koleo_weight: float = 0.0
    freeze_last_layer: int = 1

    def teacher_temp_at(self, epoch: int) -> float:
        if epoch < self.warmup_teacher_temp_epochs:
            frac = epoch / max(self.warmup_teacher_temp_epochs, 1)
            return self.warmup_teacher_temp + frac * (self.teacher_temp - self.warmup_teacher_temp)
        return self.teacher_temp


@dataclass
class DistillConfig:
    kind: str = "kd"  # "kd" | "soft" | "dkd"
    temperature: float = 4.0
    alpha: float = 0.9
    dkd_alpha: float = 1.0
    dkd_beta: float = 8.0
    at_p: float = 2.0
    rkd_distance_weight: float = 25.0
    rkd_angle_weight: float = 50.0


def cosine_schedule(base: float, final: float, step: int, total_steps: int) -> float:
    """Cosine ramp from ``base`` to ``final`` over ``total_steps``."""
    progress = min(step / max(total_steps, 1), 1.0)
    return final - (final - base) * (math.cos(math.pi * progress) + 1) / 2
