"""A small sparse-attention tagger and its training step."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from .attention import LearnedTemperatureAttention, SparseMultiheadAttention
from .config import AttentionConfig, LossConfig
from .losses import EntmaxBisectLoss, Entmax15Loss, SparsemaxLoss, attention_alignment_loss
from .regularizers import AttentionRegularizer, shannon_entropy, support_fraction
from .utils import lengths_to_mask


class SparseTagger(nn.Module):
    """Token embeddings -> N pre-norm sparse attention blocks -> per-token tag scores."""

    def __init__(self, vocab_size: int, n_tags: int, cfg: AttentionConfig, n_layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.d_model, padding_idx=0)
        self.layers = nn.ModuleList(SparseMultiheadAttention(cfg) for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(n_layers))
        self.head = nn.Linear(cfg.d_model, n_tags)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor):
        mask = lengths_to_mask(lengths, tokens.size(1))
        h = self.embed(tokens)
        attn_maps: List[torch.Tensor] = []
        for attn, norm in zip(self.layers, self.norms):
            out, weights = attn(norm(h), key_padding_mask=mask)
            h = h + out
            attn_maps.append(weights)
        return self.head(h), attn_maps


def build_output_loss(cfg: LossConfig) -> nn.Module:
    common = dict(ignore_index=cfg.ignore_index, reduction=cfg.reduction,
                  label_smoothing=cfg.label_smoothing)
    if cfg.kind == "sparsemax":
        return SparsemaxLoss(**common)
    if cfg.kind == "entmax15":
        return Entmax15Loss(**common)
    if cfg.kind == "entmax_bisect":
        return EntmaxBisectLoss(alpha=cfg.alpha, **common)
    if cfg.kind == "softmax":
        return nn.CrossEntropyLoss(**common)
    raise ValueError(f"unknown loss kind {cfg.kind!r}")


@torch.no_grad()
def attention_stats(attn_maps: List[torch.Tensor], query_mask: Optional[torch.Tensor] = None
                    ) -> Dict[str, float]:
    stats: Dict[str, float] = {}
    for i, attn in enumerate(attn_maps):
        rows = attn if query_mask is None else attn[query_mask[:, None, :].expand(attn.shape[:3])]
        stats[f"attn{i}/support"] = support_fraction(rows).mean().item()
        stats[f"attn{i}/entropy"] = shannon_entropy(rows).mean().item()
        stats[f"attn{i}/max"] = rows.amax(-1).mean().item()
    return stats


def train_step(model: SparseTagger, batch: Dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
               output_loss: nn.Module, regularizer: AttentionRegularizer, cfg: LossConfig
               ) -> Dict[str, float]:
    model.train()
    tokens, lengths, tags = batch["tokens"], batch["lengths"], batch["tags"]
    logits, attn_maps = model(tokens, lengths)
    query_mask = lengths_to_mask(lengths, tokens.size(1))

    task_loss = output_loss(logits.reshape(-1, logits.size(-1)), tags.reshape(-1))
    reg_loss, reg_logs = regularizer(attn_maps, query_mask)
    if cfg.balance_regularizer and reg_loss.requires_grad:
        # rescale the regulariser to the magnitude of the task loss
        reg_loss = reg_loss * (task_loss.detach() / reg_loss.detach().clamp_min(1e-8))
    loss = task_loss + reg_loss

    if cfg.alignment_weight > 0 and "alignment" in batch:
        head_avg = attn_maps[-1].mean(dim=1)
        align = attention_alignment_loss(head_avg, batch["alignment"], query_mask)
        loss = loss + cfg.alignment_weight * align
        reg_logs["align"] = align.item()

    # anneal: push the last layer's entropy down only while it is above the target
    if cfg.anneal_entropy_target is not None:
        last_ent = shannon_entropy(attn_maps[-1]).mean()
        if last_ent.item() > cfg.anneal_entropy_target:
            loss = loss + cfg.entropy_weight * last_ent

    if not torch.isfinite(loss):
        optimizer.zero_grad(set_to_none=True)
        return {"loss": float("nan"), "skipped": 1.0}

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()

    for module in model.modules():
        if isinstance(module, LearnedTemperatureAttention):
            module.logit_scale.data.clamp_(max=module.max_log_scale)

    logs = {"loss": loss.item(), "task": task_loss.item(), "grad_norm": float(grad_norm)}
    logs.update(reg_logs)
    logs.update(attention_stats(attn_maps, query_mask))
    return logs

