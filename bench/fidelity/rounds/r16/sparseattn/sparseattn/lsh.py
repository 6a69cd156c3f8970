"""LSH attention with shared queries and keys (Reformer): hash, sort by bucket, chunk,
attend within each chunk and the one before it, combine the hash rounds."""
from typing import Optional

import torch
import torch.nn as nn

from .config import AttentionConfig
from .utils import merge_heads, split_heads

SELF_ATTN_VALUE = -5e4
MASK_VALUE = -1e9


def hash_vectors(vecs: torch.Tensor, n_buckets: int, n_hashes: int,
                 rotations: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Angular LSH.  vecs: (B, H, T, D) -> bucket ids (B, H, n_hashes * T)."""
    B, H, T, D = vecs.shape
    if n_buckets % 2 != 0:
        raise ValueError("n_buckets must be even for angular LSH")
    if rotations is None:
        rotations = torch.randn(D, n_hashes, n_buckets // 2, device=vecs.device, dtype=vecs.dtype)
    rotated = torch.einsum("bhtd,dnr->bhntr", vecs, rotations)
    rotated = torch.cat([rotated, -rotated], dim=-1)
    buckets = torch.argmax(rotated, dim=-1)

    offsets = torch.arange(n_hashes, device=vecs.device) * n_buckets
    buckets = buckets + offsets.view(1, 1, -1, 1)
    return buckets.flatten(2)


def look_one_back(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every chunk with the chunk before it (dim 2 indexes chunks)."""
    x_extra = torch.cat([x[:, :, -1:], x[:, :, :-1]], dim=2)
    return torch.cat([x, x_extra], dim=3)


def unit_length(x: torch.Tensor) -> torch.Tensor:
    return x / torch.norm(x, dim=-1, keepdim=True)


class LSHSelfAttention(nn.Module):
    def __init__(self, cfg: AttentionConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.head_dim
        self.n_hashes = cfg.n_hashes
        self.n_buckets = cfg.n_buckets
        self.chunk_size = cfg.chunk_size
        self.causal = cfg.causal
        self.qk_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)

    def num_buckets(self, seq_len: int) -> int:
        if self.n_buckets:
            return self.n_buckets
        n = max(2, seq_len // self.chunk_size)
        return n + (n % 2)

    def forward(self, x: torch.Tensor):
        B, T, _ = x.shape
        H, D, C = self.n_heads, self.head_dim, self.chunk_size
        if (self.n_hashes * T) % C != 0:
            raise ValueError(f"n_hashes * seq_len must be a multiple of chunk_size={C}")

        qk = split_heads(self.qk_proj(x), H)
        v = split_heads(self.v_proj(x), H)
        buckets = hash_vectors(qk, self.num_buckets(T), self.n_hashes)

        # sort by (bucket, position) within each hash round
        ticker = torch.arange(self.n_hashes * T, device=x.device).expand(B, H, -1)
        sort_keys = T * buckets + (ticker % T)
        _, sticker = torch.sort(sort_keys, dim=-1)
        undo_sort = sticker.argsort(dim=-1)
        sticker, undo_sort = sticker.detach(), undo_sort.detach()

        st = sticker % T
        sqk = qk.gather(2, st.unsqueeze(-1).expand(-1, -1, -1, D))
        sv = v.gather(2, st.unsqueeze(-1).expand(-1, -1, -1, D))
        sbuckets = buckets.gather(-1, sticker)

        n_chunks = self.n_hashes * T // C
        bq_t = st.reshape(B, H, n_chunks, C)
        bq = sqk.reshape(B, H, n_chunks, C, D)
        bv = sv.reshape(B, H, n_chunks, C, D)
        bq_buckets = sbuckets.reshape(B, H, n_chunks, C)

        bk = look_one_back(unit_length(bq))
        bv = look_one_back(bv)
        bkv_t = look_one_back(bq_t)
        bkv_buckets = look_one_back(bq_buckets)

        dots = torch.einsum("bhcid,bhcjd->bhcij", bq, bk) * (D ** -0.5)

        self_mask = bq_t.unsqueeze(-1) == bkv_t.unsqueeze(-2)
        dots = dots.masked_fill(self_mask, SELF_ATTN_VALUE)
        bucket_mask = bq_buckets.unsqueeze(-1) != bkv_buckets.unsqueeze(-2)
        dots = dots.masked_fill(bucket_mask, MASK_VALUE)
        if self.causal:
            future = bq_t.unsqueeze(-1) < bkv_t.unsqueeze(-2)
            dots = dots.masked_fill(future, MASK_VALUE)

        lse = torch.logsumexp(dots, dim=-1, keepdim=True)
        probs = torch.exp(dots - lse)
        bo = torch.einsum("bhcij,bhcjd->bhcid", probs, bv)

        so = bo.reshape(B, H, -1, D)
        slogits = lse.reshape(B, H, -1)
        o = so.gather(2, undo_sort.unsqueeze(-1).expand(-1, -1, -1, D))
        logits = slogits.gather(-1, undo_sort)

        o = o.reshape(B, H, self.n_hashes, T, D)
        logits = logits.reshape(B, H, self.n_hashes, T, 1)
        round_weights = torch.softmax(logits, dim=2)
        out = (o * round_weights).sum(dim=2)
        return self.out_proj(merge_heads(out))
