"""Evaluation metrics for taggers, aligners and rankers."""
from __future__ import annotations

from typing import Dict, List, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .alignment import distance_matrix, soft_dtw_value


def token_accuracy(pred_tags, tags, mask):
    correct = (pred_tags == tags) & mask
    return jnp.sum(correct) / jnp.maximum(jnp.sum(mask), 1)


def ctc_greedy_decode(logits, frame_mask, blank_id=0) -> List[List[int]]:
    """Best-path decoding: argmax per frame, merge repeats, drop blanks."""
    best = np.asarray(jax.device_get(jnp.argmax(logits, axis=-1)))
    lengths = np.asarray(frame_mask).sum(axis=-1)
    out = []
    for b in range(best.shape[0]):
        seq, prev = [], None
        for t in range(int(lengths[b])):
            tok = int(best[b, t])
            if tok != prev and tok != blank_id:
                seq.append(tok)
            prev = tok
        out.append(seq)
    return out


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def dtw_distance(x, y, distance="sqeuclidean"):
    """Hard DTW cost (soft-DTW at gamma = 0)."""
    return soft_dtw_value(distance_matrix(x, y, distance), 0.0)


def ndcg_at_k(scores, labels, mask, k=10):
    scores = jnp.where(mask, scores, -jnp.inf)
    k = min(k, scores.shape[-1])
    _, top_idx = jax.lax.top_k(scores, k)
    top_gains = jnp.take_along_axis(2.0 ** labels - 1.0, top_idx, axis=-1)
    top_gains = top_gains * jnp.take_along_axis(mask, top_idx, axis=-1)
    disc = 1.0 / jnp.log2(jnp.arange(2.0, k + 2.0))
    dcg = jnp.sum(top_gains * disc, axis=-1)
    ideal, _ = jax.lax.top_k(jnp.where(mask, 2.0 ** labels - 1.0, 0.0), k)
    idcg = jnp.sum(ideal * disc, axis=-1)
    return jnp.mean(jnp.where(idcg > 0, dcg / jnp.maximum(idcg, 1e-10), 0.0))


def precision_at_k(scores, labels, k=5):
    thresh = jnp.sort(scores, axis=-1)[..., -k][..., None]
    retrieved = scores >= thresh
    hits = jnp.sum(retrieved & (labels > 0), axis=-1)
    return jnp.mean(hits / k)


def summarize(metrics: Dict[str, jnp.ndarray]) -> Dict[str, float]:
    """Pull a dict of scalar device arrays to Python floats for logging."""
    host = jax.device_get(metrics)
    return {name: float(value) for name, value in host.items()}
