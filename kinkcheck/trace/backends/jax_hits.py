"""Exact and near hits among an op's distances to its kink, and the near hits' decades.

On the device, inside the compiled program (:mod:`.jax_count`): a few passes over the
distances, each one fused reduction, and a fixed amount of work for the decades whatever the
number of hits (XLA:CPU runs no branch cheaply: see :func:`.jax_count.count_vector`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from kinkcheck.trace.near import HIST_HI, HIST_LO, NBINS

_BLOCK, _BUSY, _FEW = 1024, 16, 32


def _sums(*arrays, axis):
    """Integer sums of several 0/1 arrays in one variadic reduction (one pass, not one each)."""
    zeros = tuple(np.int32(0) for _ in arrays)
    return lax.reduce(arrays, zeros, lambda a, b: tuple(u + v for u, v in zip(a, b)), (axis,))


def counts(flat, tol):
    """(exact hits, near hits, near hits by decade) for distances ``flat`` and a tolerance (one
    for all, or one per element). One pass over the distances counts exact
    and near hits per block of 1,024; the near decades come from the (at most 32) nearest hits
    of the (at most 16) blocks holding the most. Past 32 near hits in one op (or near hits in
    more than 16 blocks) the others are binned at the decade of the farthest binned one (they
    lie at or beyond it), so the decades always add up to the near hits."""
    n = flat.size
    if jnp.ndim(tol) or (n > _BLOCK * _BUSY and n % _BLOCK):  # one per element, or the padding's own
        tol = jnp.broadcast_to(tol, flat.shape)
    if n <= _BLOCK * _BUSY:
        exact, n_near = _sums((flat == 0).astype(jnp.int32), ((flat > 0) & (flat <= tol)).astype(jnp.int32), axis=0)
        picked, picked_tol = flat, tol
    else:
        nb = -(-n // _BLOCK)
        pad = nb * _BLOCK - n
        blocks = (jnp.concatenate([flat, jnp.full(pad, jnp.inf, flat.dtype)]) if pad else flat).reshape(nb, _BLOCK)
        tols = (jnp.concatenate([tol, jnp.zeros(pad, tol.dtype)]) if pad else tol).reshape(nb, _BLOCK) \
            if jnp.ndim(tol) else tol
        ex, per_block = _sums((blocks == 0).astype(jnp.int32), ((blocks > 0) & (blocks <= tols)).astype(jnp.int32),
                              axis=1)
        exact, n_near = jnp.sum(ex), jnp.sum(per_block)
        rows = lax.top_k(per_block, _BUSY)[1]
        picked, picked_tol = blocks[rows].ravel(), tols[rows].ravel() if jnp.ndim(tols) else tols
    k = min(_FEW, picked.size)
    is_near = (picked > 0) & (picked <= picked_tol)
    neg, at = lax.top_k(-jnp.where(is_near, picked, jnp.inf), k)
    bins = _bin(picked[at], picked_tol[at] if jnp.ndim(picked_tol) else picked_tol)
    far = jnp.max(jnp.where(jnp.isfinite(neg), _decade(-neg, jnp.isfinite(neg)), 0))
    return exact, n_near, bins.at[far].add(n_near - jnp.sum(bins))


def _decade(d, is_near):
    return jnp.clip(jnp.floor(jnp.log10(jnp.where(is_near, d, 1))), HIST_LO, HIST_HI).astype(jnp.int32) - HIST_LO


def _bin(d, tol):
    """Decade counts of the near elements among a few distances (compares, no scatter)."""
    is_near = (d > 0) & (d <= tol)
    onehot = (_decade(d, is_near)[:, None] == jnp.arange(NBINS, dtype=jnp.int32)) & is_near[:, None]
    return jnp.sum(onehot, axis=0, dtype=jnp.int32)

