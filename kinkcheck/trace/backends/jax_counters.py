"""The JAX backend's device counters: count vectors summed lazily, read in one transfer.

A compiled step hands its count vectors over as outputs (:mod:`.jax_dispatch`), one int32
``[evaluations, exact, near, harmless, bins...]`` vector per site and call. Adding two on
the device would be one eager dispatch per site and step (tens of microseconds each, more
than the counting itself); a :class:`Sum` only keeps them, and folds them on the device, in
one call, once it holds :data:`FOLD` of them. Reading any number of counters to the host is
one transfer.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from kinkcheck.trace.backends import jax_state

#: vectors a sum keeps before it adds them up on the device (one jitted call)
FOLD = 32


class Sum:
    """An immutable sum of device count vectors (the core keeps a step's counter in its
    per-step row and adds it to the total: neither may change the other)."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple):
        self.parts = parts


def _parts(counter) -> tuple:
    return counter.parts if isinstance(counter, Sum) else (counter,)


@functools.cache
def _folder():
    """One program for every fold: a sum holds fewer than FOLD vectors, two of them fewer
    than 2 * FOLD (the rest are zeros)."""
    return jax.jit(lambda *xs: functools.reduce(jnp.add, xs))


def add(total, more):
    """``total + more`` without a device call (but every :data:`FOLD` vectors)."""
    parts = _parts(total) + _parts(more)
    if len(parts) >= FOLD:
        with jax_state.quiet():  # the fold's program is the tracer's, not the user's
            zero = jnp.zeros_like(parts[0])
            parts = (_folder()(*parts, *[zero] * (2 * FOLD - len(parts))),)
    return Sum(parts)


#: vectors one read takes (a fixed number: one program, compiled once)
READ = 64


@functools.cache
def _reader():
    return jax.jit(lambda *xs: jnp.stack(xs))


def _read(split: list[tuple]) -> list[np.ndarray]:
    """The sums of several counters' vectors, stacked on the device and read in one
    transfer per :data:`READ` vectors (each vector read on its own instead when they are
    not all alike on one device)."""
    flat = [p for parts in split for p in parts]
    first = flat[0]
    alike = all(getattr(p, "shape", None) == first.shape and getattr(p, "dtype", None) == first.dtype
                and isinstance(p, jax.Array) and p.devices() == first.devices() for p in flat)
    if alike:
        rows = [np.asarray(_reader()(*flat[i:i + READ], *[first] * (READ - len(flat[i:i + READ]))), np.int64)
                for i in range(0, len(flat), READ)]
        raw = np.concatenate(rows)
    else:
        raw = np.stack([np.asarray(p, np.int64) for p in flat])
    out, i = [], 0
    for parts in split:
        out.append(raw[i:i + len(parts)].sum(axis=0))
        i += len(parts)
    return out


def to_host(counters) -> list[np.ndarray]:
    """Device counters as host vectors (:mod:`kinkcheck.trace.counts`: without the
    evaluations), read in one transfer (per :data:`READ` vectors)."""
    counters = list(counters)
    if not counters:
        return []
    with jax_state.quiet():  # the read's program is the tracer's, not the user's
        return [row[1:].copy() for row in _read([_parts(c) for c in counters])]
