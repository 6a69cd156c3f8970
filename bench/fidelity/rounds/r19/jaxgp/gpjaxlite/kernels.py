"""Covariance functions.

Kernels are immutable descriptions; their hyperparameters are passed in as a
dictionary of raw arrays (see :mod:`gpjaxlite.parameters`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from .parameters import positive


def squared_distance(X1, X2):
    """Pairwise squared Euclidean distances between the rows of X1 and X2."""
    X1sq = jnp.sum(jnp.square(X1), axis=-1)
    X2sq = jnp.sum(jnp.square(X2), axis=-1)
    r2 = X1sq[:, None] + X2sq[None, :] - 2.0 * X1 @ X2.T
    return jnp.maximum(r2, 0.0)


def euclidean_distance(X1, X2):
    return jnp.sqrt(squared_distance(X1, X2))


@dataclass(frozen=True)
class Kernel:
    def __call__(self, params, X1, X2=None):
        raise NotImplementedError

    def diag(self, params, X):
        return jnp.diag(self(params, X))


@dataclass(frozen=True)
class Stationary(Kernel):
    def variance(self, params):
        return positive(params["variance"])

    def scale(self, params, X):
        return X / positive(params["lengthscale"])

    def scaled_sq_dist(self, params, X1, X2=None):
        X2 = X1 if X2 is None else X2
        return squared_distance(self.scale(params, X1), self.scale(params, X2))

    def scaled_dist(self, params, X1, X2=None):
        X2 = X1 if X2 is None else X2
        return euclidean_distance(self.scale(params, X1), self.scale(params, X2))

    def diag(self, params, X):
        return jnp.full((X.shape[0],), self.variance(params))


@dataclass(frozen=True)
class RBF(Stationary):
    def __call__(self, params, X1, X2=None):
        return self.variance(params) * jnp.exp(-0.5 * self.scaled_sq_dist(params, X1, X2))


@dataclass(frozen=True)
class Matern12(Stationary):
    def __call__(self, params, X1, X2=None):
        return self.variance(params) * jnp.exp(-self.scaled_dist(params, X1, X2))


@dataclass(frozen=True)
class Matern32(Stationary):
    def __call__(self, params, X1, X2=None):
        r = math.sqrt(3.0) * self.scaled_dist(params, X1, X2)
        return self.variance(params) * (1.0 + r) * jnp.exp(-r)


@dataclass(frozen=True)
class Matern52(Stationary):
    def __call__(self, params, X1, X2=None):
        r = math.sqrt(5.0) * self.scaled_dist(params, X1, X2)
        return self.variance(params) * (1.0 + r + jnp.square(r) / 3.0) * jnp.exp(-r)


@dataclass(frozen=True)
class RationalQuadratic(Stationary):
    def __call__(self, params, X1, X2=None):
        alpha = positive(params["alpha"])
        r2 = self.scaled_sq_dist(params, X1, X2)
        return self.variance(params) * (1.0 + r2 / (2.0 * alpha)) ** (-alpha)


@dataclass(frozen=True)
class Periodic(Stationary):
    """Exp-sine-squared kernel on the distance of period-scaled inputs (one-dimensional X)."""

    def __call__(self, params, X1, X2=None):
        X2 = X1 if X2 is None else X2
        period = positive(params["period"])
        r2 = squared_distance(X1 / period, X2 / period)
        dist = jnp.sqrt(jnp.maximum(r2, 1e-30))
        ls = positive(params["lengthscale"][0])
        return self.variance(params) * jnp.exp(-2.0 * jnp.square(jnp.sin(jnp.pi * dist)) / jnp.square(ls))


@dataclass(frozen=True)
class Brownian(Kernel):
    """Wiener-process covariance ``s * min(x, x')`` on a single non-negative input."""

    def __call__(self, params, X1, X2=None):
        X2 = X1 if X2 is None else X2
        return positive(params["variance"]) * jnp.minimum(X1[:, :1], X2[:, :1].T)

    def diag(self, params, X):
        return positive(params["variance"]) * X[:, 0]


@dataclass(frozen=True)
class ArcCosine(Kernel):
    """Arc-cosine kernel of Cho & Saul (2009), orders 0 and 1."""

    order: int = 1
    jitter: float = 1e-6

    def _norms(self, params, X):
        w = positive(params["weight_variances"])
        b = positive(params["bias_variance"])
        return jnp.sqrt(jnp.sum(w * jnp.square(X), axis=-1) + b)

    def __call__(self, params, X1, X2=None):
        X2 = X1 if X2 is None else X2
        w = positive(params["weight_variances"])
        inner = (w * X1) @ X2.T + positive(params["bias_variance"])
        n1, n2 = self._norms(params, X1), self._norms(params, X2)
        cos_theta = inner / (n1[:, None] * n2[None, :])
        theta = jnp.arccos(self.jitter + (1.0 - 2.0 * self.jitter) * cos_theta)
        if self.order == 0:
            J = jnp.pi - theta
        elif self.order == 1:
            J = jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta)
        else:
            raise ValueError(f"unsupported arc-cosine order {self.order}")
        norms = (n1[:, None] * n2[None, :]) ** self.order
        return positive(params["variance"]) / jnp.pi * J * norms


