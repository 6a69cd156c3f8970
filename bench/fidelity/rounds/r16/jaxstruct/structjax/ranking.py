"""Differentiable sorting and ranking, and listwise ranking losses."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .config import RankingConfig
from .utils import NEG_INF, logsumexp


def adaptive_temperature(scores, base_tau=1.0, min_spread=1e-3):
    """Temperature proportional to the spread of the scores.  Eager only (not jittable)."""
    spread = jnp.std(scores)
    if spread < min_spread:
        return jnp.asarray(base_tau, scores.dtype)
    return base_tau * spread


def neural_sort(scores, tau=1.0, hard=False):
    """Relaxed descending-sort permutation matrix of Grover et al. (2019).

    scores: [n].  Returns P with P[i, j] ~ 1 when item j has rank i.
    """
    n = scores.shape[-1]
    s = scores[:, None]
    abs_diff = jnp.abs(s - s.T)
    row_sums = jnp.sum(abs_diff, axis=1)
    scaling = (n + 1 - 2 * (jnp.arange(n) + 1)).astype(scores.dtype)
    logits = (scaling[:, None] * scores[None, :] - row_sums[None, :]) / tau
    P = jax.nn.softmax(logits, axis=-1)
    if hard:
        idx = jnp.argmax(P, axis=-1)
        P_hard = jax.nn.one_hot(idx, n, dtype=P.dtype)
        P = lax.stop_gradient(P_hard - P) + P
    return P


def pairwise_soft_rank(scores, tau=1.0):
    """Soft ranks (1 = highest score) from sigmoids of pairwise differences."""
    diff = scores[..., None, :] - scores[..., :, None]
    return 0.5 + jnp.sum(jax.nn.sigmoid(diff / tau), axis=-1)


def _standardize(x, eps=1e-6):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    sd = jnp.std(x, axis=-1, keepdims=True)
    return (x - mu) / (sd + eps)


def sinkhorn_soft_rank(scores, eps=0.1, n_iters=20):
    """Soft ranks by entropic OT onto n sorted anchors (Cuturi et al., 2019). scores: [n]."""
    n = scores.shape[-1]
    x = jax.nn.sigmoid(_standardize(scores))
    anchors = jnp.linspace(1.0, 0.0, n)
    log_k = -((x[:, None] - anchors[None, :]) ** 2) / eps
    log_w = -jnp.log(float(n)) * jnp.ones(n)

    def body(_, fg):
        f, g = fg
        f = log_w - logsumexp(log_k + g[None, :], axis=1)
        g = log_w - logsumexp(log_k + f[:, None], axis=0)
        return f, g

    f, g = lax.fori_loop(0, n_iters, body, (jnp.zeros(n), jnp.zeros(n)))
    plan = jnp.exp(log_k + f[:, None] + g[None, :])
    return n * plan @ jnp.arange(1.0, n + 1.0)


def soft_rank(scores, config: RankingConfig = RankingConfig()):
    """Batched soft ranks for scores [B, n]."""
    tau = config.temperature
    if tau == "auto":
        tau = adaptive_temperature(scores)
    if config.method == "pairwise":
        return pairwise_soft_rank(scores, tau)
    if config.method == "sinkhorn":
        return jax.vmap(lambda s: sinkhorn_soft_rank(s, config.sinkhorn_eps,
                                                     config.sinkhorn_iters))(scores)
    n = scores.shape[-1]
    P = jax.vmap(lambda s: neural_sort(s, tau, config.hard))(scores)
    return jnp.einsum("bij,i->bj", P, jnp.arange(1.0, n + 1.0))


def hard_rank(values):
    """Integer ranks, 1 = largest."""
    order = jnp.argsort(-values, axis=-1)
    return jnp.argsort(order, axis=-1) + 1


def spearman_loss(pred, target, config: RankingConfig = RankingConfig(), eps=1e-8):
    """1 - Spearman correlation between soft ranks of pred and ranks of target."""
    r_pred = soft_rank(pred, config)
    r_true = hard_rank(target).astype(r_pred.dtype)
    r_pred = r_pred - jnp.mean(r_pred, axis=-1, keepdims=True)
    r_true = r_true - jnp.mean(r_true, axis=-1, keepdims=True)
    num = jnp.sum(r_pred * r_true, axis=-1)
    den = jnp.linalg.norm(r_pred, axis=-1) * jnp.linalg.norm(r_true, axis=-1)
    return jnp.mean(1.0 - num / (den + eps))


def listnet_loss(scores, labels, mask, normalize_scores=False):
    """Top-one softmax cross-entropy (Cao et al., 2007)."""
    if normalize_scores:
        scores = scores / jnp.linalg.norm(scores, axis=-1, keepdims=True)
    scores = jnp.where(mask, scores, NEG_INF)
    target = jnp.where(mask, labels, NEG_INF)
    target_dist = jax.nn.softmax(target, axis=-1)
    log_p = jax.nn.log_softmax(scores, axis=-1)
    return -jnp.mean(jnp.sum(jnp.where(mask, target_dist * log_p, 0.0), axis=-1))


def listmle_loss(scores, labels, mask):
    """Plackett-Luce likelihood of the label order (Xia et al., 2008)."""
    order = jnp.argsort(-jnp.where(mask, labels, -jnp.inf), axis=-1)
    s = jnp.take_along_axis(jnp.where(mask, scores, NEG_INF), order, axis=-1)
    m = jnp.take_along_axis(mask, order, axis=-1)
    suffix_lse = lax.cumlogsumexp(s, axis=s.ndim - 1, reverse=True)
    return jnp.mean(jnp.sum(jnp.where(m, suffix_lse - s, 0.0), axis=-1))


def dcg_discounts(ranks):
    return 1.0 / jnp.log2(1.0 + ranks)


def ideal_dcg(labels, mask, k=None):
    gains = jnp.where(mask, 2.0 ** labels - 1.0, 0.0)
    sorted_gains = -jnp.sort(-gains, axis=-1)
    disc = dcg_discounts(jnp.arange(1.0, gains.shape[-1] + 1.0))
    if k is not None:
        disc = jnp.where(jnp.arange(gains.shape[-1]) < k, disc, 0.0)
    return jnp.sum(sorted_gains * disc, axis=-1)


def approx_ndcg_loss(scores, labels, mask, config: RankingConfig = RankingConfig()):
    """ApproxNDCG (Qin et al., 2010) with soft ranks and an optional cutoff."""
    scores = jnp.where(mask, scores, -1e4)
    ranks = pairwise_soft_rank(scores, config.temperature)
    gains = jnp.where(mask, 2.0 ** labels - 1.0, 0.0)
    disc = dcg_discounts(ranks)
    if config.ndcg_k is not None:
        disc = jnp.where(ranks <= config.ndcg_k, disc, 0.0)
    dcg = jnp.sum(gains * disc, axis=-1)
    idcg = ideal_dcg(labels, mask, config.ndcg_k)
    ndcg = jnp.where(idcg > 0, dcg / idcg, 0.0)
    return 1.0 - jnp.mean(ndcg)


def lambda_loss(scores, labels, mask, sigma=1.0):
    """Pairwise logistic loss weighted by |delta NDCG| at the current ranking (LambdaRank)."""
    valid = mask[..., :, None] & mask[..., None, :]
    masked = jnp.where(mask, scores, -jnp.inf)
    ranks = 1.0 + jnp.sum(masked[..., None, :] > masked[..., :, None], axis=-1)
    gains = jnp.where(mask, 2.0 ** labels - 1.0, 0.0)
    disc = dcg_discounts(ranks)
    idcg = jnp.maximum(ideal_dcg(labels, mask), 1e-10)
    delta = jnp.abs(gains[..., :, None] - gains[..., None, :]) * \
        jnp.abs(disc[..., :, None] - disc[..., None, :])
    weights = lax.stop_gradient(delta / idcg[..., None, None])
    better = (labels[..., :, None] > labels[..., None, :]) & valid
    diff = scores[..., :, None] - scores[..., None, :]
    pair_loss = weights * jax.nn.softplus(-sigma * diff)
    n_pairs = jnp.maximum(jnp.sum(better, axis=(-2, -1)), 1)
    return jnp.mean(jnp.sum(jnp.where(better, pair_loss, 0.0), axis=(-2, -1)) / n_pairs)
