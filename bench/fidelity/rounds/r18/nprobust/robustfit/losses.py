"""Robust regression losses.

Every loss works on (standardized) residuals r = (y - X b) / s and provides

* ``rho(r)``     -- the loss per observation,
* ``psi(r)``     -- its derivative d rho / d r (the influence function),
* ``weights(r)`` -- IRLS weights psi(r) / r.

The functional forms are also exported for use outside the class interface.
"""
from __future__ import annotations

import numpy as np

from .config import LossConfig


# ----------------------------------------------------------------------------
# functional forms
# ----------------------------------------------------------------------------

def huber(r, delta=1.345):
    r = np.asarray(r, dtype=float)
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_psi(r, delta=1.345):
    return np.clip(r, -delta, delta)


def tukey_biweight(r, c=4.685):
    u = np.asarray(r, dtype=float) / c
    inside = np.abs(u) <= 1.0
    core = (c * c / 6.0) * (1.0 - (1.0 - u * u) ** 3)
    return np.where(inside, core, c * c / 6.0)


def pinball(r, tau=0.5):
    """Check loss r * (tau - 1{r < 0})."""
    r = np.asarray(r, dtype=float)
    return r * (tau - (r < 0))


def smoothed_pinball(r, tau=0.5, h=0.1):
    """Check loss with a quadratic piece of half-width h around zero."""
    r = np.asarray(r, dtype=float)
    a = np.abs(r)
    hub = np.where(a <= h, r * r / (2.0 * h), a - 0.5 * h)
    return 0.5 * hub + (tau - 0.5) * r


def log_cosh(r):
    """log(cosh(r)) evaluated without overflow."""
    a = np.abs(np.asarray(r, dtype=float))
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


# ----------------------------------------------------------------------------
# class interface
# ----------------------------------------------------------------------------

class RobustLoss:
    """Base class; subclasses implement rho and psi."""

    name = "base"

    def rho(self, r):
        raise NotImplementedError

    def psi(self, r):
        raise NotImplementedError

    def weights(self, r):
        r = np.asarray(r, dtype=float)
        return self.psi(r) / r

    def __call__(self, r, sample_weight=None):
        values = self.rho(r)
        if sample_weight is None:
            return np.mean(values)
        w = np.asarray(sample_weight, dtype=float)
        return np.sum(w * values) / np.sum(w)


class SquaredLoss(RobustLoss):
    name = "l2"

    def rho(self, r):
        return 0.5 * np.square(r)

    def psi(self, r):
        return np.asarray(r, dtype=float)

    def weights(self, r):
        return np.ones_like(np.asarray(r, dtype=float))


class AbsoluteLoss(RobustLoss):
    name = "l1"

    def __init__(self, eps=1e-6):
        self.eps = eps

    def rho(self, r):
        return np.abs(r)

    def psi(self, r):
        return np.sign(r)

    def weights(self, r):
        return 1.0 / np.maximum(np.abs(r), self.eps)


class HuberLoss(RobustLoss):
    name = "huber"

    def __init__(self, delta=1.345):
        if delta <= 0:
            raise ValueError("delta must be positive")
        self.delta = float(delta)

    def rho(self, r):
        return huber(r, self.delta)

    def psi(self, r):
        return huber_psi(r, self.delta)

    def weights(self, r):
        a = np.abs(np.asarray(r, dtype=float))
        return np.minimum(1.0, self.delta / np.maximum(a, 1e-12))


class TukeyBiweight(RobustLoss):
    name = "tukey"

    def __init__(self, c=4.685):
        self.c = float(c)

    def rho(self, r):
        return tukey_biweight(r, self.c)

    def psi(self, r):
        r = np.asarray(r, dtype=float)
        u = r / self.c
        return np.where(np.abs(u) <= 1.0, r * (1.0 - u * u) ** 2, 0.0)

    def weights(self, r):
        u = np.asarray(r, dtype=float) / self.c
        w = (1.0 - u * u) ** 2
        w[np.abs(u) > 1.0] = 0.0
        return w


class CauchyLoss(RobustLoss):
    name = "cauchy"

    def __init__(self, c=2.3849):
        self.c = float(c)

    def rho(self, r):
        u = np.asarray(r, dtype=float) / self.c
        return 0.5 * self.c ** 2 * np.log1p(u * u)

    def psi(self, r):
        r = np.asarray(r, dtype=float)
        return r / (1.0 + (r / self.c) ** 2)

    def weights(self, r):
        u = np.asarray(r, dtype=float) / self.c
        return 1.0 / (1.0 + u * u)


class LogCoshLoss(RobustLoss):
    name = "logcosh"

    def rho(self, r):
        return log_cosh(r)

    def psi(self, r):
        return np.tanh(r)


class PinballLoss(RobustLoss):
    """Quantile (check) loss; `smoothing` > 0 uses the Huberized variant."""

    name = "quantile"

    def __init__(self, tau=0.5, smoothing=0.0, eps=1e-6):
        self.tau = float(tau)
        self.smoothing = float(smoothing)
        self.eps = eps

    def rho(self, r):
        if self.smoothing > 0:
            return smoothed_pinball(r, self.tau, self.smoothing)
        return pinball(r, self.tau)

    def psi(self, r):
        r = np.asarray(r, dtype=float)
        if self.smoothing > 0:
            h = self.smoothing
            return 0.5 * np.clip(r / h, -1.0, 1.0) + (self.tau - 0.5)
        return np.where(r < 0, self.tau - 1.0, self.tau)

    def weights(self, r):
        r = np.asarray(r, dtype=float)
        slope = np.where(r < 0, 1.0 - self.tau, self.tau)
        return slope / np.maximum(np.abs(r), self.eps)


def get_loss(config: LossConfig) -> RobustLoss:
    name = config.name
    if name == "l2":
        return SquaredLoss()
    if name == "l1":
        return AbsoluteLoss(eps=config.eps)
    if name == "huber":
        return HuberLoss(config.delta)
    if name == "tukey":
        return TukeyBiweight(config.c)
    if name == "cauchy":
        return CauchyLoss(config.cauchy_c)
    if name == "logcosh":
        return LogCoshLoss()
    if name == "quantile":
        return PinballLoss(config.tau, config.smoothing, config.eps)
    raise ValueError(f"unknown loss {name!r}")
