"""Feature normalisation and second-moment helpers shared by the objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def l2_normalize(x: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """Scale ``x`` to unit L2 norm along ``dim``; all-zero rows stay zero."""
    norm = x.norm(p=2, dim=dim, keepdim=True)
    return x / norm.clamp_min(eps)


def center(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return x - x.mean(dim=dim, keepdim=True)


def feature_std(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Per-dimension standard deviation over the batch (VICReg)."""
    return torch.sqrt(x.var(dim=0) + eps)


def batch_standardize(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero-mean, unit-variance columns (BatchNorm1d without affine parameters)."""
    var = x.var(dim=0, unbiased=False, keepdim=True)
    return center(x) * torch.rsqrt(var + eps)


def covariance(x: torch.Tensor) -> torch.Tensor:
    """Unbiased covariance of the columns of ``x`` (shape ``[N, D]``)."""
    n = x.shape[0]
    xc = center(x)
    return (xc.T @ xc) / max(n - 1, 1)


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Empirical cross-correlation matrix of two batch-standardised views."""
    n = z1.shape[0]
    c = batch_standardize(z1, eps).T @ batch_standardize(z2, eps)
    return c / n


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """Flattened view of the off-diagonal entries of a square matrix."""
    n, k = m.shape
    if n != k:
        raise ValueError(f"off_diagonal expects a square matrix, got {tuple(m.shape)}")
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pairwise cosine similarities between the rows of ``a`` and ``b``."""
    a_n = a.norm(dim=1, keepdim=True)
    b_n = b.norm(dim=1, keepdim=True)
    a_norm = a / torch.max(a_n, eps * torch.ones_like(a_n))
    b_norm = b / torch.max(b_n, eps * torch.ones_like(b_n))
    return a_norm @ b_norm.T


def normalize_prototypes_(weight: torch.Tensor) -> torch.Tensor:
    """Re-project prototype vectors onto the unit sphere in place (SwAV)."""
    with torch.no_grad():
        w = F.normalize(weight.data.clone(), dim=1, p=2)
        weight.copy_(w)
    return weight
