"""Small tensor helpers shared by the loss modules."""
from typing import Optional

import torch


def masked_mean(mask: torch.Tensor, value: torch.Tensor, dim, eps: float = 1e-4) -> torch.Tensor:
    mask = mask.expand(*value.shape)
    return torch.sum(mask * value, dim=dim) / (eps + torch.sum(mask, dim=dim))


def square_distances(x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
    y = x if y is None else y
    return torch.sum((x[..., :, None, :] - y[..., None, :, :]) ** 2, dim=-1)


def bin_boundaries(min_bin: float, max_bin: float, no_bins: int, device=None) -> torch.Tensor:
    return torch.linspace(min_bin, max_bin, no_bins - 1, device=device)


def one_hot_bins(values: torch.Tensor, boundaries: torch.Tensor) -> torch.Tensor:
    """Bin ``values`` against sorted ``boundaries`` and return a one-hot encoding."""
    index = torch.sum(values[..., None] > boundaries, dim=-1)
    return torch.nn.functional.one_hot(index, boundaries.shape[-1] + 1).to(values.dtype)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return -torch.sum(labels * torch.nn.functional.log_softmax(logits, dim=-1), dim=-1)


def tree_map_detach(d: dict) -> dict:
    return {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in d.items()}

