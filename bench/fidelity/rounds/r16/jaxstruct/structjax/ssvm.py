"""Structured hinge (SSVM) losses and their smoothed variants."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import HingeConfig
from .crf import crf_log_partition, crf_sequence_score, viterbi_decode
from .utils import masked_mean, reduce_loss


def hamming_augment(emissions, tags, mask, scale=1.0):
    """Loss-augmented potentials: +scale on every tag that differs from the gold tag."""
    onehot = jax.nn.one_hot(tags, emissions.shape[-1], dtype=emissions.dtype)
    cost = (1.0 - onehot) * mask[..., None].astype(emissions.dtype)
    return emissions + scale * cost


def smooth_hinge(z):
    """Quadratically smoothed hinge: 0 for z <= 0, z^2 / 2 on (0, 1), z - 1/2 above."""
    return jnp.where(z >= 1.0, z - 0.5, 0.5 * jnp.clip(z, 0.0, 1.0) ** 2)


def structured_hinge_loss(emissions, tags, mask, params, config: HingeConfig = HingeConfig(),
                          reduction="mean"):
    """Margin-rescaled structured hinge with Hamming cost (Taskar et al.; Tsochantaridis et al.).

    loss = max_y [s(y) + cost(y, y*)] - s(y*).  With ``config.smoothing = t > 0`` the max
    is replaced by t * logsumexp(./t) (softmax-margin, Gimpel & Smith, 2010).
    """
    transitions = params["transitions"]
    start, end = params.get("start"), params.get("end")
    aug = hamming_augment(emissions, tags, mask, config.cost_scale)
    gold = crf_sequence_score(emissions, tags, transitions, mask, start, end)
    if config.smoothing > 0.0:
        t = config.smoothing
        aug_score = t * crf_log_partition(aug / t, transitions / t, mask,
                                          None if start is None else start / t,
                                          None if end is None else end / t)
    else:
        _, aug_score = viterbi_decode(aug, transitions, mask, start, end)
    margin = jax.nn.relu(aug_score - gold)
    lengths = jnp.maximum(jnp.sum(mask, axis=1), 1).astype(margin.dtype)
    return reduce_loss(margin / lengths, reduction)


def multiclass_hinge(logits, labels, margin=1.0, mask=None):
    """Crammer-Singer multiclass hinge, applied per token."""
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    correct = jnp.sum(logits * onehot, axis=-1)
    rivals = jnp.where(onehot > 0, -jnp.inf, logits)
    best_rival = jnp.max(rivals, axis=-1)
    loss = jax.nn.relu(margin + best_rival - correct)
    if mask is None:
        return jnp.mean(loss)
    return masked_mean(loss, mask)


def token_hinge_loss(emissions, tags, mask, config: HingeConfig = HingeConfig()):
    """Per-token hinge, hard or quadratically smoothed."""
    onehot = jax.nn.one_hot(tags, emissions.shape[-1], dtype=emissions.dtype)
    correct = jnp.sum(emissions * onehot, axis=-1, keepdims=True)
    z = config.margin + emissions - correct
    if config.hinge == "smooth":
        per_class = smooth_hinge(z)
    else:
        per_class = jax.nn.relu(z) ** 2
    per_token = jnp.sum(per_class * (1.0 - onehot), axis=-1)
    return masked_mean(per_token, mask)


def pairwise_ranking_hinge(scores, relevance, mask, margin=1.0):
    """RankSVM: hinge on every ordered pair (i, j) with relevance[i] > relevance[j]."""
    pair = relevance[..., :, None] > relevance[..., None, :]
    pair = pair & mask[..., :, None] & mask[..., None, :]
    diff = scores[..., :, None] - scores[..., None, :]
    violation = jax.nn.relu(margin - diff)
    n_pairs = jnp.sum(pair, axis=(-2, -1))
    per_list = jnp.sum(jnp.where(pair, violation, 0.0), axis=(-2, -1))
    return jnp.mean(per_list / jnp.maximum(n_pairs, 1))


def hard_negative_hinge(anchor_scores, labels, margin=0.2):
    """Max-of-hinges (VSE++-style): only the hardest negative per row contributes."""
    positives = jnp.sum(jnp.where(labels, anchor_scores, 0.0), axis=-1)
    n_pos = jnp.maximum(jnp.sum(labels, axis=-1), 1)
    positives = positives / n_pos
    negatives = jnp.where(labels, -jnp.inf, anchor_scores)
    hardest = jnp.max(negatives, axis=-1)
    return jnp.mean(jax.nn.relu(margin + hardest - positives))
