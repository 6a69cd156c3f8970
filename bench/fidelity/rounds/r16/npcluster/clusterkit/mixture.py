"""Gaussian mixtures fitted by gradient descent on the negative log-likelihood.

Unconstrained parameters: ``logits`` (mixing weights), ``means`` and ``log_scales``
(one column per feature for ``diag``, a single column for ``spherical``).
"""
from __future__ import annotations

import warnings

import numpy as np

from .config import GMMConfig
from .kmeans import kmeans_plusplus
from .utils import Adam, check_random_state, log_softmax, logsumexp, softmax

LOG_2PI = 1.8378770664093453


def init_params(X, cfg: GMMConfig, rng=None):
    rng = check_random_state(rng)
    n, p = X.shape
    means = kmeans_plusplus(X, cfg.n_components, rng)
    var = X.var(axis=0) + cfg.min_variance
    if cfg.covariance_type == "diag":
        log_scales = np.tile(0.5 * np.log(var), (cfg.n_components, 1))
    else:
        log_scales = np.full((cfg.n_components, 1), 0.5 * np.log(var.mean()))
    return {"logits": np.zeros(cfg.n_components), "means": means, "log_scales": log_scales}


def component_variances(log_scales, n_features, min_variance):
    """Per-component diagonal variances, shape (k, p), floored by ``min_variance``."""
    var = np.exp(2.0 * log_scales) + min_variance
    if var.shape[1] == 1:
        var = np.repeat(var, n_features, axis=1)
    return var


def mixture_log_weights(logits, min_weight=0.0):
    """Log mixing weights; optionally floored so that no component dies."""
    if min_weight <= 0.0:
        return log_softmax(logits), softmax(logits)
    w = np.maximum(softmax(logits), min_weight)
    w = w / w.sum()
    return np.log(w), w


def diag_gaussian_log_prob(X, means, var):
    """log N(x_i | mu_k, diag(var_k)) for every sample and component, shape (n, k)."""
    p = X.shape[1]
    prec = 1.0 / var
    maha = (X ** 2) @ prec.T - 2.0 * X @ (means * prec).T + np.sum(means ** 2 * prec, axis=1)
    log_det = np.sum(np.log(var), axis=1)
    return -0.5 * (p * LOG_2PI + log_det[None, :] + maha)


def gmm_negative_log_likelihood(X, params, cfg: GMMConfig):
    """Mean negative log-likelihood and its gradient with respect to ``params``."""
    n, p = X.shape
    means, log_scales = params["means"], params["log_scales"]
    var = component_variances(log_scales, p, cfg.min_variance)
    if np.any(var < 10.0 * cfg.min_variance):
        warnings.warn("a mixture component is collapsing onto a point", RuntimeWarning)
    log_w, w = mixture_log_weights(params["logits"], cfg.min_weight)
    log_joint = diag_gaussian_log_prob(X, means, var) + log_w[None, :]
    k = log_joint.shape[1]
    if cfg.hard_assignment:
        z = np.argmax(log_joint, axis=1)
        resp = np.eye(k)[z]
        value = -log_joint[np.arange(n), z].mean()
    else:
        log_norm = logsumexp(log_joint, axis=1)
        resp = np.exp(log_joint - log_norm[:, None])
        value = -log_norm.mean()

    nk = resp.sum(axis=0)
    diff = X[:, None, :] - means[None, :, :]
    g_means = -np.einsum("nk,nkp->kp", resp, diff) / var / n
    sq = np.einsum("nk,nkp->kp", resp, diff ** 2)
    g_var = 0.5 * (nk[:, None] / var - sq / var ** 2) / n
    g_log_scales = g_var * 2.0 * (var - cfg.min_variance)
    if log_scales.shape[1] == 1:
        g_log_scales = g_log_scales.sum(axis=1, keepdims=True)
    g_logits = w - nk / n

    if cfg.entropy_weight > 0.0:
        h = -np.sum(w * log_w)
        value = value + cfg.entropy_weight * h
        g_logits = g_logits - cfg.entropy_weight * w * (log_w + h)
    grads = {"logits": g_logits, "means": g_means, "log_scales": g_log_scales}
    return value, grads, resp


class GaussianMixtureGD:
    """Diagonal / spherical Gaussian mixture trained with Adam."""

    def __init__(self, config: GMMConfig | None = None, **overrides):
        self.config = config or GMMConfig(**overrides)
        self.params_ = None
        self.history_ = []
        self.converged_ = False

    def forward(self, X, params=None):
        value, grads, _ = gmm_negative_log_likelihood(X, params or self.params_, self.config)
        return value, grads

    def fit(self, X):
        cfg = self.config
        params = init_params(X, cfg, cfg.seed)
        opt = Adam.from_config(cfg.optimizer)
        best = np.inf
        for it in range(cfg.max_iter):
            value, grads = self.forward(X, params)
            opt.step(params, grads)
            self.history_.append(float(value))
            if best - value < cfg.tol:
                self.converged_ = it > 0
                break
            best = min(best, value)
        self.params_ = params
        return self

    def predict_proba(self, X):
        _, _, resp = gmm_negative_log_likelihood(X, self.params_, self.config)
        return resp

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)
