"""Risk measures, risk budgeting objectives and covariance estimators."""
from __future__ import annotations

import numpy as np

from .objectives import Objective


def portfolio_variance(w, cov):
    return w @ cov @ w


def portfolio_volatility(w, cov):
    return np.sqrt(portfolio_variance(w, cov))


def tracking_error(w, benchmark, cov):
    active = w - benchmark
    return np.sqrt(active @ cov @ active)


def risk_contributions(w, cov):
    """Euler decomposition: RC_i = w_i (Sigma w)_i / sigma(w); sums to sigma(w)."""
    marginal = cov @ w
    return w * marginal / portfolio_volatility(w, cov)


def relative_risk_contributions(w, cov, eps=1e-12):
    rc = w * (cov @ w)
    return rc / max(rc.sum(), eps)


def diversification_ratio(w, cov):
    asset_vol = np.sqrt(np.diag(cov))
    return (w @ asset_vol) / portfolio_volatility(w, cov)


class MeanVolatility(Objective):
    """-mu'w + kappa * sigma(w): return traded against volatility rather than variance."""

    def __init__(self, mu, cov, kappa=1.0):
        self.mu = np.asarray(mu, dtype=float)
        self.cov = np.asarray(cov, dtype=float)
        self.kappa = float(kappa)

    def value(self, w):
        return -self.mu @ w + self.kappa * portfolio_volatility(w, self.cov)

    def gradient(self, w):
        sigma = portfolio_volatility(w, self.cov)
        return -self.mu + self.kappa * (self.cov @ w) / sigma


class RiskParity(Objective):
    """Spinu (2013) convex formulation: 0.5 w'Sigma w - sum_i b_i log w_i.

    The minimiser, rescaled to sum to one, has risk contributions proportional to ``budgets``.
    """

    def __init__(self, cov, budgets=None):
        self.cov = np.asarray(cov, dtype=float)
        n = self.cov.shape[0]
        b = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, dtype=float)
        self.budgets = b / b.sum()

    def value(self, w):
        return 0.5 * portfolio_variance(w, self.cov) - self.budgets @ np.log(w)

    def gradient(self, w):
        return self.cov @ w - self.budgets / w


class RiskBudgetDeviation(Objective):
    """Squared distance between relative risk contributions and target budgets.

    The total variance is held fixed within an evaluation (fixed-point scheme of
    Maillard, Roncalli and Teiletche), so the gradient ignores its dependence on ``w``.
    """

    def __init__(self, cov, budgets=None):
        self.cov = np.asarray(cov, dtype=float)
        n = self.cov.shape[0]
        self.budgets = np.full(n, 1.0 / n) if budgets is None else np.asarray(budgets, dtype=float)

    def _contributions(self, w):
        total = float(portfolio_variance(w, self.cov))
        return w * (self.cov @ w) / total, total

    def value(self, w):
        rc, _ = self._contributions(w)
        return ((rc - self.budgets) ** 2).sum()

    def gradient(self, w):
        rc, total = self._contributions(w)
        resid = 2.0 * (rc - self.budgets)
        marginal = self.cov @ w
        return (resid * marginal + self.cov @ (resid * w)) / total


class TrackingErrorPenalty(Objective):
    """kappa * TE(w) against a benchmark: a volatility-scaled active-risk penalty."""

    def __init__(self, cov, benchmark, kappa=1.0):
        self.cov = np.asarray(cov, dtype=float)
        self.benchmark = np.asarray(benchmark, dtype=float)
        self.kappa = kappa

    def value(self, w):
        return self.kappa * tracking_error(w, self.benchmark, self.cov)

    def gradient(self, w):
        active = w - self.benchmark
        return self.kappa * (self.cov @ active) / tracking_error(w, self.benchmark, self.cov)


def sample_covariance(returns, ddof=1):
    x = returns - returns.mean(axis=0)
    return x.T @ x / (x.shape[0] - ddof)


def shrink_covariance(returns, target="identity"):
    """Ledoit-Wolf shrinkage towards a scaled identity or constant correlation."""
    T, n = returns.shape
    x = returns - returns.mean(axis=0)
    S = x.T @ x / T
    if target == "identity":
        F = np.trace(S) / n * np.eye(n)
    else:
        std = np.sqrt(np.diag(S))
        corr = S / np.outer(std, std)
        rbar = (corr.sum() - n) / (n * (n - 1))
        F = rbar * np.outer(std, std)
        np.fill_diagonal(F, np.diag(S))
    d2 = np.linalg.norm(S - F, "fro") ** 2
    b2 = sum(np.linalg.norm(np.outer(xt, xt) - S, "fro") ** 2 for xt in x) / T ** 2
    b2 = min(b2, d2)
    delta = b2 / d2 if d2 > 0 else 0.0
    return delta * F + (1.0 - delta) * S
