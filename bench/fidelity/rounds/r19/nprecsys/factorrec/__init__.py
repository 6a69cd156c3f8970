"""factorrec: matrix factorisation for implicit-feedback recommendation in plain numpy.

Models keep their parameters as numpy arrays and every loss ships a hand-written
``backward``; the training steps chain those gradients through the scoring model.
"""

from .als import ImplicitALS, implicit_loss
from .config import ALSConfig, MFConfig
from .losses import (BPRLoss, BPRMaxLoss, CosineContrastiveLoss, HardNegativeHingeLoss,
                     LambdaRankLoss, MarginRankingLoss, WARPLoss, WMRBLoss, make_loss)
from .metrics import auc, evaluate, mean_reciprocal_rank, ndcg_at_k, recall_at_k
from .model import MatrixFactorization, NonNegativeMF
from .sampling import PopularitySampler, UniformSampler
from .train import Adagrad, SGD, fit, listwise_step, ranking_step, warp_epoch

__version__ = "0.3.1"
