"""Configuration dataclasses for the structured losses and the training loop."""
from __future__ import annotations

import dataclasses
from typing import Optional, Union


@dataclasses.dataclass(frozen=True)
class CRFConfig:
    num_tags: int
    use_start_end: bool = True
    reduction: str = "mean"
    normalize_by_length: bool = True
    entropy_weight: float = 0.0


@dataclasses.dataclass(frozen=True)
class SoftDTWConfig:
    gamma: float = 1.0
    distance: str = "sqeuclidean"  # "sqeuclidean" | "euclidean" | "cosine" | "minkowski"
    minkowski_p: float = 2.0
    normalize: bool = False  # use the soft-DTW divergence
    bandwidth: Optional[int] = None  # Sakoe-Chiba band radius
    max_cost: Optional[float] = None
    dilate_alpha: float = 1.0  # 1.0 = shape term only

    def __post_init__(self):
        if self.gamma < 0:
            raise ValueError(f"gamma must be non-negative, got {self.gamma}")
        if self.bandwidth is not None and self.bandwidth < 0:
            raise ValueError("bandwidth must be >= 0")


@dataclasses.dataclass(frozen=True)
class CTCConfig:
    blank_id: int = 0
    reduction: str = "mean"
    zero_infinity: bool = True
    from_logits: bool = True


@dataclasses.dataclass(frozen=True)
class HingeConfig:
    cost_scale: float = 1.0
    smoothing: float = 0.0  # 0.0 = hard max (SSVM); > 0 = softmax-margin
    hinge: str = "hard"  # "hard" | "smooth"
    margin: float = 1.0


@dataclasses.dataclass(frozen=True)
class RankingConfig:
    method: str = "neuralsort"  # "neuralsort" | "sinkhorn" | "pairwise"
    temperature: Union[float, str] = 1.0  # or "auto"
    ndcg_k: Optional[int] = 10
    sinkhorn_eps: float = 0.1
    sinkhorn_iters: int = 20
    hard: bool = False


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 1e-3
    warmup_steps: int = 500
    total_steps: int = 20_000
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    loss: str = "crf"  # "crf" | "hinge"
    ohem_ratio: float = 1.0
    log_every: int = 50
