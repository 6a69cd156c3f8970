"""Solvers for static objectives and a gradient-trained linear allocation policy."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import metrics
from .config import CostConfig, OptimizerConfig, PolicyConfig
from .costs import turnover
from .projections import (normalize_gross, project_capped_simplex, project_simplex, project_weights,
                          simplex_jvp)


@dataclass
class OptimResult:
    weights: np.ndarray
    value: float
    iterations: int
    history: list = field(default_factory=list)


def projected_gradient(objective, w0, config: OptimizerConfig = None, project=None):
    """Projected gradient descent with Armijo backtracking."""
    cfg = config or OptimizerConfig()
    if project is None:
        def project(v):
            return project_weights(v, cfg.projection, cfg.lower, cfg.upper, cfg.budget)
    w = project(np.asarray(w0, dtype=float))
    f, g = objective.value_and_grad(w)
    history = [float(f)]
    step = cfg.step_size
    for it in range(cfg.max_iter):
        for _ in range(cfg.max_backtracks):
            w_new = project(w - step * g)
            f_new = objective.value(w_new)
            if not cfg.backtracking or f_new <= f + cfg.armijo * (g @ (w_new - w)):
                break
            step *= cfg.shrink
        moved = np.linalg.norm(w_new - w)
        w = w_new
        f, g = objective.value_and_grad(w)
        history.append(float(f))
        if moved < cfg.tol:
            break
        step = min(step / cfg.shrink, cfg.step_size)
    return OptimResult(w, float(f), it + 1, history)


def frank_wolfe(objective, w0, max_iter=200, tol=1e-8):
    """Conditional gradient over the unit simplex (sparse iterates)."""
    w = np.asarray(w0, dtype=float)
    history = []
    for k in range(max_iter):
        f, g = objective.value_and_grad(w)
        history.append(f)
        vertex = np.argmin(g)
        gap = g @ w - g[vertex]
        if gap < tol:
            break
        gamma = 2.0 / (k + 2.0)
        w = (1.0 - gamma) * w
        w[vertex] += gamma
    return OptimResult(w, float(f), k + 1, history)


def solve_cvar(objective, w0, config: OptimizerConfig = None):
    """Minimise a ``CVaR`` objective jointly over weights and the VaR threshold."""
    cfg = config or OptimizerConfig()
    w0 = project_weights(np.asarray(w0, dtype=float), cfg.projection, cfg.lower, cfg.upper, cfg.budget)
    alpha0 = metrics.value_at_risk(objective.returns @ w0, objective.beta)
    x0 = np.append(w0, alpha0)

    def project(x):
        w = project_weights(x[:-1], cfg.projection, cfg.lower, cfg.upper, cfg.budget)
        return np.append(w, x[-1])

    res = projected_gradient(objective, x0, cfg, project=project)
    return OptimResult(res.weights[:-1], res.value, res.iterations, res.history)


class LinearPolicy:
    """Scores assets with a shared linear model of their features and maps scores to weights."""

    def __init__(self, n_features, config: PolicyConfig = None, max_weight=1.0):
        self.config = config or PolicyConfig()
        rng = np.random.default_rng(self.config.seed)
        self.theta = 0.01 * rng.standard_normal(n_features)
        self.max_weight = max_weight

    def scores(self, features):
        return features @ self.theta / self.config.temperature

    def weights(self, features):
        s = self.scores(features)
        out = self.config.output
        if out == "softmax":
            e = np.exp(s - s.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        if out == "sparsemax":
            if self.max_weight < 1.0:
                return np.stack([project_capped_simplex(row, 0.0, self.max_weight) for row in s])
            return project_simplex(s)
        if out == "long_short":
            return normalize_gross(s - s.mean(axis=-1, keepdims=True))
        raise ValueError(f"unknown output {out!r}")

    def backward(self, features, w, grad_w):
        """Chain ``grad_w`` (dL/dw, shape (T, n)) back to dL/dtheta."""
        out = self.config.output
        if out == "softmax":
            grad_s = w * (grad_w - (grad_w * w).sum(axis=-1, keepdims=True))
        elif out == "sparsemax":
            grad_s = np.stack([simplex_jvp(wt, gt, 0.0, self.max_weight) for wt, gt in zip(w, grad_w)])
        else:
            c = self.scores(features)
            c = c - c.mean(axis=-1, keepdims=True)
            gross = np.maximum(np.abs(c).sum(axis=-1, keepdims=True), 1e-12)
            grad_c = (grad_w - np.sign(c) * (grad_w * w).sum(axis=-1, keepdims=True)) / gross
            grad_s = grad_c - grad_c.mean(axis=-1, keepdims=True)
        return np.einsum("tnk,tn->k", features, grad_s) / self.config.temperature


def policy_loss(policy, features, returns, cost: CostConfig, w_init=None):
    """Negative Sharpe of net-of-cost policy returns over a window, with dL/dtheta."""
    cfg = policy.config
    T, n = returns.shape
    w = policy.weights(features)
    w_prev = np.vstack([np.full((1, n), 1.0 / n) if w_init is None else w_init[None], w[:-1]])
    trades = w - w_prev
    net = (w * returns).sum(axis=1) - 2.0 * cost.proportional * turnover(w, w_prev)
    scale = 1.0
    if cfg.vol_target is not None:
        scale = cfg.vol_target / (net.std(ddof=1).item() * np.sqrt(cfg.periods_per_year) + cfg.eps)
    net = scale * net
    sr = metrics.sharpe_ratio(net, periods_per_year=cfg.periods_per_year)
    m, s = net.mean(), net.std(ddof=1)
    grad_net = -np.sqrt(cfg.periods_per_year) * (1.0 / (T * s) - m * (net - m) / ((T - 1) * s ** 3))
    grad_net = scale * grad_net
    grad_trades = -cost.proportional * grad_net[:, None] * np.sign(trades)
    grad_w = grad_net[:, None] * returns + grad_trades
    grad_w[:-1] -= grad_trades[1:]
    stats = {"sharpe": sr.item(), "turnover": 0.5 * np.abs(trades).sum(axis=1).mean()}
    return -sr, policy.backward(features, w, grad_w), stats


def train_step(policy, features, returns, cost: CostConfig, w_init=None):
    loss, grad, stats = policy_loss(policy, features, returns, cost, w_init)
    clip = policy.config.grad_clip
    grad_norm = np.linalg.norm(grad)
    if clip is not None and grad_norm > clip:
        grad = grad * (clip / grad_norm)
    policy.theta = policy.theta - policy.config.learning_rate * grad
    stats.update(loss=float(loss), grad_norm=float(grad_norm))
    return stats
