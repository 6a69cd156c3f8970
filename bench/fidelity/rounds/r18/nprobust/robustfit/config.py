"""Configuration dataclasses for losses, penalties and solvers."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional, Tuple

LOSSES: Tuple[str, ...] = ("l2", "l1", "huber", "tukey", "cauchy", "logcosh", "quantile")
PENALTIES: Tuple[str, ...] = ("none", "l1", "l2", "elasticnet", "group")
METHODS: Tuple[str, ...] = ("irls", "gd", "fista")
SCALES: Tuple[str, ...] = ("mad", "iqr", "huber2", "fixed")


@dataclass
class LossConfig:
    name: str = "huber"
    delta: float = 1.345          # Huber threshold, 95% efficiency at the normal
    c: float = 4.685              # Tukey biweight tuning constant
    cauchy_c: float = 2.3849
    tau: float = 0.5              # quantile level for the pinball loss
    smoothing: float = 0.0        # > 0 gives a Huberized check loss
    eps: float = 1e-6             # floor on |r| in L1 / quantile IRLS weights

    def __post_init__(self):
        if self.name not in LOSSES:
            raise ValueError(f"unknown loss {self.name!r}; choose from {LOSSES}")
        if self.name == "quantile" and not 0.0 < self.tau < 1.0:
            raise ValueError("tau must lie in (0, 1)")
        if self.delta <= 0 or self.c <= 0 or self.cauchy_c <= 0:
            raise ValueError("tuning constants must be positive")
        if self.smoothing < 0:
            raise ValueError("smoothing must be non-negative")


@dataclass
class PenaltyConfig:
    name: str = "none"
    alpha: float = 0.0
    l1_ratio: float = 0.5
    groups: Optional[Tuple[Tuple[int, ...], ...]] = None

    def __post_init__(self):
        if self.name not in PENALTIES:
            raise ValueError(f"unknown penalty {self.name!r}")
        if self.alpha < 0:
            raise ValueError("alpha must be non-negative")
        if not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError("l1_ratio must lie in [0, 1]")
        if self.name == "group" and self.groups is None:
            raise ValueError("group penalty needs `groups`")


@dataclass
class SolverConfig:
    method: str = "irls"
    max_iter: int = 200
    tol: float = 1e-6
    lr: float = 0.1
    line_search: bool = True
    armijo_c: float = 1e-4
    backtrack: float = 0.5
    min_step: float = 1e-10
    accelerate: bool = True
    weight_floor: float = 1e-8
    max_grad_norm: Optional[float] = None
    scale_update: str = "mad"
    verbose: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}")
        if self.scale_update not in SCALES:
            raise ValueError(f"unknown scale estimate {self.scale_update!r}")
        if self.weight_floor <= 0:
            raise ValueError("weight_floor must be positive")
        if not 0.0 < self.backtrack < 1.0:
            raise ValueError("backtrack must lie in (0, 1)")


@dataclass
class FitConfig:
    loss: LossConfig = field(default_factory=LossConfig)
    penalty: PenaltyConfig = field(default_factory=PenaltyConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    fit_intercept: bool = True
    scale: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)
