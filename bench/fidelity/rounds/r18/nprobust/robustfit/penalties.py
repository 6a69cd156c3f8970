"""Coefficient penalties with values, (sub)gradients and proximal operators."""
from __future__ import annotations

import math

import numpy as np

from .config import PenaltyConfig
from .utils import EPS, smooth_abs


def soft_threshold(z, thresh):
    """Proximal operator of thresh * ||.||_1."""
    return np.sign(z) * np.maximum(np.abs(z) - thresh, 0.0)


class Penalty:
    smooth = True

    def value(self, coef):
        return 0.0

    def grad(self, coef):
        return np.zeros_like(coef)

    def prox(self, coef, step):
        return coef


class L2Penalty(Penalty):
    def __init__(self, alpha):
        self.alpha = float(alpha)

    def value(self, coef):
        return 0.5 * self.alpha * float(coef @ coef)

    def grad(self, coef):
        return self.alpha * coef

    def prox(self, coef, step):
        return coef / (1.0 + step * self.alpha)


class L1Penalty(Penalty):
    smooth = False

    def __init__(self, alpha, smoothing=0.0):
        self.alpha = float(alpha)
        self.smoothing = smoothing

    def value(self, coef):
        if self.smoothing > 0:
            return self.alpha * np.sum(smooth_abs(coef, self.smoothing))
        return self.alpha * np.sum(np.abs(coef))

    def grad(self, coef):
        """Subgradient; the minimum-norm choice is 0 at coef == 0."""
        if self.smoothing > 0:
            return self.alpha * coef / smooth_abs(coef, self.smoothing)
        return self.alpha * np.sign(coef)

    def prox(self, coef, step):
        return soft_threshold(coef, step * self.alpha)


class ElasticNetPenalty(Penalty):
    smooth = False

    def __init__(self, alpha, l1_ratio=0.5):
        self.alpha = float(alpha)
        self.l1_ratio = float(l1_ratio)

    def value(self, coef):
        l1 = np.linalg.norm(coef, ord=1)
        l2 = 0.5 * float(coef @ coef)
        return self.alpha * (self.l1_ratio * l1 + (1.0 - self.l1_ratio) * l2)

    def grad(self, coef):
        return self.alpha * (self.l1_ratio * np.sign(coef) + (1.0 - self.l1_ratio) * coef)

    def prox(self, coef, step):
        shrunk = soft_threshold(coef, step * self.alpha * self.l1_ratio)
        return shrunk / (1.0 + step * self.alpha * (1.0 - self.l1_ratio))


class GroupLassoPenalty(Penalty):
    """sum_g sqrt(|g|) * ||coef_g||_2."""

    smooth = False

    def __init__(self, alpha, groups):
        self.alpha = float(alpha)
        self.groups = [np.asarray(g, dtype=int) for g in groups]
        self.group_weights = [math.sqrt(len(g)) for g in self.groups]

    def value(self, coef):
        total = 0.0
        for g, wg in zip(self.groups, self.group_weights):
            total += wg * np.linalg.norm(coef[g])
        return self.alpha * total

    def prox(self, coef, step):
        out = coef.copy()
        for g, wg in zip(self.groups, self.group_weights):
            norm = np.linalg.norm(coef[g])
            shrink = max(0.0, 1.0 - step * self.alpha * wg / max(norm, EPS))
            out[g] = shrink * coef[g]
        return out


def get_penalty(config: PenaltyConfig) -> Penalty:
    if config.name == "none" or config.alpha == 0.0:
        return Penalty()
    if config.name == "l2":
        return L2Penalty(config.alpha)
    if config.name == "l1":
        return L1Penalty(config.alpha)
    if config.name == "elasticnet":
        return ElasticNetPenalty(config.alpha, config.l1_ratio)
    if config.name == "group":
        return GroupLassoPenalty(config.alpha, config.groups)
    raise ValueError(f"unknown penalty {config.name!r}")
