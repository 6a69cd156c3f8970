"""Walk-forward backtesting of periodically rebalanced portfolios."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import metrics
from .config import CostConfig, OptimizerConfig, RiskConfig
from .costs import TransactionCost, breakeven_cost
from .objectives import MeanVariance, TradingCostPenalty
from .optimize import projected_gradient
from .risk import diversification_ratio, relative_risk_contributions, risk_contributions, shrink_covariance


@dataclass
class BacktestResult:
    weights: np.ndarray
    gross_returns: np.ndarray
    net_returns: np.ndarray
    costs: np.ndarray

    def report(self, periods_per_year=252, cov=None):
        out = metrics.summary(self.net_returns, self.weights, periods_per_year=periods_per_year)
        out["breakeven_cost"] = float(breakeven_cost(self.gross_returns, metrics.turnover_series(self.weights)))
        if cov is not None:
            w = self.weights[-1]
            out["diversification"] = float(diversification_ratio(w, cov))
            out["max_risk_share"] = float(relative_risk_contributions(w, cov).max())
            out["risk_contrib"] = risk_contributions(w, cov).tolist()
        return out


def clean_weights(w, tol=1e-4):
    """Zero out dust positions and renormalise to the original budget."""
    budget = w.sum()
    w = np.where(np.abs(w) < tol, 0.0, w)
    if w.sum() <= 0:
        return np.full_like(w, budget / w.shape[0])
    return w * (budget / w.sum())


def mean_variance_builder(risk: RiskConfig, cost_model: TransactionCost, shrinkage=True):
    def build(window, w_prev):
        mu = window.mean(axis=0) * risk.periods_per_year
        cov = shrink_covariance(window) if shrinkage else np.cov(window, rowvar=False)
        objective = MeanVariance(mu, cov * risk.periods_per_year, risk.risk_aversion)
        return objective + TradingCostPenalty(w_prev, cost_model)
    return build


def walk_forward(returns, build_objective, optimizer: OptimizerConfig = None,
                 cost: CostConfig = None, lookback=252, rebalance_every=21, w0=None):
    """Re-optimise every ``rebalance_every`` periods on a trailing window; weights drift in between."""
    returns = np.asarray(returns, dtype=float)
    T, n = returns.shape
    if T <= lookback:
        raise ValueError("not enough history for the lookback window")
    cost_model = TransactionCost(cost)
    w = np.full(n, 1.0 / n) if w0 is None else np.asarray(w0, dtype=float)
    weights, gross, net, costs = [], [], [], []
    for t in range(lookback, T):
        paid = 0.0
        if (t - lookback) % rebalance_every == 0:
            objective = build_objective(returns[t - lookback:t], w)
            target = clean_weights(projected_gradient(objective, w, optimizer).weights)
            paid = cost_model.cost(target, w)
            w = target
        r = returns[t] @ w
        weights.append(w.copy())
        gross.append(r)
        costs.append(paid)
        net.append(r - paid)
        grown = w * (1.0 + returns[t])
        w = grown / grown.sum()
    return BacktestResult(np.array(weights), np.array(gross), np.array(net), np.array(costs))
