"""Ranking losses for implicit feedback.

Each loss has ``forward(...)`` returning a scalar and ``backward()`` returning the
gradient with respect to the scores given to the last ``forward``.
"""

import numpy as np

from .functional import hinge, log_sigmoid, sigmoid, softmax, softplus, warp_rank_weight
from .metrics import dcg_discount, rank_positions
from .sampling import first_violators


class RankingLoss:
    def __init__(self, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"unsupported reduction {reduction!r}")
        self.reduction = reduction
        self._cache = None

    def _reduce(self, losses):
        return losses.mean() if self.reduction == "mean" else losses.sum()

    def _scale(self, n):
        return 1.0 / n if self.reduction == "mean" else 1.0


class BPRLoss(RankingLoss):
    """-log sigmoid(x_ui - x_uj) (Rendle et al., 2009); negatives (B,) or (B, N)."""

    def __init__(self, reduction="mean", stable=True, standardize=False):
        super().__init__(reduction)
        self.stable = stable
        self.standardize = standardize

    def forward(self, pos_scores, neg_scores):
        diff = (pos_scores[:, None] if neg_scores.ndim == 2 else pos_scores) - neg_scores
        scale = 1.0
        if self.standardize:
            scale = diff.std().item() + 1e-6
            diff = diff / scale
        if self.stable:
            losses = -log_sigmoid(diff)
        else:
            losses = -np.log(sigmoid(diff))
        self._cache = (diff, scale, neg_scores.ndim)
        return self._reduce(losses)

    def backward(self):
        diff, scale, ndim = self._cache
        g = -sigmoid(-diff) * self._scale(diff.size) / scale
        if ndim == 2:
            return g.sum(axis=1), -g
        return g, -g


class MarginRankingLoss(RankingLoss):
    """max(0, margin - x_ui + x_uj), or half its square."""

    def __init__(self, margin=1.0, squared=False, reduction="mean"):
        super().__init__(reduction)
        self.margin = margin
        self.squared = squared

    def forward(self, pos_scores, neg_scores):
        if neg_scores.ndim == 2:
            pos_scores = pos_scores[:, None]
        slack = self.margin - pos_scores + neg_scores
        active = slack > 0
        viol = np.where(active, slack, 0.0)
        losses = 0.5 * viol * viol if self.squared else viol
        self._cache = (viol, active)
        return self._reduce(losses)

    def backward(self):
        viol, active = self._cache
        g = (viol if self.squared else active.astype(np.float64)) * self._scale(viol.size)
        return (-g.sum(axis=1) if g.ndim == 2 else -g), g


