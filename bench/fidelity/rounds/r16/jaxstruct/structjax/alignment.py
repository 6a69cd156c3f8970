"""Alignment losses: soft-DTW (Cuturi & Blondel, 2017), DILATE and CTC."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .config import CTCConfig, SoftDTWConfig
from .utils import (NEG_INF, band_mask, pairwise_cosine, pairwise_euclidean,
                    pairwise_minkowski, pairwise_sq_euclidean, reduce_loss,
                    softmin, time_distortion_penalty)

_BIG = 1e10


def distance_matrix(x, y, distance="sqeuclidean", p=2.0):
    if distance == "sqeuclidean":
        return pairwise_sq_euclidean(x, y)
    if distance == "euclidean":
        return pairwise_euclidean(x, y)
    if distance == "cosine":
        return pairwise_cosine(x, y)
    if distance == "minkowski":
        return pairwise_minkowski(x, y, p)
    raise ValueError(f"unknown distance {distance!r}")


def soft_dtw_value(D, gamma):
    """Soft-DTW recursion R[i, j] = D[i, j] + softmin(R[i-1, j-1], R[i-1, j], R[i, j-1]).

    Rows are scanned with ``lax.scan``; inside a row the left neighbour is carried.
    """
    n, m = D.shape

    def row_step(prev_row, d_row):
        def col_step(left, inputs):
            diag, up, d = inputs
            r = d + softmin(jnp.stack([diag, up, left]), gamma, axis=0)
            return r, r

        _, row = lax.scan(col_step, jnp.asarray(_BIG, D.dtype),
                          (prev_row[:-1], prev_row[1:], d_row))
        return jnp.concatenate([jnp.full((1,), _BIG, D.dtype), row]), None

    init = jnp.concatenate([jnp.zeros((1,), D.dtype), jnp.full((m,), _BIG, D.dtype)])
    last_row, _ = lax.scan(row_step, init, D)
    return last_row[-1]


def soft_alignment(D, gamma):
    """Expected alignment matrix E = dR[n, m] / dD."""
    return jax.grad(soft_dtw_value)(D, gamma)


def rescale_costs(D, max_cost):
    peak = jnp.max(D)
    scale = jnp.where(peak > max_cost, max_cost / peak, 1.0)
    return D * scale


def soft_dtw(x, y, gamma=1.0, distance="sqeuclidean", p=2.0, bandwidth=None,
             max_cost=None):
    D = distance_matrix(x, y, distance, p)
    if max_cost is not None:
        D = rescale_costs(D, max_cost)
    if bandwidth is not None:
        D = jnp.where(band_mask(*D.shape, bandwidth), D, _BIG)
    return soft_dtw_value(D, gamma)


def soft_dtw_divergence(x, y, **kwargs):
    """D(x, y) = sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2 (Blondel et al., 2021)."""
    xy = soft_dtw(x, y, **kwargs)
    xx = soft_dtw(x, x, **kwargs)
    yy = soft_dtw(y, y, **kwargs)
    return xy - 0.5 * (xx + yy)


def dilate_loss(x, y, gamma=0.01, alpha=0.5):
    """DILATE = alpha * shape (soft-DTW) + (1 - alpha) * temporal (TDI) term."""
    n, m = x.shape[0], y.shape[0]
    D = pairwise_sq_euclidean(x, y)
    shape_term = soft_dtw_value(D, gamma)
    E = lax.stop_gradient(soft_alignment(D, gamma))
    temporal_term = jnp.sum(E * time_distortion_penalty(n, m))
    return alpha * shape_term + (1.0 - alpha) * temporal_term


class SoftDTWLoss:
    """Batched soft-DTW loss for [B, N, d] predictions against [B, M, d] targets."""

    def __init__(self, config: SoftDTWConfig = SoftDTWConfig()):
        self.config = config

    def _pair_fn(self):
        c = self.config
        if c.dilate_alpha < 1.0:
            return functools.partial(dilate_loss, gamma=c.gamma, alpha=c.dilate_alpha)
        kwargs = dict(gamma=c.gamma, distance=c.distance, p=c.minkowski_p,
                      bandwidth=c.bandwidth, max_cost=c.max_cost)
        fn = soft_dtw_divergence if c.normalize else soft_dtw
        return functools.partial(fn, **kwargs)

    def __call__(self, pred, target, reduction="mean"):
        values = jax.vmap(self._pair_fn())(pred, target)
        values = values / (pred.shape[1] + target.shape[1])
        return reduce_loss(values, reduction)


def _extend_with_blanks(labels, blank_id):
    L = labels.shape[0]
    ext = jnp.full((2 * L + 1,), blank_id, dtype=labels.dtype)
    return ext.at[1::2].set(labels)


def ctc_log_likelihood(log_probs, frame_mask, labels, label_mask, blank_id=0):
    """log p(labels | x) for one utterance. log_probs [T, K], labels [L]."""
    ext = _extend_with_blanks(labels, blank_id)
    S = ext.shape[0]
    label_len = jnp.sum(label_mask.astype(jnp.int32))
    ext_len = 2 * label_len + 1
    not_blank = ext != blank_id
    differs = jnp.concatenate([jnp.zeros((2,), bool), ext[2:] != ext[:-2]])
    can_skip = not_blank & differs

    alpha = jnp.full((S,), NEG_INF, log_probs.dtype)
    alpha = alpha.at[0].set(log_probs[0, blank_id])
    alpha = alpha.at[1].set(jnp.where(label_len > 0, log_probs[0, ext[1]], NEG_INF))

    def step(alpha, inputs):
        lp_t, valid_t = inputs
        stay = alpha
        advance = jnp.concatenate([jnp.full((1,), NEG_INF, alpha.dtype), alpha[:-1]])
        skip = jnp.concatenate([jnp.full((2,), NEG_INF, alpha.dtype), alpha[:-2]])
        skip = jnp.where(can_skip, skip, NEG_INF)
        new_alpha = jnp.logaddexp(jnp.logaddexp(stay, advance), skip) + lp_t[ext]
        return jnp.where(valid_t, new_alpha, alpha), None

    alpha, _ = lax.scan(step, alpha, (log_probs[1:], frame_mask[1:]))
    last_blank = alpha[ext_len - 1]
    last_label = jnp.where(label_len > 0, alpha[jnp.maximum(ext_len - 2, 0)], NEG_INF)
    return jnp.logaddexp(last_blank, last_label)


def ctc_loss(outputs, frame_mask, labels, label_mask, config: CTCConfig = CTCConfig()):
    """Batched CTC negative log-likelihood.

    ``outputs`` are logits [B, T, K] when ``config.from_logits`` and per-frame
    probabilities otherwise.
    """
    if config.from_logits:
        log_probs = jax.nn.log_softmax(outputs, axis=-1)
    else:
        log_probs = jnp.log(outputs)
    ll = jax.vmap(functools.partial(ctc_log_likelihood, blank_id=config.blank_id))(
        log_probs, frame_mask, labels, label_mask)
    nll = -ll
    if config.zero_infinity:
        nll = jnp.where(nll > 0.5 * -NEG_INF, 0.0, nll)
    if config.reduction == "mean":
        target_lengths = jnp.sum(label_mask, axis=-1).astype(nll.dtype)
        return jnp.mean(nll / jnp.maximum(target_lengths, 1.0))
    return reduce_loss(nll, config.reduction)
