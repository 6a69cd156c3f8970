"""Observation models and their variational expectations."""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, gammaln

from .parameters import positive

LOG_2PI = math.log(2.0 * math.pi)


def gauss_hermite(n: int):
    """Nodes and weights for E_{N(0,1)}[g] ~ sum_i w_i g(sqrt(2) x_i)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return jnp.asarray(x * math.sqrt(2.0)), jnp.asarray(w / math.sqrt(math.pi))


def inv_probit(f, jitter: float = 1e-3):
    p = 0.5 * (1.0 + erf(f / math.sqrt(2.0)))
    return p * (1.0 - 2.0 * jitter) + jitter


def log_sigmoid(f):
    return jnp.minimum(f, 0.0) - jnp.log1p(jnp.exp(-jnp.abs(f)))


@dataclass(frozen=True)
class Likelihood:
    num_quadrature: int = 20

    def log_prob(self, params, F, Y):
        raise NotImplementedError

    def variational_expectations(self, params, Fmu, Fvar, Y, key=None):
        """E_{q(f)}[log p(y | f)] for q(f) = N(Fmu, Fvar) by Gauss-Hermite quadrature."""
        x, w = gauss_hermite(self.num_quadrature)
        F = Fmu[..., None] + jnp.sqrt(Fvar)[..., None] * x
        return jnp.sum(w * self.log_prob(params, F, Y[..., None]), axis=-1)


@dataclass(frozen=True)
class Gaussian(Likelihood):
    noise_floor: float = 1e-4

    def variance(self, params):
        return jnp.maximum(jax.nn.softplus(params["noise"]), self.noise_floor)

    def log_prob(self, params, F, Y):
        var = self.variance(params)
        return -0.5 * (LOG_2PI + jnp.log(var) + jnp.square(Y - F) / var)

    def variational_expectations(self, params, Fmu, Fvar, Y, key=None):
        var = self.variance(params)
        return -0.5 * (LOG_2PI + jnp.log(var) + (jnp.square(Y - Fmu) + Fvar) / var)

    def predict(self, params, Fmu, Fvar):
        return Fmu, Fvar + self.variance(params)


@dataclass(frozen=True)
class Laplacian(Likelihood):
    """Heavy-tailed noise ``p(y | f) = exp(-|y - f| / b) / 2b`` for robust regression."""

    def log_prob(self, params, F, Y):
        b = positive(params["scale"])
        return -jnp.abs(Y - F) / b - jnp.log(2.0 * b)


@dataclass(frozen=True)
class Poisson(Likelihood):
    """Counts with a softplus rate, which stays linear for large latent values."""

    def log_prob(self, params, F, Y):
        rate = jax.nn.softplus(F)
        return Y * jnp.log(rate) - rate - gammaln(Y + 1.0)


@dataclass(frozen=True)
class Bernoulli(Likelihood):
    link: str = "probit"

    def log_prob(self, params, F, Y):
        if self.link == "probit":
            p = inv_probit(F)
            return Y * jnp.log(p) + (1.0 - Y) * jnp.log(1.0 - p)
        return Y * log_sigmoid(F) + (1.0 - Y) * log_sigmoid(-F)

    def predict_proba(self, params, Fmu, Fvar):
        if self.link == "probit":
            return inv_probit(Fmu / jnp.sqrt(1.0 + Fvar))
        return jax.nn.sigmoid(Fmu / jnp.sqrt(1.0 + math.pi * Fvar / 8.0))


@dataclass(frozen=True)
class MultiClass(Likelihood):
    """Robust-max multi-class likelihood (Hernandez-Lobato et al., 2011)."""

    num_classes: int = 3
    epsilon: float = 1e-3
    num_samples: int = 16

    def class_probs(self, F):
        hot = jax.nn.one_hot(jnp.argmax(F, axis=-1), self.num_classes)
        return hot * (1.0 - self.epsilon) + (1.0 - hot) * self.epsilon / (self.num_classes - 1)

    def log_prob(self, params, F, Y):
        probs = self.class_probs(F)
        picked = jnp.take_along_axis(probs, Y[..., None].astype(jnp.int32), axis=-1)[..., 0]
        return jnp.log(picked)

    def variational_expectations(self, params, Fmu, Fvar, Y, key=None):
        """Monte Carlo estimate; ``Fmu`` and ``Fvar`` have shape (N, num_classes)."""
        key = jax.random.PRNGKey(0) if key is None else key
        eps = jax.random.normal(key, (self.num_samples,) + Fmu.shape, Fmu.dtype)
        F = Fmu + jnp.sqrt(Fvar) * eps
        return jnp.mean(self.log_prob(params, F, Y[None]), axis=0)


def build_likelihood(cfg) -> Likelihood:
    if cfg.kind == "gaussian":
        return Gaussian(num_quadrature=cfg.num_quadrature, noise_floor=cfg.noise_floor)
    if cfg.kind == "laplacian":
        return Laplacian(num_quadrature=cfg.num_quadrature)
    if cfg.kind == "poisson":
        return Poisson(num_quadrature=cfg.num_quadrature)
    if cfg.kind == "bernoulli":
        return Bernoulli(num_quadrature=cfg.num_quadrature, link=cfg.link)
    if cfg.kind == "multiclass":
        return MultiClass(num_classes=cfg.num_classes, num_samples=cfg.num_samples)
    raise KeyError(f"unknown likelihood {cfg.kind!r}")
