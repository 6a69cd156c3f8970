"""Marginal likelihoods and evidence lower bounds.

All objectives return a quantity to *maximise*; the training step negates it.
``params`` is a dictionary with "kernel", "likelihood" and, for sparse models,
"inducing" and "variational" entries.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from . import linalg
from .parameters import fill_triangular, positive

LOG_2PI = math.log(2.0 * math.pi)


def _prior_cholesky(kernel, params, X, cfg, noise=0.0):
    K = kernel(params["kernel"], X) + noise * jnp.eye(X.shape[0], dtype=X.dtype)
    if cfg.adaptive_jitter:
        return linalg.cholesky_with_retries(K, cfg.jitter)
    return linalg.cholesky(K, cfg.jitter)


def exact_marginal_log_likelihood(kernel, likelihood, params, X, y, cfg):
    """log N(y | 0, K + sigma^2 I) for a Gaussian likelihood."""
    L = _prior_cholesky(kernel, params, X, cfg, likelihood.variance(params["likelihood"]))
    alpha = linalg.cho_solve(L, y)
    n = y.shape[0]
    return -0.5 * jnp.dot(y, alpha) - 0.5 * linalg.logdet_from_cholesky(L) - 0.5 * n * LOG_2PI


def boxcox(y, lam, tol: float = 1e-6):
    """Box-Cox transform of strictly positive targets."""
    return jnp.where(jnp.abs(lam) < tol, jnp.log(y), (y ** lam - 1.0) / lam)


def warped_marginal_log_likelihood(kernel, likelihood, params, X, y, cfg):
    """Exact GP on Box-Cox warped targets plus the log-Jacobian of the warp."""
    lam = params["warp"]["lambda"]
    z = boxcox(y, lam)
    z = z - jnp.mean(z)
    log_jac = (lam - 1.0) * jnp.sum(jnp.log(y))
    return exact_marginal_log_likelihood(kernel, likelihood, params, X, z, cfg) + log_jac


def loo_log_predictive(kernel, likelihood, params, X, y, cfg):
    """Leave-one-out log predictive probability (Rasmussen & Williams, eq. 5.10)."""
    L = _prior_cholesky(kernel, params, X, cfg, likelihood.variance(params["likelihood"]))
    k_inv_diag = linalg.inverse_diag(L)
    alpha = linalg.cho_solve(L, y)
    loo_var = 1.0 / k_inv_diag
    loo_resid = alpha / k_inv_diag
    return jnp.sum(-0.5 * jnp.log(loo_var) - 0.5 * jnp.square(loo_resid) / loo_var - 0.5 * LOG_2PI)


def collapsed_elbo(kernel, likelihood, params, X, y, cfg):
    """Titsias (2009) bound with the optimal q(u) integrated out."""
    Z = params["inducing"]
    kp = params["kernel"]
    sigma2 = likelihood.variance(params["likelihood"])
    sigma = jnp.sqrt(sigma2)
    Luu = linalg.safe_cholesky(kernel(kp, Z), cfg.jitter)
    A = linalg.solve_lower(Luu, kernel(kp, Z, X)) / sigma
    M, n = A.shape
    LB = jnp.linalg.cholesky(jnp.eye(M, dtype=A.dtype) + A @ A.T)
    c = linalg.solve_lower(LB, A @ y) / sigma
    bound = -0.5 * n * (LOG_2PI + jnp.log(sigma2)) - 0.5 * linalg.logdet_from_cholesky(LB)
    bound = bound - 0.5 * jnp.dot(y, y) / sigma2 + 0.5 * jnp.dot(c, c)
    trace = jnp.sum(kernel.diag(kp, X)) / sigma2 - jnp.sum(jnp.square(A))
    return bound - 0.5 * trace


def gaussian_kl(q_mu, q_sqrt):
    """KL[N(q_mu, S) || N(0, I)] for a whitened inducing distribution, S = q_sqrt q_sqrt^T."""
    M = q_mu.shape[0]
    logdet_q = jnp.sum(jnp.log(jnp.square(jnp.diag(q_sqrt))))
    return 0.5 * (jnp.sum(jnp.square(q_mu)) + jnp.sum(jnp.square(q_sqrt)) - M - logdet_q)


def svgp_predict_latent(kernel, kp, X, Z, q_mu, q_sqrt, cfg):
    """Marginals of q(f) = int p(f | u) q(u) du with the whitened parameterisation."""
    Luu = jnp.linalg.cholesky(linalg.relative_jitter(kernel(kp, Z), cfg.jitter))
    A = linalg.solve_lower(Luu, kernel(kp, Z, X))
    fmean = A.T @ q_mu
    SA = q_sqrt.T @ A
    fvar = kernel.diag(kp, X) - jnp.sum(jnp.square(A), axis=0) + jnp.sum(jnp.square(SA), axis=0)
    return fmean, jnp.maximum(fvar, cfg.min_variance)


def svgp_elbo(kernel, likelihood, params, X, y, cfg, num_data=None, key=None):
    """Uncollapsed sparse variational bound (Hensman et al., 2015) on a minibatch."""
    Z = params["inducing"]
    Z = Z if cfg.train_inducing else jax.lax.stop_gradient(Z)
    q = params["variational"]
    M = Z.shape[0]

    def latent(q_mu, q_sqrt_vec):
        q_sqrt = fill_triangular(q_sqrt_vec, M)
        fmean, fvar = svgp_predict_latent(kernel, params["kernel"], X, Z, q_mu, q_sqrt, cfg)
        return fmean, fvar, gaussian_kl(q_mu, q_sqrt)

    fmean, fvar, kl = jax.vmap(latent)(q["q_mu"], q["q_sqrt"])
    if fmean.shape[0] == 1:
        fmean, fvar = fmean[0], fvar[0]
    else:
        fmean, fvar = fmean.T, fvar.T
    ve = likelihood.variational_expectations(params["likelihood"], fmean, fvar, y, key)
    num_data = X.shape[0] if num_data is None else num_data
    return num_data / X.shape[0] * jnp.sum(ve) - jnp.sum(kl)


def log_hyperprior(params, prior):
    """Log density of a prior on the lengthscales, added for MAP-II estimation."""
    if prior.kind == "none":
        return 0.0
    ls = positive(params["kernel"]["lengthscale"])
    if prior.kind == "laplace":
        return -jnp.sum(jnp.abs(jnp.log(ls) - prior.loc)) / prior.scale
    if prior.kind == "gamma":
        return jnp.sum((prior.concentration - 1.0) * jnp.log(ls) - prior.rate * ls)
    raise KeyError(f"unknown prior {prior.kind!r}")