@dataclass(frozen=True)
class InputWarped(Kernel):
    """Kumaraswamy-CDF input warping (Snoek et al., 2014) for inputs in [0, 1]."""

    base: Kernel

    def warp(self, params, X):
        a = positive(params["warp_a"])
        b = positive(params["warp_b"])
        return 1.0 - (1.0 - X ** a) ** b

    def __call__(self, params, X1, X2=None):
        W2 = None if X2 is None else self.warp(params, X2)
        return self.base(params, self.warp(params, X1), W2)

    def diag(self, params, X):
        return self.base.diag(params, self.warp(params, X))


class FeatureExtractor(nn.Module):
    """MLP feature map for deep kernel learning."""

    hidden: Sequence[int] = (64, 32)
    out_dim: int = 2

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.out_dim)(x)


def scale_to_bounds(F, lower: float = -1.0, upper: float = 1.0, eps: float = 1e-6):
    """Map features affinely into ``[lower, upper]`` using the batch extrema as statistics."""
    lo, hi = jax.lax.stop_gradient((jnp.min(F), jnp.max(F)))
    return lower + 0.95 * (upper - lower) * (F - lo) / (hi - lo + eps)


@dataclass(frozen=True)
class DeepKernel(Kernel):
    base: Kernel
    net: FeatureExtractor

    def features(self, params, X):
        return scale_to_bounds(self.net.apply({"params": params["net"]}, X))

    def __call__(self, params, X1, X2=None):
        F2 = None if X2 is None else self.features(params, X2)
        return self.base(params["base"], self.features(params, X1), F2)

    def diag(self, params, X):
        return self.base.diag(params["base"], self.features(params, X))


_REGISTRY = {
    "rbf": RBF, "matern12": Matern12, "matern32": Matern32, "matern52": Matern52,
    "rq": RationalQuadratic, "periodic": Periodic, "brownian": Brownian,
}


def build_kernel(cfg, net: Optional[FeatureExtractor] = None) -> Kernel:
    if cfg.kind == "arccos":
        kernel: Kernel = ArcCosine(order=cfg.arccos_order)
    elif cfg.kind in _REGISTRY:
        kernel = _REGISTRY[cfg.kind]()
    else:
        raise KeyError(f"unknown kernel {cfg.kind!r}")
    if cfg.warp and cfg.feature_dims is not None:
        raise ValueError("input warping expects raw inputs in [0, 1], not learned features")
    if cfg.warp:
        kernel = InputWarped(kernel)
    if cfg.feature_dims is not None:
        kernel = DeepKernel(kernel, net or FeatureExtractor(hidden=cfg.feature_dims[:-1],
                                                            out_dim=cfg.feature_dims[-1]))
    return kernel
