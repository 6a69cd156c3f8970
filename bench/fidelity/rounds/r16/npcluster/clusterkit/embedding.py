"""Neighbour-embedding objectives (t-SNE, UMAP); ``(value, grad)`` wrt the embedding Y."""
from __future__ import annotations

import numpy as np

from .config import TSNEConfig
from .utils import EPS, check_random_state, pairwise_dists, pairwise_sq_dists


# --------------------------------------------------------------------------- t-SNE

def _binary_search_perplexity(sq_dists, perplexity, tol=1e-5, max_steps=100):
    """Conditional affinities p_{j|i} whose entropy matches ``log(perplexity)``."""
    n = sq_dists.shape[0]
    P = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):
        d = np.delete(sq_dists[i], i)
        beta, lo, hi = 1.0, -np.inf, np.inf
        for _ in range(max_steps):
            p = np.exp(-d * beta)
            sum_p = max(p.sum(), EPS)
            p = p / sum_p
            h = np.log(sum_p) + beta * np.sum(d * p)
            gap = h - target
            if np.abs(gap) <= tol:
                break
            if gap > 0:
                lo = beta
                beta = beta * 2.0 if hi == np.inf else (beta + hi) / 2.0
            else:
                hi = beta
                beta = beta / 2.0 if lo == -np.inf else (beta + lo) / 2.0
        P[i, np.arange(n) != i] = p
    return P


def joint_probabilities(X, perplexity):
    """Symmetrised input affinities P (computed once from the data)."""
    cond = _binary_search_perplexity(pairwise_sq_dists(X), perplexity)
    P = cond + cond.T
    return np.maximum(P / max(P.sum(), EPS), EPS)


def kl_divergence(Y, P, degrees_of_freedom=1.0, compute_error=True):
    """KL(P || Q) for a Student-t output kernel, and its gradient."""
    dist = pairwise_sq_dists(Y)
    dist /= degrees_of_freedom
    dist += 1.0
    dist **= (degrees_of_freedom + 1.0) / -2.0
    np.fill_diagonal(dist, 0.0)
    Q = np.maximum(dist / np.sum(dist), EPS)
    if compute_error:
        kl = np.sum(P * np.log(np.maximum(P, EPS) / Q))
    else:
        kl = np.nan
    PQd = (P - Q) * dist
    c = 2.0 * (degrees_of_freedom + 1.0) / degrees_of_freedom
    grad = c * (PQd.sum(axis=1)[:, None] * Y - PQd @ Y)
    return kl, grad


def gradient_descent(objective, p0, it, n_iter, momentum, learning_rate, min_gain=0.01,
                     min_grad_norm=1e-7, n_iter_without_progress=300, args=()):
    """Momentum gradient descent with delta-bar-delta gains (van der Maaten)."""
    p = p0.copy()
    update = np.zeros_like(p)
    gains = np.ones_like(p)
    error = best_error = np.finfo(float).max
    best_iter = i = it
    for i in range(it, n_iter):
        error, grad = objective(p, *args)
        inc = update * grad < 0.0
        gains[inc] += 0.2
        gains[~inc] *= 0.8
        np.clip(gains, min_gain, np.inf, out=gains)
        grad = grad * gains
        update = momentum * update - learning_rate * grad
        p += update
        grad_norm = np.linalg.norm(grad)
        if error < best_error:
            best_error, best_iter = error, i
        elif i - best_iter > n_iter_without_progress:
            break
        if grad_norm <= min_grad_norm:
            break
    return p, error, i


class TSNE:
    def __init__(self, config: TSNEConfig | None = None, **overrides):
        self.config = config or TSNEConfig(**overrides)
        self.kl_divergence_ = None

    def fit_transform(self, X):
        cfg = self.config
        rng = check_random_state(cfg.seed)
        P = joint_probabilities(X, cfg.perplexity)
        Y = 1e-4 * rng.standard_normal((X.shape[0], cfg.n_components))
        common = dict(learning_rate=cfg.learning_rate, min_gain=cfg.min_gain,
                      min_grad_norm=cfg.min_grad_norm,
                      n_iter_without_progress=cfg.n_iter_without_progress)
        Y, _, it = gradient_descent(kl_divergence, Y, 0, cfg.exaggeration_iter,
                                    cfg.momentum[0], args=(cfg.early_exaggeration * P,
                                                           cfg.degrees_of_freedom), **common)
        Y, kl, _ = gradient_descent(kl_divergence, Y, it + 1, cfg.max_iter, cfg.momentum[1],
                                    args=(P, cfg.degrees_of_freedom), **common)
        self.kl_divergence_ = kl
        self.embedding_ = Y
        return Y


# --------------------------------------------------------------------------- UMAP

def fuzzy_knn_graph(X, n_neighbors):
    """Directed kNN edges with smooth-kNN membership strengths (data only)."""
    n = X.shape[0]
    D = pairwise_dists(X)
    idx = np.argsort(D, axis=1)[:, 1:n_neighbors + 1]
    knn_d = np.take_along_axis(D, idx, axis=1)
    rho = knn_d[:, 0]
    sigma = np.maximum(knn_d.mean(axis=1) - rho, 1e-3)
    w = np.exp(-np.maximum(knn_d - rho[:, None], 0.0) / sigma[:, None])
    return np.repeat(np.arange(n), n_neighbors), idx.ravel(), w.ravel()


def umap_kernel(sq_dist, a, b):
    """Output similarity 1 / (1 + a d^{2b}) written on squared distances."""
    return 1.0 / (1.0 + a * sq_dist ** b)


def umap_cross_entropy(Y, heads, tails, weights, neg_heads, neg_tails, a, b,
                       repulsion=1.0, eps=1e-4):
    """Fuzzy-set cross-entropy with negative sampling, and its gradient."""
    diff = Y[heads] - Y[tails]
    sq = np.sum(diff * diff, axis=1)
    q = umap_kernel(sq, a, b)
    attract = -np.sum(weights * np.log(q))

    ndiff = Y[neg_heads] - Y[neg_tails]
    nsq = np.sum(ndiff * ndiff, axis=1)
    nq = umap_kernel(nsq, a, b)
    repel = -repulsion * np.sum(np.log(1.0 - nq + eps))

    coef = 2.0 * a * b * sq ** (b - 1.0) * q
    g_pos = (weights * coef)[:, None] * diff
    rep_coef = 2.0 * repulsion * b * nq / (0.001 + nsq)
    g_neg = -rep_coef[:, None] * ndiff

    grad = np.zeros_like(Y)
    np.add.at(grad, heads, g_pos)
    np.add.at(grad, tails, -g_pos)
    np.add.at(grad, neg_heads, g_neg)
    np.add.at(grad, neg_tails, -g_neg)
    return attract + repel, grad
