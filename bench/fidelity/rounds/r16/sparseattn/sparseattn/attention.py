"""Multi-head attention with sparse normalisers, top-k selection and learned temperature."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import AttentionConfig
from .functional import entmax_bisect, get_mapping
from .utils import (
    gather_keys,
    l2_normalize,
    masked_fill_scores,
    merge_heads,
    neg_inf,
    split_heads,
    topk_mask,
)


def normalize_scores(scores: torch.Tensor, mapping: str, alpha: float = 1.5, dim: int = -1):
    fn = get_mapping(mapping)
    if mapping == "entmax_bisect":
        return fn(scores, alpha, dim=dim)
    return fn(scores, dim=dim)


class SparseMultiheadAttention(nn.Module):
    """Dot-product attention with sparsemax / entmax; optionally a learned alpha per head."""

    def __init__(self, cfg: AttentionConfig):
        super().__init__()
        self.cfg = cfg
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)
        if cfg.learn_alpha:
            self.alpha_logit = nn.Parameter(torch.zeros(cfg.n_heads))
        else:
            self.register_parameter("alpha_logit", None)

    def head_alpha(self) -> Optional[torch.Tensor]:
        if self.alpha_logit is None:
            return None
        return 1.0 + torch.sigmoid(self.alpha_logit)

    def forward(self, x: torch.Tensor, memory: Optional[torch.Tensor] = None,
                key_padding_mask=None, attn_mask=None) -> Tuple[torch.Tensor, torch.Tensor]:
        memory = x if memory is None else memory
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(memory), self.n_heads)
        v = split_heads(self.v_proj(memory), self.n_heads)

        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = masked_fill_scores(scores, key_padding_mask, attn_mask)

        alpha = self.head_alpha()
        if alpha is not None:
            attn = entmax_bisect(scores, alpha.view(1, -1, 1, 1), dim=-1)
        else:
            attn = normalize_scores(scores, self.cfg.mapping, self.cfg.alpha)

        out = torch.matmul(self.dropout(attn), v)
        return self.out_proj(merge_heads(out)), attn


class TopKAttention(nn.Module):
    """Each query attends only to its k highest-scoring keys ("gather" or dense "mask")."""

    def __init__(self, cfg: AttentionConfig, mode: str = "gather"):
        super().__init__()
        if mode not in ("gather", "mask"):
            raise ValueError(f"invalid mode {mode!r}")
        self.mode = mode
        self.n_heads = cfg.n_heads
        self.topk = cfg.topk or 32
        self.scale = cfg.head_dim ** -0.5
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, key_padding_mask: Optional[torch.Tensor] = None):
        q, k, v = (split_heads(t, self.n_heads) for t in self.qkv(x).chunk(3, dim=-1))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        scores = masked_fill_scores(scores, key_padding_mask)
        k_eff = min(self.topk, scores.size(-1))

        if self.mode == "gather":
            top_scores, top_idx = scores.topk(k_eff, dim=-1)
            weights = torch.softmax(top_scores, dim=-1)
            v_sel = gather_keys(v, top_idx)
            out = (self.dropout(weights).unsqueeze(-1) * v_sel).sum(-2)
            attn = torch.zeros_like(scores).scatter(-1, top_idx, weights)
        else:
            keep = topk_mask(scores, k_eff)
            attn = torch.softmax(scores.masked_fill(~keep, neg_inf(scores.dtype)), dim=-1)
            out = torch.matmul(self.dropout(attn), v)
        return self.out_proj(merge_heads(out)), attn


class LearnedTemperatureAttention(nn.Module):
    """Cosine attention with a learned, bounded logit scale per head (Swin-V2 style),
    optionally divided by a per-query temperature predicted from the query."""

    def __init__(self, cfg: AttentionConfig, per_query: bool = False):
        super().__init__()
        self.cfg = cfg
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.logit_scale = nn.Parameter(torch.log(10.0 * torch.ones(cfg.n_heads, 1, 1)))
        self.max_log_scale = math.log(cfg.max_logit_scale)
        self.min_temperature = cfg.min_temperature
        self.temp_proj = nn.Linear(cfg.head_dim, 1) if per_query else None

    def _scale(self) -> torch.Tensor:
        return torch.clamp(self.logit_scale, max=self.max_log_scale).exp()

    def forward(self, x: torch.Tensor, key_padding_mask: Optional[torch.Tensor] = None,
                need_weights: bool = True):
        q, k, v = (split_heads(t, self.n_heads) for t in self.qkv(x).chunk(3, dim=-1))
        if self.cfg.mapping == "softmax" and self.temp_proj is None and not need_weights:
            return self._fused(q, k, v, key_padding_mask), None

        scores = torch.matmul(l2_normalize(q), l2_normalize(k).transpose(-1, -2)) * self._scale()
        if self.temp_proj is not None:
            tau = self.temp_proj(q).abs() + self.min_temperature
            scores = scores / tau
        scores = masked_fill_scores(scores, key_padding_mask)
        attn = normalize_scores(scores, self.cfg.mapping, self.cfg.alpha)
        out = torch.matmul(attn, v)
        return self.out_proj(merge_heads(out)), attn

    def _fused(self, q, k, v, key_padding_mask):
        # scaled_dot_product_attention takes the scale as a Python float
        scale = self._scale().mean().item()
        mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            l2_normalize(q), l2_normalize(k), v, attn_mask=mask, scale=scale
        )
        return self.out_proj(merge_heads(out))
