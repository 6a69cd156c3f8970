"""sparseattn: sparse and structured attention for PyTorch.

Sparse normalisers (sparsemax, entmax), their Fenchel-Young losses, top-k,
learned-temperature and LSH attention layers, and attention regularisers.
"""
from .attention import (
    LearnedTemperatureAttention,
    SparseMultiheadAttention,
    TopKAttention,
    normalize_scores,
)
from .config import AttentionConfig, LossConfig
from .functional import entmax15, entmax_bisect, get_mapping, sparsemax
from .losses import (
    AttentionDistillationLoss,
    Entmax15Loss,
    EntmaxBisectLoss,
    SparsemaxLoss,
    attention_alignment_loss,
)
from .lsh import LSHSelfAttention, hash_vectors
from .regularizers import (
    AttentionRegularizer,
    EntropyPenalty,
    coverage_penalty,
    head_agreement,
    shannon_entropy,
    tsallis_entropy,
)
from .training import SparseTagger, build_output_loss, train_step

__version__ = "0.3.1"
