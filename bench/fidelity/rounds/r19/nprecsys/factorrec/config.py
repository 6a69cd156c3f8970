"""Hyper-parameter containers."""

from dataclasses import dataclass
from typing import Optional

LOSSES = ("bpr", "hinge", "hard_hinge", "warp", "wmrb", "bpr_max", "ccl",
          "lambdarank")


@dataclass
class MFConfig:
    n_factors: int = 64
    loss: str = "bpr"
    negatives: str = "uniform"
    optimizer: str = "adagrad"
    learning_rate: float = 0.05
    lr_decay: float = 1.0
    adagrad_eps: float = 1e-6
    reg_user: float = 1e-4
    reg_item: float = 1e-4
    reg_bias: float = 1e-5
    l1_item: float = 0.0
    group_item: float = 0.0
    margin: float = 1.0
    hard_k: int = 5
    max_rank: Optional[float] = None
    ccl_margin: float = 0.8
    ccl_neg_weight: float = 150.0
    bpr_max_reg: float = 1.0
    use_bias: bool = True
    nonneg: bool = False
    max_norm: Optional[float] = None
    clip_grad: Optional[float] = 10.0
    init_std: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {LOSSES}")
        if self.negatives not in ("uniform", "popularity", "dns"):
            raise ValueError(f"unknown negative sampler {self.negatives!r}")
        if self.n_factors <= 0:
            raise ValueError("n_factors must be positive")
        if self.max_norm is not None and self.max_norm <= 0:
            raise ValueError("max_norm must be positive")


@dataclass
class ALSConfig:
    n_factors: int = 64
    alpha: float = 40.0
    confidence: str = "linear"
    log_eps: float = 1e-8
    reg: float = 0.01
    n_iters: int = 15
    cg_steps: int = 3
    use_cg: bool = True
    nonneg: bool = False
    init_std: float = 0.01
    seed: int = 0
    verbose: bool = False

