"""Small tensor helpers shared by the attention layers, losses and regularisers."""
from typing import Optional

import torch


def neg_inf(dtype: torch.dtype) -> float:
    """Most negative finite value of ``dtype``; safer than -inf for sparse mappings."""
    return torch.finfo(dtype).min


def lengths_to_mask(lengths: torch.Tensor, max_len: Optional[int] = None) -> torch.Tensor:
    """Boolean mask of shape (B, T) that is True at valid (non-padded) positions."""
    if max_len is None:
        max_len = int(lengths.max().item())
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def safe_log(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return torch.log(x.clamp_min(eps))


def l2_normalize(x: torch.Tensor, dim: int = -1, eps: float = 1e-6) -> torch.Tensor:
    return x / x.norm(p=2, dim=dim, keepdim=True).clamp_min(eps)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim=None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is True (mask broadcast to x)."""
    mask = mask.to(x.dtype).expand_as(x)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)


def masked_fill_scores(
    scores: torch.Tensor,
    key_padding_mask: Optional[torch.Tensor] = None,
    attn_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Mask (B, H, T, S) scores; both masks are True where attention is allowed."""
    fill = neg_inf(scores.dtype)
    if key_padding_mask is not None:
        scores = scores.masked_fill(~key_padding_mask[:, None, None, :], fill)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, fill)
    return scores


def topk_mask(scores: torch.Tensor, k: int, dim: int = -1) -> torch.Tensor:
    """True at the ``k`` largest entries along ``dim`` (ties at the k-th value are kept)."""
    k = min(k, scores.size(dim))
    kth = scores.topk(k, dim=dim).values.narrow(dim, k - 1, 1)
    return scores >= kth


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, H, T, D // H)."""
    B, T, D = x.shape
    return x.view(B, T, n_heads, D // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, Dh) -> (B, T, H * Dh)."""
    B, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * Dh)


def gather_keys(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of ``values`` (B, H, S, D) picked per query by ``index`` (B, H, T, K)."""
    B, H, T, K = index.shape
    D = values.size(-1)
    expanded = values.unsqueeze(2).expand(B, H, T, values.size(2), D)
    return torch.gather(expanded, 3, index.unsqueeze(-1).expand(B, H, T, K, D))
