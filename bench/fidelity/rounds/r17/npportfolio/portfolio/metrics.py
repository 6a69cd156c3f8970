"""Performance and risk statistics of 1-D series of per-period simple returns."""
from __future__ import annotations

import numpy as np


def drawdown_series(r, compounded=True):
    """Drawdown from the running peak, starting from unit (or zero) initial wealth."""
    r = np.asarray(r, dtype=float)
    if compounded:
        wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    else:
        wealth = np.concatenate([[0.0], np.cumsum(r)])
    peak = np.maximum.accumulate(wealth)
    if compounded:
        return (1.0 - wealth / peak)[1:]
    return (peak - wealth)[1:]


def max_drawdown(r, compounded=True):
    return drawdown_series(r, compounded).max()


def conditional_drawdown(r, level=0.95, compounded=True):
    """Mean of the worst (1 - level) fraction of drawdowns (CDaR)."""
    dd = np.sort(drawdown_series(r, compounded))
    k = max(int(np.ceil((1.0 - level) * dd.shape[0])), 1)
    return dd[-k:].mean()


def sharpe_ratio(r, risk_free=0.0, periods_per_year=252):
    excess = np.asarray(r) - risk_free
    return excess.mean() / excess.std(ddof=1) * np.sqrt(periods_per_year)


def downside_deviation(r, mar=0.0):
    shortfall = np.minimum(r - mar, 0.0)
    return np.sqrt(np.mean(shortfall ** 2))


def sortino_ratio(r, mar=0.0, periods_per_year=252):
    dd = downside_deviation(r, mar)
    return (np.mean(r) - mar) / dd * np.sqrt(periods_per_year)


def annualized_return(r, periods_per_year=252):
    growth = np.prod(1.0 + np.asarray(r))
    return growth ** (periods_per_year / len(r)) - 1.0


def annualized_volatility(r, periods_per_year=252):
    return np.std(r, ddof=1) * np.sqrt(periods_per_year)


def calmar_ratio(r, periods_per_year=252):
    mdd = max_drawdown(r)
    if mdd <= 0:
        return np.inf
    return annualized_return(r, periods_per_year) / mdd


def value_at_risk(r, level=0.95):
    """Historical VaR, reported as a positive loss."""
    return -np.quantile(r, 1.0 - level)


def expected_shortfall(r, level=0.95):
    var = value_at_risk(r, level)
    tail = r[r <= -var]
    return -tail.mean() if tail.size else var


def hit_rate(r):
    return np.mean(np.asarray(r) > 0)


def information_ratio(r, benchmark, periods_per_year=252):
    active = np.asarray(r) - np.asarray(benchmark)
    te = active.std(ddof=1)
    return active.mean() / te * np.sqrt(periods_per_year) if te > 0 else 0.0


def turnover_series(weights):
    """One-way turnover between consecutive rows of a (T, n) weight history."""
    return 0.5 * np.abs(np.diff(weights, axis=0)).sum(axis=1)


def effective_holdings(weights):
    """Inverse Herfindahl index of each row of weights."""
    w = np.atleast_2d(weights)
    return 1.0 / np.maximum((w ** 2).sum(axis=1), 1e-12)


def summary(r, weights=None, benchmark=None, periods_per_year=252):
    """Dictionary of headline statistics for reporting."""
    r = np.asarray(r, dtype=float)
    out = {
        "ann_return": float(annualized_return(r, periods_per_year)),
        "ann_vol": float(annualized_volatility(r, periods_per_year)),
        "sharpe": float(sharpe_ratio(r, periods_per_year=periods_per_year)),
        "sortino": float(sortino_ratio(r, periods_per_year=periods_per_year)),
        "max_drawdown": float(max_drawdown(r)),
        "cdar_95": float(conditional_drawdown(r)),
        "calmar": float(calmar_ratio(r, periods_per_year)),
        "var_95": float(value_at_risk(r)),
        "cvar_95": float(expected_shortfall(r)),
        "hit_rate": float(hit_rate(r)),
    }
    if weights is not None:
        out["avg_turnover"] = float(turnover_series(weights).mean())
        out["avg_holdings"] = float(effective_holdings(weights).mean())
    if benchmark is not None:
        out["info_ratio"] = float(information_ratio(r, benchmark, periods_per_year))
    return out
