"""The reference counts the CPU fast counts are tested against (shared by the fast-count and
dense-hit tests; a module of its own, not conftest): the generic count on the dense distances."""

import numpy as np
import torch

from kinkcheck.trace.backends.torch_count import ReluWindows, count_host, count_host_rel, count_relu_windows

FAC = 4 * torch.finfo(torch.float32).eps
ABS = 1e-30


def dense(vals, second):
    """The distances the generic count takes: gap / sign(vals), NaN made +inf."""
    d = torch.sub(vals, second).div_(torch.sign(vals))
    return d.nan_to_num_(nan=float("inf"))


def generic(vals, second):
    """Max-pool windows over a ReLU counted by the generic count, the zero windows added."""
    vec = count_host_rel(dense(vals, second), vals, FAC, ABS)
    vec = np.zeros(43, dtype=np.int64) if vec is None else vec
    vec[2] += int((vals == 0).sum())  # the zero windows
    return vec


def fast(vals, second):
    """The same windows by the fast count (its harmless windows added back)."""
    vec, harmless = count_relu_windows(ReluWindows(vals, second), FAC, ABS)
    vec = np.zeros(43, dtype=np.int64) if vec is None else vec.copy()
    vec[2] += harmless
    return vec


def dense_count(x):
    """A ReLU input's |x| counted densely, on the scale of its largest magnitude."""
    d = x.abs()
    return count_host(d, float(d.amax()) * FAC + ABS)
