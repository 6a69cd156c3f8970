"""Evaluation metrics for partitions and soft assignments."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from .utils import entropy


def contingency_matrix(labels_true, labels_pred):
    classes, y = np.unique(labels_true, return_inverse=True)
    clusters, c = np.unique(labels_pred, return_inverse=True)
    M = np.zeros((classes.size, clusters.size), dtype=np.int64)
    np.add.at(M, (y, c), 1)
    return M


def clustering_accuracy(labels_true, labels_pred):
    """Accuracy under the best one-to-one matching of clusters to classes."""
    M = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(-M)
    return M[rows, cols].sum() / M.sum()


def normalized_mutual_info(labels_true, labels_pred, eps=1e-12):
    M = contingency_matrix(labels_true, labels_pred).astype(float)
    n = M.sum()
    pxy = M / n
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    nz = pxy > 0
    mi = np.sum(pxy[nz] * np.log(pxy[nz] / np.outer(px, py)[nz]))
    hx, hy = entropy(px), entropy(py)
    return mi / max(np.sqrt(hx * hy), eps)


def silhouette_score(X, labels):
    """Mean silhouette coefficient of a hard partition."""
    D = cdist(X, X)
    ks = np.unique(labels)
    onehot = (labels[:, None] == ks[None, :]).astype(float)
    sizes = onehot.sum(axis=0)
    mean_d = (D @ onehot) / np.maximum(sizes, 1.0)
    own = np.searchsorted(ks, labels)
    own_size = sizes[own]
    a = mean_d[np.arange(len(labels)), own] * own_size / np.maximum(own_size - 1.0, 1.0)
    mean_d[np.arange(len(labels)), own] = np.inf
    b = mean_d.min(axis=1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    s = np.where(own_size > 1, s, 0.0)
    return float(np.mean(s))


def assignment_summary(resp):
    """Diagnostics of a soft assignment matrix (n, k), for logging."""
    hard = resp.argmax(axis=1)
    sizes = np.bincount(hard, minlength=resp.shape[1])
    return {
        "confidence": np.max(resp, axis=1).mean().item(),
        "entropy": entropy(resp, axis=1).mean().item(),
        "effective_k": float(np.exp(entropy(resp.mean(axis=0)))),
        "empty_clusters": int(np.sum(sizes == 0)),
    }
