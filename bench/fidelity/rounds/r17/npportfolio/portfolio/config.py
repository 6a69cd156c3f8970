"""Configuration dataclasses for cost models, risk settings and solvers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class CostConfig:
    """Trading cost model; rates are per unit of traded weight."""

    proportional: float = 10e-4
    quadratic: float = 0.0
    impact: float = 0.0
    impact_exponent: float = 1.5
    fixed_fee: float = 0.0
    min_trade: float = 1e-4
    no_trade_band: float = 0.0
    lot_size: Optional[float] = None
    smoothing: float = 0.0


@dataclass
class RiskConfig:
    risk_aversion: float = 1.0
    cvar_level: float = 0.95
    drawdown_limit: float = 0.2
    drawdown_penalty: float = 10.0
    periods_per_year: int = 252
    risk_free: float = 0.0

    def __post_init__(self):
        if not 0.0 < self.cvar_level < 1.0:
            raise ValueError("cvar_level must lie in (0, 1)")


@dataclass
class OptimizerConfig:
    step_size: float = 0.05
    max_iter: int = 500
    tol: float = 1e-8
    projection: str = "simplex"
    lower: float = 0.0
    upper: float = 1.0
    budget: float = 1.0
    backtracking: bool = True
    shrink: float = 0.5
    armijo: float = 1e-4
    max_backtracks: int = 30

    def __post_init__(self):
        if self.projection not in ("simplex", "box", "capped_simplex", "l1_ball"):
            raise ValueError(f"unknown projection {self.projection!r}")
        if self.lower > self.upper:
            raise ValueError("lower bound exceeds upper bound")


@dataclass
class PolicyConfig:
    temperature: float = 1.0
    output: str = "softmax"  # "softmax", "sparsemax" or "long_short"
    learning_rate: float = 1e-2
    grad_clip: Optional[float] = 5.0
    vol_target: Optional[float] = None
    periods_per_year: int = 252
    eps: float = 1e-8
    seed: int = 0
