"""Configuration objects for sparse attention layers, losses and training."""
from dataclasses import dataclass
from typing import Optional

MAPPINGS = ("softmax", "sparsemax", "entmax15", "entmax_bisect")


@dataclass
class AttentionConfig:
    d_model: int = 512
    n_heads: int = 8
    dropout: float = 0.1
    mapping: str = "entmax15"
    alpha: float = 1.5
    learn_alpha: bool = False
    topk: Optional[int] = None
    learn_temperature: bool = False
    max_logit_scale: float = 100.0
    min_temperature: float = 0.05
    n_buckets: int = 0
    n_hashes: int = 4
    chunk_size: int = 64
    causal: bool = False

    def __post_init__(self):
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}"
            )
        if self.mapping not in MAPPINGS:
            raise ValueError(f"mapping must be one of {MAPPINGS}, got {self.mapping!r}")
        if self.alpha <= 1.0:
            raise ValueError("entmax alpha must be > 1")
        if self.min_temperature <= 0:
            raise ValueError("min_temperature must be positive")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class LossConfig:
    kind: str = "sparsemax"
    alpha: float = 1.5
    label_smoothing: float = 0.0
    ignore_index: int = -100
    reduction: str = "mean"
    entropy_weight: float = 0.0
    entropy_target: Optional[float] = None
    anneal_entropy_target: Optional[float] = None
    entropy_kind: str = "shannon"
    tsallis_q: float = 2.0
    diversity_weight: float = 0.0
    coverage_weight: float = 0.0
    alignment_weight: float = 0.0
    balance_regularizer: bool = False
    grad_clip: float = 1.0

