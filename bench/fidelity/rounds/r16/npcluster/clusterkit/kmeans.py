"""Soft (deterministic-annealing) k-means fitted by gradient descent.

Free energy at temperature T: F(C) = -T sum_i log sum_k exp(-d(x_i, c_k) / T), which
tends to the k-means inertia as T -> 0.  Objectives return ``(value, grad wrt C)``.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .config import SoftKMeansConfig
from .utils import (Adam, check_random_state, log_softmax, logsumexp,
                    pairwise_dists, pairwise_sq_dists, softmax_backward)


def kmeans_plusplus(X, n_clusters, rng=None):
    """k-means++ seeding: centres drawn with probability proportional to D^2."""
    rng = check_random_state(rng)
    n, p = X.shape
    centers = np.empty((n_clusters, p), dtype=X.dtype)
    centers[0] = X[rng.integers(n)]
    closest = pairwise_sq_dists(X, centers[:1]).ravel()
    for k in range(1, n_clusters):
        total = closest.sum()
        probs = closest / total if total > 0 else np.full(n, 1.0 / n)
        centers[k] = X[rng.choice(n, p=probs)]
        new_d = pairwise_sq_dists(X, centers[k:k + 1]).ravel()
        closest = np.minimum(closest, new_d)
    return centers


def _distances(X, centroids, distance):
    if distance == "sqeuclidean":
        return pairwise_sq_dists(X, centroids)
    if distance == "euclidean":
        return pairwise_dists(X, centroids)
    raise ValueError(f"unknown distance {distance!r}")


def _distance_grad(X, centroids, d, distance):
    """d d(x_i, c_k) / d c_k for every pair, shape (n, k, p)."""
    diff = centroids[None, :, :] - X[:, None, :]
    if distance == "sqeuclidean":
        return 2.0 * diff
    return diff / d[:, :, None]


def soft_assignments(X, centroids, temperature, distance="sqeuclidean"):
    """Responsibilities ``softmax(-d / T)`` and the distances they came from."""
    d = _distances(X, centroids, distance)
    resp = np.exp(log_softmax(-d / temperature, axis=1))
    return resp, d


def soft_kmeans_objective(X, centroids, temperature=1.0, distance="sqeuclidean",
                          reduction="mean"):
    d = _distances(X, centroids, distance)
    logits = -d / temperature
    free_energy = -temperature * logsumexp(logits, axis=1)
    resp = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    dd = _distance_grad(X, centroids, d, distance)
    grad = np.einsum("nk,nkp->kp", resp, dd)
    value = free_energy.sum()
    if reduction == "mean":
        n = X.shape[0]
        return value / n, grad / n
    return value, grad


def hard_kmeans_objective(X, centroids, reduction="mean"):
    """k-means inertia; the zero-temperature limit of the free energy."""
    d = pairwise_sq_dists(X, centroids)
    labels = np.argmin(d, axis=1)
    inertia = d[np.arange(X.shape[0]), labels].sum()
    grad = np.zeros_like(centroids)
    np.add.at(grad, labels, 2.0 * (centroids[labels] - X))
    if reduction == "mean":
        return inertia / X.shape[0], grad / X.shape[0]
    return inertia, grad


def balance_penalty(X, centroids, temperature, distance="sqeuclidean"):
    """Negative entropy of the average assignment, sum_k pi_k log pi_k.

    Minimising it pushes the soft cluster sizes towards the uniform split.
    """
    n = X.shape[0]
    d = _distances(X, centroids, distance)
    resp = np.exp(log_softmax(-d / temperature, axis=1))
    pi = resp.mean(axis=0)
    log_pi = np.log(pi)
    value = np.sum(pi * log_pi)
    g_resp = np.broadcast_to((log_pi + 1.0) / n, resp.shape)
    g_logits = softmax_backward(resp, g_resp, axis=1)
    dd = _distance_grad(X, centroids, d, distance)
    grad = -np.einsum("nk,nkp->kp", g_logits, dd) / temperature
    return value, grad


def matched_anchor_loss(centroids, anchors):
    """Mean squared distance between anchors and their Hungarian-matched centroids."""
    cost = pairwise_sq_dists(anchors, centroids)
    rows, cols = linear_sum_assignment(cost)
    value = cost[rows, cols].mean()
    grad = np.zeros_like(centroids)
    grad[cols] = 2.0 * (centroids[cols] - anchors[rows]) / len(rows)
    return value, grad


class SoftKMeans:
    """Soft k-means with temperature annealing, fitted with Adam."""

    def __init__(self, config: SoftKMeansConfig | None = None, **overrides):
        self.config = config or SoftKMeansConfig(**overrides)
        self.centroids_ = None
        self.temperature_ = self.config.temperature
        self.history_ = []

    def forward(self, X, centroids, temperature=None, anchors=None):
        cfg = self.config
        T = self.temperature_ if temperature is None else temperature
        if T <= 0.0:
            value, grad = hard_kmeans_objective(X, centroids, cfg.reduction)
        else:
            value, grad = soft_kmeans_objective(X, centroids, T, cfg.distance, cfg.reduction)
        if cfg.balance_weight > 0.0 and T > 0.0:
            b, gb = balance_penalty(X, centroids, T, cfg.distance)
            value = value + cfg.balance_weight * b
            grad = grad + cfg.balance_weight * gb
        if anchors is not None and cfg.anchor_weight > 0.0:
            a, ga = matched_anchor_loss(centroids, anchors)
            value = value + cfg.anchor_weight * a
            grad = grad + cfg.anchor_weight * ga
        return value, grad

    __call__ = forward

    def fit(self, X, anchors=None):
        cfg = self.config
        rng = check_random_state(cfg.seed)
        params = {"centroids": kmeans_plusplus(X, cfg.n_clusters, rng)}
        opt = Adam.from_config(cfg.optimizer)
        self.temperature_ = cfg.temperature
        prev = np.inf
        for _ in range(cfg.max_iter):
            value, grad = self.forward(X, params["centroids"], anchors=anchors)
            opt.step(params, {"centroids": grad})
            self.history_.append(value.item())
            if abs(prev - value) < cfg.tol * max(1.0, abs(value)):
                break
            prev = value
            self.temperature_ = max(cfg.min_temperature, self.temperature_ * cfg.anneal_rate)
        self.centroids_ = params["centroids"]
        return self

    def predict(self, X):
        return np.argmin(pairwise_sq_dists(X, self.centroids_), axis=1)
