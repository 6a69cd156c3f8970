"""Transaction cost models: proportional, quadratic, market impact and fixed fees."""
from __future__ import annotations

import numpy as np

from .config import CostConfig


def turnover(w, w_prev):
    """One-way turnover 0.5 * ||w - w_prev||_1."""
    return 0.5 * np.abs(w - w_prev).sum(axis=-1)


def smooth_abs(x, mu):
    """Pseudo-Huber approximation of |x| with smoothing width ``mu`` > 0."""
    return np.sqrt(x * x + mu * mu) - mu


def market_impact(trades, exponent=1.5):
    """Per-asset impact cost |trade| ** exponent (square-root law for exponent 1.5)."""
    return np.abs(trades) ** exponent


def round_to_lots(trades, nav, prices, lot_size):
    """Round weight changes to whole lots given net asset value and prices."""
    lot_value = prices * lot_size / nav
    return np.round(trades / lot_value) * lot_value


class TransactionCost:
    """Cost of moving from ``w_prev`` to ``w``, expressed as a fraction of NAV."""

    def __init__(self, config: CostConfig = None, prices=None, nav=1.0, spreads=None):
        self.config = config or CostConfig()
        self.prices = None if prices is None else np.asarray(prices, dtype=float)
        self.nav = float(nav)
        self.spreads = None if spreads is None else np.asarray(spreads, dtype=float)

    def rates(self, n):
        c = self.config
        if self.spreads is None:
            return np.full(n, c.proportional)
        return c.proportional + 0.5 * self.spreads

    def trades(self, w, w_prev):
        delta = w - w_prev
        if self.config.lot_size is not None and self.prices is not None:
            delta = round_to_lots(delta, self.nav, self.prices, self.config.lot_size)
        return delta

    def cost(self, w, w_prev):
        c = self.config
        if c.no_trade_band > 0 and turnover(w, w_prev) < c.no_trade_band:
            return 0.0
        d = self.trades(w, w_prev)
        rate = self.rates(d.shape[-1])
        if c.smoothing > 0:
            total = (rate * smooth_abs(d, c.smoothing)).sum()
        else:
            total = (rate * np.abs(d)).sum()
        total = total + 0.5 * c.quadratic * (d * d).sum()
        if c.impact > 0:
            total = total + c.impact * market_impact(d, c.impact_exponent).sum()
        if c.fixed_fee > 0:
            traded = np.abs(d) > c.min_trade
            total = total + c.fixed_fee * traded.sum()
        return total

    def gradient(self, w, w_prev):
        """Gradient in ``w``; lot rounding is passed straight through."""
        c = self.config
        if c.no_trade_band > 0 and turnover(w, w_prev) < c.no_trade_band:
            return np.zeros_like(w)
        d = self.trades(w, w_prev)
        rate = self.rates(d.shape[-1])
        if c.smoothing > 0:
            g = rate * d / np.sqrt(d * d + c.smoothing ** 2)
        else:
            g = rate * np.sign(d)
        g = g + c.quadratic * d
        if c.impact > 0:
            e = c.impact_exponent
            g = g + c.impact * e * np.abs(d) ** (e - 1.0) * np.sign(d)
        return g


def breakeven_cost(gross_returns, turnovers):
    """Cost per unit turnover that would wipe out the average gross return."""
    mean_turnover = np.mean(turnovers)
    if mean_turnover <= 0:
        return np.inf
    return np.mean(gross_returns) / mean_turnover
