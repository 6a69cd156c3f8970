"""Latent-factor scoring models with hand-written backward passes."""

import numpy as np

from .config import MFConfig
from .functional import l2_normalize


class MatrixFactorization:
    """score(u, i) = <p_u, q_i> + b_i.

    A user bias is omitted because it cancels in every ranking loss.
    """

    def __init__(self, n_users, n_items, config=None):
        self.config = config if config is not None else MFConfig()
        self.n_users, self.n_items = n_users, n_items
        rng = np.random.default_rng(self.config.seed)
        k = self.config.n_factors
        scale = self.config.init_std / np.sqrt(k)
        self.user_factors = rng.normal(0.0, scale, size=(n_users, k))
        self.item_factors = rng.normal(0.0, scale, size=(n_items, k))
        self.item_bias = np.zeros(n_items)

    def params(self):
        return {"user_factors": self.user_factors, "item_factors": self.item_factors,
                "item_bias": self.item_bias}

    def load(self, state):
        for name, value in state.items():
            getattr(self, name)[...] = value

    def user_vectors(self, users):
        return self.user_factors[users]

    def item_vectors(self, items):
        return self.item_factors[items]

    def score(self, users, items):
        """Scores of users (B,) against items (B,) or (B, N); scalars also work."""
        u = self.user_vectors(users)
        v = self.item_vectors(items)
        if v.ndim > u.ndim:
            u = np.expand_dims(u, -2)
        s = np.sum(u * v, axis=-1)
        if self.config.use_bias:
            s = s + self.item_bias[items]
        return s

    def score_all(self, users):
        s = self.user_vectors(users) @ self.item_vectors(np.arange(self.n_items)).T
        if self.config.use_bias:
            s = s + self.item_bias[None, :]
        return s

    def backward(self, users, items, dscore):
        """Row gradients of sum(dscore * score(users, items))."""
        dscore = np.asarray(dscore, dtype=np.float64)
        u = self.user_vectors(users)
        v = self.item_vectors(items)
        g = dscore[..., None]
        if v.ndim > u.ndim:
            grad_u = np.sum(g * v, axis=-2)
            grad_v = g * np.expand_dims(u, -2)
        else:
            grad_u = g * v
            grad_v = g * u
        grad_b = dscore if self.config.use_bias else np.zeros_like(dscore)
        return grad_u, grad_v, grad_b

    def penalty(self, users, items):
        cfg = self.config
        u = self.user_factors[users]
        v = self.item_factors[items]
        pen = 0.5 * cfg.reg_user * np.sum(u * u) + 0.5 * cfg.reg_item * np.sum(v * v)
        if cfg.use_bias:
            pen += 0.5 * cfg.reg_bias * np.sum(self.item_bias[items] ** 2)
        if cfg.l1_item > 0:
            pen += cfg.l1_item * np.sum(np.abs(v))
        if cfg.group_item > 0:
            pen += cfg.group_item * np.sum(np.sum(v * v, axis=-1) ** 0.5)
        return pen

    def penalty_grad(self, users, items):
        cfg = self.config
        u = self.user_factors[users]
        v = self.item_factors[items]
        grad_u = cfg.reg_user * u
        grad_v = cfg.reg_item * v
        if cfg.l1_item > 0:
            grad_v = grad_v + cfg.l1_item * np.sign(v)
        if cfg.group_item > 0:
            norms = np.sqrt(np.sum(v * v, axis=-1, keepdims=True)) + 1e-12
            grad_v = grad_v + cfg.group_item * v / norms
        grad_b = cfg.reg_bias * self.item_bias[items]
        return grad_u, grad_v, grad_b

    def similar_items(self, item, k=10):
        emb = l2_normalize(self.item_vectors(np.arange(self.n_items)))
        sims = emb @ emb[item]
        sims[item] = -np.inf
        return np.argsort(-sims)[:k]


class NonNegativeMF(MatrixFactorization):
    """Factors are the positive part of unconstrained parameters (rectified factors),
    which keeps scores additive and the item embeddings interpretable."""

    def user_vectors(self, users):
        return np.maximum(self.user_factors[users], 0.0)

    def item_vectors(self, items):
        return np.maximum(self.item_factors[items], 0.0)

    def backward(self, users, items, dscore):
        grad_u, grad_v, grad_b = super().backward(users, items, dscore)
        grad_u = grad_u * (self.user_factors[users] > 0)
        grad_v = grad_v * (self.item_factors[items] > 0)
        return grad_u, grad_v, grad_b
