"""Training loop, inducing-point initialisation and evaluation metrics."""
from __future__ import annotations

import logging
from typing import Callable, Dict, Iterator, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import objectives
from .laplace import laplace_log_marginal
from .parameters import project

logger = logging.getLogger(__name__)

_OBJECTIVES = {
    "exact": objectives.exact_marginal_log_likelihood,
    "warped": objectives.warped_marginal_log_likelihood,
    "loo": objectives.loo_log_predictive,
    "collapsed": objectives.collapsed_elbo,
    "laplace": laplace_log_marginal,
}


def make_loss(kernel, likelihood, cfg, num_data=None) -> Callable:
    """Negative objective (plus negative log hyperprior) as a function of params and batch."""
    inf = cfg.inference

    def loss_fn(params, batch):
        X, y = batch["X"], batch["y"]
        if inf.method == "svgp":
            obj = objectives.svgp_elbo(kernel, likelihood, params, X, y, inf,
                                       num_data=num_data, key=batch.get("key"))
        else:
            obj = _OBJECTIVES[inf.method](kernel, likelihood, params, X, y, inf)
        return -(obj + objectives.log_hyperprior(params, cfg.prior)) / X.shape[0]

    return loss_fn


def global_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(tree)))


def make_train_step(loss_fn: Callable, optimizer: optax.GradientTransformation, jit: bool = True):
    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "grad_norm": global_norm(grads)}

    return jax.jit(step) if jit else step


def fit(params, loss_fn: Callable, batches: Iterator[Dict], cfg) -> Tuple[Dict, list]:
    tcfg = cfg.train
    optimizer = optax.chain(optax.clip_by_global_norm(tcfg.max_grad_norm), optax.adam(tcfg.learning_rate))
    opt_state = optimizer.init(params)
    # the eager Cholesky retry loop cannot be traced
    step = make_train_step(loss_fn, optimizer, jit=tcfg.jit and not cfg.inference.adaptive_jitter)
    history, best, best_params, stale = [], np.inf, params, 0
    for it in range(tcfg.num_steps):
        params, opt_state, stats = step(params, opt_state, next(batches))
        params = project(params, tcfg.raw_bounds)
        loss = stats["loss"].item()
        history.append(loss)
        if not np.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {it}")
        if it % tcfg.log_every == 0:
            logger.info("step %d loss %.4f |g| %.3e", it, loss, float(stats["grad_norm"]))
        if loss < best - tcfg.tol:
            best, best_params, stale = loss, params, 0
        else:
            stale += 1
            if stale > tcfg.patience:
                break
    return best_params, history


def kmeans_inducing(X: np.ndarray, num_inducing: int, num_iters: int = 20, seed: int = 0) -> np.ndarray:
    """Lloyd's algorithm on the training inputs to place inducing points."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    Z = X[rng.choice(X.shape[0], size=num_inducing, replace=False)].copy()
    for _ in range(num_iters):
        d2 = np.sum((X[:, None, :] - Z[None, :, :]) ** 2, axis=-1)
        assign = np.argmin(d2, axis=1)
        counts = np.bincount(assign, minlength=num_inducing)
        sums = np.zeros_like(Z)
        np.add.at(sums, assign, X)
        Z = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], Z)
    return Z


def regression_metrics(mean, var, y) -> Dict[str, float]:
    mean, var, y = (np.asarray(a, dtype=np.float64) for a in (mean, var, y))
    resid = y - mean
    z = np.abs(resid) / np.sqrt(var)
    return {
        "rmse": float(np.sqrt(np.mean(resid ** 2))),
        "nlpd": float(np.mean(0.5 * np.log(2.0 * np.pi * var) + 0.5 * resid ** 2 / var)),
        "coverage95": float(np.mean(z < 1.96)),
    }


def classification_metrics(probs, labels, num_bins: int = 10) -> Dict[str, float]:
    probs, labels = np.asarray(probs), np.asarray(labels)
    if probs.ndim == 1:
        probs = np.stack([1.0 - probs, probs], axis=-1)
    pred = np.argmax(probs, axis=-1)
    conf = np.max(probs, axis=-1)
    correct = (pred == labels).astype(np.float64)
    bins = np.minimum(np.floor(conf * num_bins).astype(int), num_bins - 1)
    counts = np.bincount(bins, minlength=num_bins)
    gap = np.abs(np.bincount(bins, weights=correct - conf, minlength=num_bins))
    nll = -np.mean(np.log(np.clip(probs[np.arange(labels.shape[0]), labels], 1e-12, 1.0)))
    return {"accuracy": float(correct.mean()), "ece": float(gap.sum() / max(counts.sum(), 1)), "nll": float(nll)}
