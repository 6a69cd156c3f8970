"""Configuration dataclasses for the clustering and embedding objectives."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class OptimizerConfig:
    learning_rate: float = 1e-2
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    max_grad_norm: Optional[float] = None


@dataclass
class SoftKMeansConfig:
    n_clusters: int = 8
    temperature: float = 1.0
    anneal_rate: float = 0.97
    min_temperature: float = 0.05
    distance: str = "sqeuclidean"     # "sqeuclidean" or "euclidean"
    reduction: str = "mean"           # "mean" or "sum"
    balance_weight: float = 0.0
    anchor_weight: float = 0.0
    max_iter: int = 300
    tol: float = 1e-6
    seed: Optional[int] = None
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class GMMConfig:
    n_components: int = 4
    covariance_type: str = "diag"     # "diag" or "spherical"
    min_variance: float = 1e-6
    min_weight: float = 0.0
    entropy_weight: float = 0.0
    hard_assignment: bool = False
    max_iter: int = 500
    tol: float = 1e-7
    seed: Optional[int] = None
    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(learning_rate=5e-2))


@dataclass
class TSNEConfig:
    n_components: int = 2
    perplexity: float = 30.0
    degrees_of_freedom: float = 1.0
    early_exaggeration: float = 12.0
    exaggeration_iter: int = 250
    learning_rate: float = 200.0
    momentum: Tuple[float, float] = (0.5, 0.8)
    min_gain: float = 0.01
    max_iter: int = 1000
    n_iter_without_progress: int = 300
    min_grad_norm: float = 1e-7
    seed: Optional[int] = None


@dataclass
class SpectralConfig:
    n_clusters: int = 4
    n_neighbors: Optional[int] = 10
    bandwidth: Optional[float] = None
    normalized: bool = True
    orthogonality_weight: float = 1.0
    max_iter: int = 200
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class RobustConfig:
    n_clusters: int = 4
    loss: str = "huber"   # "huber", "tukey", "kmedians", "cityblock", "trimmed", "noise"
    delta: float = 1.345
    tukey_c: float = 4.685
    trim_fraction: float = 0.1
    scale: str = "mad"                # "mad" or "fixed"
    outlier_penalty: float = 1.0
    eps: float = 1e-8
    max_iter: int = 200
    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(learning_rate=5e-2))
