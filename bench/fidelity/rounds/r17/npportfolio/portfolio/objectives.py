"""Portfolio objectives with hand-written gradients.

Each objective maps a weight vector ``w`` to a scalar that is *minimised*.
"""
from __future__ import annotations

import numpy as np

from . import metrics
from .costs import TransactionCost


class Objective:
    def value(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def value_and_grad(self, w):
        return self.value(w), self.gradient(w)

    def __add__(self, other):
        return CompositeObjective([self, other])


class CompositeObjective(Objective):
    """Weighted sum of objectives."""

    def __init__(self, terms, weights=None):
        self.terms = list(terms)
        self.weights = [1.0] * len(self.terms) if weights is None else list(weights)

    def value(self, w):
        return sum(c * t.value(w) for c, t in zip(self.weights, self.terms))

    def gradient(self, w):
        return sum(c * t.gradient(w) for c, t in zip(self.weights, self.terms))


class MeanVariance(Objective):
    """-mu'w + (gamma / 2) w'Sigma w."""

    def __init__(self, mu, cov, risk_aversion=1.0):
        self.mu = np.asarray(mu, dtype=float)
        self.cov = np.asarray(cov, dtype=float)
        self.risk_aversion = float(risk_aversion)

    def value(self, w):
        return -self.mu @ w + 0.5 * self.risk_aversion * (w @ self.cov @ w)

    def gradient(self, w):
        return -self.mu + self.risk_aversion * (self.cov @ w)


class CVaR(Objective):
    """Rockafellar-Uryasev CVaR of the scenario losses at level ``beta``.

    The decision vector is ``x = [w, alpha]`` with ``alpha`` the VaR threshold.
    A positive ``smoothing`` replaces the hinge by a softplus of that width.
    """

    def __init__(self, returns, beta=0.95, smoothing=0.0):
        self.returns = np.asarray(returns, dtype=float)
        self.beta = float(beta)
        self.smoothing = float(smoothing)

    def value(self, x):
        w, alpha = x[:-1], x[-1]
        losses = -self.returns @ w
        if self.smoothing > 0:
            excess = self.smoothing * np.logaddexp(0.0, (losses - alpha) / self.smoothing)
        else:
            excess = np.maximum(losses - alpha, 0.0)
        return alpha + excess.mean() / (1.0 - self.beta)

    def gradient(self, x):
        w, alpha = x[:-1], x[-1]
        losses = -self.returns @ w
        if self.smoothing > 0:
            p = 0.5 * (1.0 + np.tanh(0.5 * (losses - alpha) / self.smoothing))
        else:
            p = (losses > alpha).astype(float)
        scale = 1.0 / ((1.0 - self.beta) * losses.shape[0])
        grad_w = -(self.returns.T @ p) * scale
        grad_alpha = 1.0 - p.sum() * scale
        return np.append(grad_w, grad_alpha)


class EmpiricalCVaR(Objective):
    """Plug-in CVaR: mean loss over the worst ``ceil((1 - beta) T)`` scenarios."""

    def __init__(self, returns, beta=0.95):
        self.returns = np.asarray(returns, dtype=float)
        T = self.returns.shape[0]
        self.n_tail = max(int(np.ceil((1.0 - beta) * T)), 1)

    def tail_scenarios(self, w):
        losses = -self.returns @ w
        return np.argsort(losses)[-self.n_tail:]

    def value(self, w):
        idx = self.tail_scenarios(w)
        return -(self.returns[idx] @ w).mean()

    def gradient(self, w):
        idx = self.tail_scenarios(w)
        return -self.returns[idx].mean(axis=0)


class DrawdownPenalty(Objective):
    """penalty * max(MDD(w) - limit, 0)^2 on the additive in-sample wealth path."""

    def __init__(self, returns, limit=0.2, penalty=10.0):
        self.returns = np.asarray(returns, dtype=float)
        self.limit = float(limit)
        self.penalty = float(penalty)

    def value(self, w):
        mdd = metrics.max_drawdown(self.returns @ w, compounded=False)
        return self.penalty * np.maximum(mdd - self.limit, 0.0) ** 2

    def gradient(self, w):
        cum = np.concatenate([[0.0], np.cumsum(self.returns @ w)])
        dd = np.maximum.accumulate(cum) - cum
        trough = np.argmax(dd)
        excess = max(dd[trough] - self.limit, 0.0)
        if excess == 0.0:
            return np.zeros_like(w)
        top = np.argmax(cum[: trough + 1])
        d_mdd = -self.returns[top:trough].sum(axis=0)
        return 2.0 * self.penalty * excess * d_mdd


class NegativeSharpe(Objective):
    """Minus the annualised in-sample Sharpe ratio of ``returns @ w``."""

    def __init__(self, returns, risk_free=0.0, periods_per_year=252):
        self.returns = np.asarray(returns, dtype=float)
        self.risk_free = risk_free
        self.periods_per_year = periods_per_year

    def value(self, w):
        return -metrics.sharpe_ratio(self.returns @ w, self.risk_free, self.periods_per_year)

    def gradient(self, w):
        ex = self.returns @ w - self.risk_free
        T = ex.shape[0]
        m, s = ex.mean(), ex.std(ddof=1)
        centered = self.returns - self.returns.mean(axis=0)
        d_m = self.returns.mean(axis=0)
        d_s = centered.T @ (ex - m) / ((T - 1) * s)
        return -np.sqrt(self.periods_per_year) * (d_m * s - m * d_s) / s ** 2


class NegativeSortino(Objective):
    """Minus the Sortino ratio with an eps-regularised downside deviation."""

    def __init__(self, returns, mar=0.0, eps=1e-8):
        self.returns = np.asarray(returns, dtype=float)
        self.mar = mar
        self.eps = eps

    def value(self, w):
        port = self.returns @ w
        dd = metrics.downside_deviation(port, self.mar)
        return -(port.mean() - self.mar) / (dd + self.eps)

    def gradient(self, w):
        port = self.returns @ w
        T = port.shape[0]
        shortfall = np.minimum(port - self.mar, 0.0)
        dd = np.sqrt(np.mean(shortfall ** 2))
        d_dd = self.returns.T @ shortfall / (T * np.maximum(dd, self.eps))
        m = port.mean() - self.mar
        denom = dd + self.eps
        return -(self.returns.mean(axis=0) * denom - m * d_dd) / denom ** 2


class TradingCostPenalty(Objective):
    """Transaction cost of rebalancing from the current holdings ``w_prev``."""

    def __init__(self, w_prev, cost_model: TransactionCost = None, scale=1.0):
        self.w_prev = np.asarray(w_prev, dtype=float)
        self.cost_model = cost_model or TransactionCost()
        self.scale = scale

    def value(self, w):
        return self.scale * self.cost_model.cost(w, self.w_prev)

    def gradient(self, w):
        return self.scale * self.cost_model.gradient(w, self.w_prev)
