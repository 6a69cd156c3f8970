"""Robust centroid objectives: M-estimators, k-medians and trimmed k-means.

All objectives assign each sample to its nearest centroid and return
``(value, grad)`` with respect to the centroids.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from .config import RobustConfig
from .kmeans import kmeans_plusplus
from .utils import Adam, check_random_state, pairwise_sq_dists

MAD_TO_STD = 1.4826


def robust_scale(residuals, method="mad", eps=1e-8):
    """Scale of the residuals (normalised MAD), returned as a Python float."""
    if method == "fixed":
        return 1.0
    med = np.median(residuals)
    dev = np.abs(residuals - med)
    scale = MAD_TO_STD * np.median(dev)
    if scale < eps:
        scale = np.mean(residuals) + eps
    return scale.item()


def huber_rho(u, delta):
    """Huber loss of non-negative standardised residuals and its IRLS weight psi(u)/u."""
    inlier = u <= delta
    rho = np.where(inlier, 0.5 * u ** 2, delta * (u - 0.5 * delta))
    weight = np.where(inlier, 1.0, delta / np.maximum(u, 1e-12))
    return rho, weight


def tukey_rho(u, c):
    """Tukey biweight loss and its IRLS weight; constant beyond ``c``."""
    inside = u < c
    t = 1.0 - (u / c) ** 2
    rho = np.where(inside, (c ** 2 / 6.0) * (1.0 - t ** 3), c ** 2 / 6.0)
    weight = np.where(inside, t ** 2, 0.0)
    return rho, weight


def m_estimator_objective(X, centroids, loss="huber", delta=1.345, c=4.685,
                          scale="mad", eps=1e-8):
    n = X.shape[0]
    d2 = pairwise_sq_dists(X, centroids)
    assign = np.argmin(d2, axis=1)
    r = np.sqrt(d2[np.arange(n), assign] + eps)
    s = robust_scale(r, scale, eps)
    u = r / s
    if loss == "huber":
        rho, weight = huber_rho(u, delta)
    elif loss == "tukey":
        rho, weight = tukey_rho(u, c)
    else:
        raise ValueError(f"unknown M-estimator {loss!r}")
    value = s ** 2 * rho.mean()
    diff = centroids[assign] - X
    grad = np.zeros_like(centroids)
    np.add.at(grad, assign, weight[:, None] * diff / n)
    return value, grad


def kmedians_objective(X, centroids):
    """Mean Euclidean distance to the nearest centroid (geometric k-medians)."""
    n = X.shape[0]
    D = cdist(X, centroids)
    assign = D.argmin(axis=1)
    r = D[np.arange(n), assign]
    diff = centroids[assign] - X
    grad = np.zeros_like(centroids)
    np.add.at(grad, assign, diff / r[:, None])
    return r.mean(), grad / n


def cityblock_kmedians_objective(X, centroids):
    """Mean L1 distance to the nearest centroid; coordinate-wise medians at the optimum."""
    n = X.shape[0]
    diff = centroids[None, :, :] - X[:, None, :]
    D = np.abs(diff).sum(axis=2)
    assign = D.argmin(axis=1)
    value = D[np.arange(n), assign].mean()
    sub = np.sign(diff[np.arange(n), assign])
    grad = np.zeros_like(centroids)
    np.add.at(grad, assign, sub / n)
    return value, grad


def trimmed_kmeans_objective(X, centroids, trim_fraction=0.1):
    """Inertia of the ``(1 - trim_fraction) n`` best-fitting samples."""
    n = X.shape[0]
    h = int(np.floor((1.0 - trim_fraction) * n))
    if h < 1:
        raise ValueError("trim_fraction leaves no samples")
    d2 = pairwise_sq_dists(X, centroids)
    nearest = d2.min(axis=1)
    assign = d2.argmin(axis=1)
    value = np.sort(nearest)[:h].sum()
    keep = np.argpartition(nearest, h - 1)[:h]
    grad = np.zeros_like(centroids)
    np.add.at(grad, assign[keep], 2.0 * (centroids[assign[keep]] - X[keep]))
    return value / h, grad / h


def noise_cluster_objective(X, centroids, radius, outlier_penalty=1.0):
    """Samples farther than ``radius`` from every centroid join a noise cluster."""
    n = X.shape[0]
    d2 = pairwise_sq_dists(X, centroids)
    nearest = np.min(d2, axis=1)
    assign = np.argmin(d2, axis=1)
    inlier = nearest <= radius ** 2
    n_in = np.count_nonzero(inlier)
    denom = n_in if n_in > 0 else 1
    value = nearest[inlier].sum() / denom + outlier_penalty * (n - n_in) / n
    grad = np.zeros_like(centroids)
    a = assign[inlier]
    np.add.at(grad, a, 2.0 * (centroids[a] - X[inlier]) / denom)
    return value, grad


class RobustKMeans:
    """Centroid clustering under a robust loss, fitted with Adam."""

    def __init__(self, config: RobustConfig | None = None, **overrides):
        self.config = config or RobustConfig(**overrides)
        self.history_ = []

    def forward(self, X, centroids):
        cfg = self.config
        if cfg.loss in ("huber", "tukey"):
            return m_estimator_objective(X, centroids, cfg.loss, cfg.delta, cfg.tukey_c,
                                         cfg.scale, cfg.eps)
        if cfg.loss == "kmedians":
            return kmedians_objective(X, centroids)
        if cfg.loss == "cityblock":
            return cityblock_kmedians_objective(X, centroids)
        if cfg.loss == "trimmed":
            return trimmed_kmeans_objective(X, centroids, cfg.trim_fraction)
        if cfg.loss == "noise":
            radius = 3.0 * np.sqrt(X.var(axis=0).sum())
            return noise_cluster_objective(X, centroids, radius, cfg.outlier_penalty)
        raise ValueError(f"unknown robust loss {cfg.loss!r}")

    def fit(self, X, seed=None):
        cfg = self.config
        params = {"centroids": kmeans_plusplus(X, cfg.n_clusters, check_random_state(seed))}
        opt = Adam.from_config(cfg.optimizer)
        for _ in range(cfg.max_iter):
            value, grad = self.forward(X, params["centroids"])
            opt.step(params, {"centroids": grad})
            self.history_.append(float(value))
        self.centroids_ = params["centroids"]
        return self
