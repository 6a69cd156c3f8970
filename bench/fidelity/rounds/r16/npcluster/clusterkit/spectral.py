"""Graph and spectral objectives optimised directly over embeddings or assignments."""
from __future__ import annotations

import numpy as np

from .config import SpectralConfig
from .kmeans import SoftKMeans
from .utils import (Adam, median_heuristic, pairwise_sq_dists, softmax,
                    softmax_backward, unit_rows)


def gaussian_affinity(X, bandwidth=None, n_neighbors=None):
    """Symmetric (optionally kNN-sparsified) Gaussian affinity of the data."""
    if bandwidth is None:
        bandwidth = median_heuristic(X)
    W = np.exp(-pairwise_sq_dists(X) / (2.0 * bandwidth ** 2))
    np.fill_diagonal(W, 0.0)
    if n_neighbors is not None and n_neighbors < W.shape[0] - 1:
        idx = np.argpartition(-W, n_neighbors, axis=1)[:, :n_neighbors]
        mask = np.zeros(W.shape, dtype=bool)
        np.put_along_axis(mask, idx, True, axis=1)
        W = np.where(mask | mask.T, W, 0.0)
    return W


def graph_laplacian(W, normalized=True):
    deg = W.sum(axis=1)
    if not normalized:
        return np.diag(deg) - W, deg
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    L = np.eye(W.shape[0]) - inv_sqrt[:, None] * W * inv_sqrt[None, :]
    return L, deg


def spectral_embedding(L, n_components):
    """Reference solution: the bottom eigenvectors of the Laplacian."""
    evals, evecs = np.linalg.eigh(L)
    order = np.argsort(evals)[:n_components]
    return evecs[:, order]


def eigenmap_objective(Y, L, ortho_weight=1.0):
    """tr(Y^T L Y) + w * ||Y^T Y - I||_F^2 and its gradient."""
    k = Y.shape[1]
    LY = L @ Y
    gram = Y.T @ Y - np.eye(k)
    value = np.sum(Y * LY) + ortho_weight * np.sum(gram * gram)
    grad = 2.0 * LY + 4.0 * ortho_weight * (Y @ gram)
    return value, grad


def orthonormalize(Y):
    """SpectralNet's orthogonality layer: a map R with (Y R)^T (Y R) / n = I."""
    n = Y.shape[0]
    chol = np.linalg.cholesky(Y.T @ Y / n)
    return np.linalg.inv(chol).T


def spectralnet_objective(Y, W):
    """sum_ij W_ij ||z_i - z_j||^2 / n^2 with z = Y R, R held fixed in the gradient."""
    n = Y.shape[0]
    R = orthonormalize(Y)
    Z = Y @ R
    deg = W.sum(axis=1)
    LZ = deg[:, None] * Z - W @ Z
    value = 2.0 * np.sum(Z * LZ) / n ** 2
    grad = 4.0 * (LZ @ R.T) / n ** 2
    return value, grad


def soft_ncut(logits, W):
    """Relaxed normalized cut  K - sum_k assoc_k / vol_k  over soft assignments."""
    S = softmax(logits, axis=1)
    deg = W.sum(axis=1)
    WS = W @ S
    assoc = np.sum(S * WS, axis=0)
    vol = deg @ S
    ratio = assoc / vol
    value = S.shape[1] - ratio.sum()
    g_S = -(2.0 * WS - deg[:, None] * ratio[None, :]) / vol[None, :]
    return value, softmax_backward(S, g_S, axis=1)


def spherical_contrastive(Y, pos_i, pos_j, temperature=0.5):
    """Spectral contrastive loss on L2-normalised embeddings.

    -2 mean_(i,j)+ <z_i, z_j> / t + mean_(a,b) (<z_a, z_b> / t)^2
    """
    n = Y.shape[0]
    norms = np.linalg.norm(Y, axis=1, keepdims=True)
    Z = Y / norms
    G = Z @ Z.T / temperature
    n_pos = len(pos_i)
    value = -2.0 * np.sum(G[pos_i, pos_j]) / n_pos + np.sum(G * G) / n ** 2
    g_Z = 4.0 * (G @ Z) / (temperature * n ** 2)
    np.add.at(g_Z, pos_i, -2.0 * Z[pos_j] / (temperature * n_pos))
    np.add.at(g_Z, pos_j, -2.0 * Z[pos_i] / (temperature * n_pos))
    radial = np.sum(g_Z * Z, axis=1, keepdims=True)
    grad = (g_Z - radial * Z) / norms
    return value, grad


class SpectralClustering:
    """Learn a spectral embedding by gradient descent, then cluster it."""

    def __init__(self, config: SpectralConfig | None = None, **overrides):
        self.config = config or SpectralConfig(**overrides)

    def fit(self, X, rng=None):
        cfg = self.config
        rng = np.random.default_rng(rng)
        W = gaussian_affinity(X, cfg.bandwidth, cfg.n_neighbors)
        L, _ = graph_laplacian(W, cfg.normalized)
        params = {"Y": 0.1 * rng.standard_normal((X.shape[0], cfg.n_clusters))}
        opt = Adam.from_config(cfg.optimizer)
        self.history_ = []
        for _ in range(cfg.max_iter):
            value, grad = eigenmap_objective(params["Y"], L, cfg.orthogonality_weight)
            opt.step(params, {"Y": grad})
            self.history_.append(value.item())
        self.embedding_ = unit_rows(params["Y"]) if cfg.normalized else params["Y"]
        km = SoftKMeans(n_clusters=cfg.n_clusters, temperature=0.0, min_temperature=0.0, seed=0)
        self.labels_ = km.fit(self.embedding_).predict(self.embedding_)
        return self
