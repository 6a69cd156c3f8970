"""Soft dynamic time warping (Cuturi & Blondel, 2017) and the DILATE loss (Le Guen & Thome, 2019)."""
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn


def pairwise_distances(x: torch.Tensor, y: torch.Tensor, metric: str = "sqeuclidean") -> torch.Tensor:
    """Cost matrix between two batches of sequences: ``(B, N, D), (B, M, D) -> (B, N, M)``."""
    if metric == "euclidean":
        return torch.cdist(x, y)
    if metric == "sqeuclidean":
        diff = x.unsqueeze(2) - y.unsqueeze(1)
        return diff.pow(2).sum(-1)
    if metric == "manhattan":
        return torch.abs(x.unsqueeze(2) - y.unsqueeze(1)).sum(-1)
    raise ValueError(f"unknown metric {metric!r}")


def sakoe_chiba_mask(n: int, m: int, bandwidth: float, device=None) -> torch.Tensor:
    """True for the cells of the ``n x m`` grid that lie outside the warping band."""
    i = torch.arange(n, device=device, dtype=torch.float32).unsqueeze(1)
    j = torch.arange(m, device=device, dtype=torch.float32).unsqueeze(0)
    return torch.abs(i * (m / n) - j) > bandwidth


class SoftDTW(nn.Module):
    def __init__(self, gamma: float = 0.1, normalize: bool = False, metric: str = "sqeuclidean",
                 bandwidth: Optional[float] = None):
        super().__init__()
        self.gamma = gamma
        self.normalize = normalize
        self.metric = metric
        self.bandwidth = bandwidth

    def softmin(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        z = torch.stack([a, b, c], dim=-1)
        if self.gamma == 0.0:
            return z.amin(dim=-1)
        return -self.gamma * torch.logsumexp(-z / self.gamma, dim=-1)

    def accumulate(self, cost: torch.Tensor) -> torch.Tensor:
        """Soft-DTW recursion over a ``(B, N, M)`` cost matrix; returns ``R[N, M]``."""
        batch, n, m = cost.shape
        mask = None if self.bandwidth is None else sakoe_chiba_mask(n, m, self.bandwidth, cost.device)
        inf = cost.new_full((batch,), float("inf"))
        prev = [cost.new_zeros(batch)] + [inf] * m
        for i in range(1, n + 1):
            row = [inf]
            for j in range(1, m + 1):
                if mask is not None and bool(mask[i - 1, j - 1]):
                    row.append(inf)
                    continue
                row.append(cost[:, i - 1, j - 1] + self.softmin(prev[j - 1], prev[j], row[j - 1]))
            prev = row
        return prev[m]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        d_xy = self.accumulate(pairwise_distances(x, y, self.metric))
        if not self.normalize:
            return d_xy
        d_xx = self.accumulate(pairwise_distances(x, x, self.metric))
        d_yy = self.accumulate(pairwise_distances(y, y, self.metric))
        return d_xy - 0.5 * (d_xx + d_yy)


class DILATELoss(nn.Module):
    """Shape (soft-DTW) plus temporal-distortion loss for multi-step forecasts ``(B, T, D)``."""

    def __init__(self, alpha: float = 0.5, gamma: float = 0.01):
        super().__init__()
        self.alpha = alpha
        self.sdtw = SoftDTW(gamma=gamma)

    def forward(self, forecast, target, mask, insample=None):
        forecast, target = forecast.unsqueeze(-1), (target * mask).unsqueeze(-1)
        cost = pairwise_distances(target, forecast)
        shape_loss = self.sdtw.accumulate(cost)
        path, = torch.autograd.grad(shape_loss.sum(), cost, create_graph=True)
        n = forecast.shape[1]
        steps = torch.arange(n, dtype=forecast.dtype, device=forecast.device)
        omega = (steps.unsqueeze(1) - steps.unsqueeze(0)) ** 2 / (n * n)
        temporal_loss = (path * omega).sum(dim=(1, 2))
        return (self.alpha * shape_loss + (1.0 - self.alpha) * temporal_loss).mean()


def dtw_path(x: torch.Tensor, y: torch.Tensor) -> List[Tuple[int, int]]:
    """Hard DTW alignment between two univariate series, for plotting."""
    a = x.detach().cpu().numpy()
    b = y.detach().cpu().numpy()
    n, m = len(a), len(b)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = (a[i - 1] - b[j - 1]) ** 2 + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    path, i, j = [], n, m
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]]))
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    return path[::-1]
