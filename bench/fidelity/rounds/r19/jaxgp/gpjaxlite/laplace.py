"""Laplace approximation for GP classification (Rasmussen & Williams, Alg. 3.1-3.2)."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import linalg


class LaplacePosterior(NamedTuple):
    f_hat: jnp.ndarray
    grad: jnp.ndarray
    sqrt_w: jnp.ndarray
    L_b: jnp.ndarray


def _derivatives(likelihood, lik_params, f, y):
    """First derivative and negative second derivative of log p(y | f), elementwise."""
    def lp(fi, yi):
        return likelihood.log_prob(lik_params, fi, yi)

    d1 = jax.vmap(jax.grad(lp))(f, y)
    d2 = jax.vmap(jax.grad(jax.grad(lp)))(f, y)
    return d1, -d2


def _b_factor(K, sqrt_w):
    n = K.shape[0]
    return jnp.linalg.cholesky(jnp.eye(n, dtype=K.dtype) + sqrt_w[:, None] * K * sqrt_w[None, :])


def find_mode(K, y, likelihood, lik_params, cfg):
    """Newton iterations for argmax_f log p(y | f) + log N(f | 0, K)."""
    n = y.shape[0]

    def newton_step(f):
        grad, W = _derivatives(likelihood, lik_params, f, y)
        sqrt_w = jnp.sqrt(W)
        L_b = _b_factor(K, sqrt_w)
        b = W * f + grad
        a = b - sqrt_w * linalg.cho_solve(L_b, sqrt_w * (K @ b))
        return K @ a

    def cond(state):
        i, _, delta = state
        return (i < cfg.max_newton_steps) & (delta > cfg.newton_tol)

    def body(state):
        i, f, _ = state
        f_new = jnp.clip(newton_step(f), -cfg.max_abs_latent, cfg.max_abs_latent)
        delta = jnp.max(jnp.abs(f_new - f))
        return i + 1, f_new, delta

    init = (0, jnp.zeros((n,), K.dtype), jnp.asarray(jnp.inf, K.dtype))
    _, f_hat, _ = jax.lax.while_loop(cond, body, init)
    return f_hat


def laplace_log_marginal(kernel, likelihood, params, X, y, cfg):
    """Approximate log marginal likelihood log q(y | X, theta) at the posterior mode."""
    K = linalg.add_jitter(kernel(params["kernel"], X), cfg.jitter)
    lik_params = params["likelihood"]
    f_hat = find_mode(jax.lax.stop_gradient(K), y, likelihood, lik_params, cfg)
    _, W = _derivatives(likelihood, lik_params, f_hat, y)
    L_b = _b_factor(K, jnp.sqrt(W))
    alpha = linalg.cho_solve(jnp.linalg.cholesky(K), f_hat)
    data_fit = jnp.sum(likelihood.log_prob(lik_params, f_hat, y))
    return -0.5 * jnp.dot(alpha, f_hat) + data_fit - 0.5 * linalg.logdet_from_cholesky(L_b)


def laplace_posterior(kernel, likelihood, params, X, y, cfg) -> LaplacePosterior:
    K = linalg.add_jitter(kernel(params["kernel"], X), cfg.jitter)
    f_hat = find_mode(K, y, likelihood, params["likelihood"], cfg)
    grad, W = _derivatives(likelihood, params["likelihood"], f_hat, y)
    sqrt_w = jnp.sqrt(W)
    return LaplacePosterior(f_hat, grad, sqrt_w, _b_factor(K, sqrt_w))


def laplace_predict(kernel, likelihood, params, post: LaplacePosterior, X, Xnew):
    """Predictive class probabilities (Alg. 3.2) with the probit/logit moment approximation."""
    kp = params["kernel"]
    Ks = kernel(kp, X, Xnew)
    fmean = Ks.T @ post.grad
    v = linalg.solve_lower(post.L_b, post.sqrt_w[:, None] * Ks)
    fvar = jnp.maximum(kernel.diag(kp, Xnew) - jnp.sum(jnp.square(v), axis=0), 0.0)
    probs = likelihood.predict_proba(params["likelihood"], fmean, fvar)
    return probs, (probs > 0.5).astype(jnp.int32)