class HardNegativeHingeLoss(RankingLoss):
    """Hinge on the k highest-scored of the sampled negatives of each user."""

    def __init__(self, k=5, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.k = k
        self.margin = margin

    def forward(self, pos_scores, neg_scores):
        k = min(self.k, neg_scores.shape[1])
        top = np.argsort(-neg_scores, axis=1)[:, :k]
        hard = np.take_along_axis(neg_scores, top, axis=1)
        viol = hinge(self.margin - pos_scores[:, None] + hard)
        self._cache = (top, viol > 0, neg_scores.shape)
        return self._reduce(viol.sum(axis=1))

    def backward(self):
        top, active, shape = self._cache
        g = active * self._scale(shape[0])
        dneg = np.zeros(shape)
        np.put_along_axis(dneg, top, g, axis=1)
        return -g.sum(axis=1), dneg


class WARPLoss(RankingLoss):
    """WARP (Weston et al., 2011) on negatives (B, M) given in the order they were drawn."""

    def __init__(self, n_items, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.n_items = n_items
        self.margin = margin

    def forward(self, pos_scores, neg_scores):
        first, n_trials, found = first_violators(pos_scores, neg_scores, self.margin)
        rows = np.arange(len(pos_scores))
        weight = np.where(found, warp_rank_weight(self.n_items, n_trials), 0.0)
        losses = weight * (self.margin - pos_scores + neg_scores[rows, first])
        self._cache = (weight, first, neg_scores.shape)
        return self._reduce(losses)

    def backward(self):
        weight, first, shape = self._cache
        g = weight * self._scale(shape[0])
        dneg = np.zeros(shape)
        dneg[np.arange(shape[0]), first] = g
        return -g, dneg


class WMRBLoss(RankingLoss):
    """Weighted margin-rank batch loss (Liu & Natarajan, 2017): log(1 + estimated rank)."""

    def __init__(self, n_items, margin=1.0, max_rank=None, reduction="mean"):
        super().__init__(reduction)
        self.n_items = n_items
        self.margin = margin
        self.max_rank = max_rank

    def forward(self, pos_scores, neg_scores):
        z = neg_scores.shape[1]
        viol = hinge(self.margin - pos_scores[:, None] + neg_scores)
        rank = (self.n_items / z) * viol.sum(axis=1)
        if self.max_rank is not None:
            rank = np.minimum(rank, self.max_rank)
        self._cache = (viol > 0, rank, z)
        return self._reduce(np.log1p(rank))

    def backward(self):
        active, rank, z = self._cache
        coef = (self.n_items / z) / (1.0 + rank) * self._scale(len(rank))
        if self.max_rank is not None:
            coef = np.where(rank < self.max_rank, coef, 0.0)
        dneg = coef[:, None] * active
        return -dneg.sum(axis=1), dneg


class BPRMaxLoss(RankingLoss):
    """BPR-max from GRU4Rec (Hidasi & Karatzoglou, 2018): BPR averaged under a softmax
    over the negatives, plus a score regulariser on the negatives."""

    def __init__(self, bpreg=1.0, eps=1e-24, reduction="mean"):
        super().__init__(reduction)
        self.bpreg = bpreg
        self.eps = eps

    def forward(self, pos_scores, neg_scores):
        w = softmax(neg_scores, axis=1)
        s = sigmoid(pos_scores[:, None] - neg_scores)
        inner = np.sum(w * s, axis=1)
        sq = np.sum(w * neg_scores ** 2, axis=1)
        self._cache = (w, s, inner, sq, neg_scores)
        return self._reduce(-np.log(inner + self.eps) + self.bpreg * sq)

    def backward(self):
        w, s, inner, sq, neg = self._cache
        scale = self._scale(len(inner))
        inv = 1.0 / (inner + self.eps)
        dpos = -inv * np.sum(w * s * (1.0 - s), axis=1)
        dneg = -inv[:, None] * w * (s * s - inner[:, None])
        dneg += self.bpreg * w * (neg ** 2 - sq[:, None] + 2.0 * neg)
        return dpos * scale, dneg * scale


class CosineContrastiveLoss:
    """SimpleX CCL (Mao et al., 2021): 1 - cos(u, i) + w * mean_j max(0, cos(u, j) - m)."""

    def __init__(self, margin=0.8, neg_weight=150.0):
        self.margin = margin
        self.neg_weight = neg_weight

    def forward(self, pos_cos, neg_cos):
        neg_term = hinge(neg_cos - self.margin)
        self._cache = (neg_term > 0, neg_cos.shape)
        return np.mean(1.0 - pos_cos + self.neg_weight * neg_term.mean(axis=1))

    def backward(self):
        active, (b, n) = self._cache
        return -np.ones(b) / b, self.neg_weight * active / (n * b)


class LambdaRankLoss:
    """Pairwise logistic loss on a candidate list, each pair weighted by the |delta NDCG|
    of swapping it in the current ranking (Burges, 2010)."""

    def forward(self, scores, labels):
        gains = (labels > 0).astype(np.float64)
        disc = dcg_discount(rank_positions(scores))
        ideal = np.sort(gains, axis=1)[:, ::-1]
        idcg = np.sum(ideal * dcg_discount(np.arange(gains.shape[1])), axis=1)
        idcg = np.maximum(idcg, 1e-10)
        pairs = gains[:, :, None] > gains[:, None, :]
        delta = np.abs((gains[:, :, None] - gains[:, None, :])
                       * (disc[:, :, None] - disc[:, None, :])) / idcg[:, None, None]
        diff = scores[:, :, None] - scores[:, None, :]
        n_pairs = max(int(pairs.sum()), 1)
        self._cache = (pairs * delta, diff, n_pairs)
        return np.sum(pairs * delta * softplus(-diff)) / n_pairs

    def backward(self):
        w, diff, n_pairs = self._cache
        g = -w * sigmoid(-diff) / n_pairs
        return g.sum(axis=2) - g.sum(axis=1)


def make_loss(config, n_items):
    name = config.loss
    if name == "bpr":
        return BPRLoss()
    if name == "hinge":
        return MarginRankingLoss(config.margin)
    if name == "hard_hinge":
        return HardNegativeHingeLoss(config.hard_k, config.margin)
    if name == "warp":
        return WARPLoss(n_items, config.margin)
    if name == "wmrb":
        return WMRBLoss(n_items, config.margin, config.max_rank)
    if name == "bpr_max":
        return BPRMaxLoss(config.bpr_max_reg)
    if name == "ccl":
        return CosineContrastiveLoss(config.ccl_margin, config.ccl_neg_weight)
    return LambdaRankLoss()
