"""Linear-chain conditional random fields: partition function, gold scores, decoding."""
from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from .utils import logsumexp, reduce_loss


def _time_major(x):
    return jnp.swapaxes(x, 0, 1)


def crf_log_partition(emissions, transitions, mask, start=None, end=None):
    """Forward algorithm in log space.

    Args:
      emissions: [B, T, K] unary potentials.
      transitions: [K, K] pairwise potentials, ``transitions[i, j]`` scores i -> j.
      mask: [B, T] boolean, True on valid positions (left-aligned).
      start, end: optional [K] boundary potentials.
    Returns:
      [B] log Z.
    """
    alpha = emissions[:, 0]
    if start is not None:
        alpha = alpha + start[None, :]

    def step(alpha, inputs):
        emit_t, mask_t = inputs
        scores = alpha[:, :, None] + transitions[None, :, :] + emit_t[:, None, :]
        new_alpha = logsumexp(scores, axis=1)
        return jnp.where(mask_t[:, None], new_alpha, alpha), None

    xs = (_time_major(emissions[:, 1:]), _time_major(mask[:, 1:]))
    alpha, _ = lax.scan(step, alpha, xs)
    if end is not None:
        alpha = alpha + end[None, :]
    return logsumexp(alpha, axis=-1)


def crf_sequence_score(emissions, tags, transitions, mask, start=None, end=None):
    """Unnormalized score of the tag sequences ``tags`` [B, T]."""
    maskf = mask.astype(emissions.dtype)
    emit = jnp.take_along_axis(emissions, tags[..., None], axis=-1)[..., 0]
    trans = transitions[tags[:, :-1], tags[:, 1:]]
    score = jnp.sum(emit * maskf, axis=1) + jnp.sum(trans * maskf[:, 1:], axis=1)
    if start is not None:
        score = score + start[tags[:, 0]]
    if end is not None:
        lengths = jnp.sum(mask, axis=1).astype(jnp.int32)
        last_idx = jnp.maximum(lengths - 1, 0)
        last_tags = jnp.take_along_axis(tags, last_idx[:, None], axis=1)[:, 0]
        score = score + end[last_tags]
    return score


def crf_nll(emissions, tags, transitions, mask, start=None, end=None):
    log_z = crf_log_partition(emissions, transitions, mask, start, end)
    gold = crf_sequence_score(emissions, tags, transitions, mask, start, end)
    return log_z - gold


def crf_marginals(emissions, transitions, mask, start=None, end=None):
    """Unary posterior marginals p(y_t = k | x), as the gradient of log Z."""
    def total_log_z(e):
        return jnp.sum(crf_log_partition(e, transitions, mask, start, end))

    return jax.grad(total_log_z)(emissions)


def marginal_entropy(marginals, mask):
    """Mean per-token entropy of the posterior marginals."""
    ent = -jnp.sum(marginals * jnp.log(marginals), axis=-1)
    maskf = mask.astype(ent.dtype)
    return jnp.sum(ent * maskf) / jnp.maximum(jnp.sum(maskf), 1.0)


def viterbi_decode(emissions, transitions, mask, start=None, end=None):
    """Max-product decoding.

    Returns:
      tags: [B, T] best tag sequences (entries past the length are the last valid tag).
      scores: [B] score of the best sequence.
    """
    delta = emissions[:, 0]
    if start is not None:
        delta = delta + start[None, :]

    def forward(delta, inputs):
        emit_t, mask_t = inputs
        scores = delta[:, :, None] + transitions[None, :, :]
        backptr = jnp.argmax(scores, axis=1)
        new_delta = jnp.max(scores, axis=1) + emit_t
        delta = jnp.where(mask_t[:, None], new_delta, delta)
        identity = jnp.broadcast_to(jnp.arange(delta.shape[-1]), backptr.shape)
        backptr = jnp.where(mask_t[:, None], backptr, identity)
        return delta, backptr

    xs = (_time_major(emissions[:, 1:]), _time_major(mask[:, 1:]))
    delta, backptrs = lax.scan(forward, delta, xs)
    if end is not None:
        delta = delta + end[None, :]
    best_last = jnp.argmax(delta, axis=-1)
    best_score = jnp.max(delta, axis=-1)

    def backward(tag, backptr_t):
        prev = jnp.take_along_axis(backptr_t, tag[:, None], axis=-1)[:, 0]
        return prev, prev

    _, prev_tags = lax.scan(backward, best_last, backptrs, reverse=True)
    tags = jnp.concatenate([_time_major(prev_tags), best_last[:, None]], axis=1)
    return tags, best_score


class LinearChainCRF(nn.Module):
    """CRF layer holding the transition parameters."""

    num_tags: int
    use_start_end: bool = True
    init_scale: float = 0.1

    def setup(self):
        init = nn.initializers.uniform(scale=self.init_scale)
        self.transitions = self.param("transitions", init, (self.num_tags, self.num_tags))
        if self.use_start_end:
            self.start = self.param("start", init, (self.num_tags,))
            self.end = self.param("end", init, (self.num_tags,))
        else:
            self.start = None
            self.end = None

    def __call__(self, emissions, tags, mask):
        """Per-sequence negative log-likelihood [B]."""
        return crf_nll(emissions, tags, self.transitions, mask, self.start, self.end)

    def decode(self, emissions, mask):
        return viterbi_decode(emissions, self.transitions, mask, self.start, self.end)


def crf_loss(emissions, tags, mask, params, reduction="mean",
             normalize_by_length=True, entropy_weight: Optional[float] = 0.0):
    """Functional CRF loss on a parameter dict {"transitions", "start"?, "end"?}."""
    transitions = params["transitions"]
    start = params.get("start")
    end = params.get("end")
    nll = crf_nll(emissions, tags, transitions, mask, start, end)
    if normalize_by_length:
        lengths = jnp.sum(mask, axis=1).astype(nll.dtype)
        nll = nll / jnp.maximum(lengths, 1.0)
    loss = reduce_loss(nll, reduction)
    if entropy_weight:
        probs = crf_marginals(emissions, transitions, mask, start, end)
        loss = loss + entropy_weight * marginal_entropy(probs, mask)
    return loss
