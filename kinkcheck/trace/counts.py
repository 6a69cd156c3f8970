"""The count layout every backend hands to a :class:`~kinkcheck.trace.site.Site`.

A *host* count is a numpy int64 vector ``[exact, near, harmless, decade bins...]`` (the bins
are :data:`~kinkcheck.trace.near.NBINS` decades of the distance to the kink, from
``HIST_LO``). A backend may instead keep *device* counters (torch tensors on a GPU, jax
arrays) in a layout of its own; it converts them with its ``counters_to_host`` (see
:class:`kinkcheck.trace.backends.Backend`), so counts stay on the device until the trace
is read.
"""

from __future__ import annotations

import numpy as np

from kinkcheck.trace.near import NBINS

#: index of each count in a host vector
EXACT, NEAR, HARMLESS, BINS = 0, 1, 2, 3
#: length of a host vector: [exact, near, harmless, bins...]
VEC_LEN = BINS + NBINS


def zeros() -> np.ndarray:
    """An empty host count vector."""
    return np.zeros(VEC_LEN, dtype=np.int64)
