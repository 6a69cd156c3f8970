"""Long-only and long-short portfolio construction in plain numpy.

Objectives expose ``value`` and a hand-written ``gradient``; solvers combine
them with Euclidean projections onto the feasible set.
"""
from .config import CostConfig, OptimizerConfig, PolicyConfig, RiskConfig
from .costs import TransactionCost, market_impact, round_to_lots, turnover
from .metrics import (
    drawdown_series,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    summary,
)
from .objectives import (
    CVaR,
    CompositeObjective,
    DrawdownPenalty,
    EmpiricalCVaR,
    MeanVariance,
    NegativeSharpe,
    NegativeSortino,
    TradingCostPenalty,
)
from .optimize import LinearPolicy, frank_wolfe, projected_gradient, solve_cvar, train_step
from .projections import project_box, project_capped_simplex, project_l1_ball, project_simplex
from .risk import (
    MeanVolatility,
    RiskBudgetDeviation,
    RiskParity,
    TrackingErrorPenalty,
    risk_contributions,
    shrink_covariance,
)
