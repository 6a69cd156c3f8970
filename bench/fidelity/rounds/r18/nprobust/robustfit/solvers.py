"""Solvers: iteratively reweighted least squares and first-order methods."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np

from .config import SolverConfig
from .losses import RobustLoss
from .scale import robust_scale
from .utils import clip_by_norm, safe_divide

logger = logging.getLogger(__name__)


@dataclass
class SolverResult:
    coef: np.ndarray
    n_iter: int
    converged: bool
    scale: Optional[float] = None
    history: List[float] = field(default_factory=list)


# ----------------------------------------------------------------------------
# IRLS
# ----------------------------------------------------------------------------

def weighted_least_squares(X, y, w, ridge=0.0):
    """argmin_b sum_i w_i (y_i - x_i b)^2 + ridge * ||b||^2."""
    sw = np.sqrt(w)
    Xw = X * sw[:, None]
    yw = y * sw
    A = Xw.T @ Xw
    if ridge > 0:
        A = A + ridge * np.eye(A.shape[0])
    return np.linalg.solve(A, Xw.T @ yw)


def irls(X, y, loss: RobustLoss, config: SolverConfig, coef0=None, scale=None,
         sample_weight=None, ridge=0.0):
    """M-estimation by IRLS with an optional concomitant scale update.

    X is expected to carry an intercept column already, if one is wanted.
    """
    n, p = X.shape
    coef = np.linalg.lstsq(X, y, rcond=None)[0] if coef0 is None else coef0.copy()
    update_scale = scale is None
    history = []
    converged = False
    it = 0
    for it in range(1, config.max_iter + 1):
        r = y - X @ coef
        if update_scale:
            scale = robust_scale(r, method=config.scale_update)
        u = r / scale
        w = np.maximum(loss.weights(u), config.weight_floor)
        if sample_weight is not None:
            w = w * sample_weight
        coef_new = weighted_least_squares(X, y, w, ridge=ridge)
        objective = scale ** 2 * np.mean(loss.rho(u))
        history.append(objective.item())
        step = np.max(np.abs(coef_new - coef))
        coef = coef_new
        if step <= config.tol * (1.0 + np.max(np.abs(coef))):
            converged = True
            break
    if config.verbose:
        logger.info("irls: %d iterations, scale=%.4g, converged=%s", it, scale, converged)
    return SolverResult(coef, it, converged, scale=scale, history=history)


# ----------------------------------------------------------------------------
# first-order methods
# ----------------------------------------------------------------------------

def backtracking_line_search(f: Callable, x, fx, g, direction, t0=1.0, c=1e-4,
                             shrink=0.5, min_step=1e-10, max_iter=60):
    """Armijo backtracking along `direction` from x."""
    slope = float(g @ direction)
    if slope >= 0.0:
        direction = -g
        slope = -float(g @ g)
    t = t0
    x_new, f_new = x + t * direction, f(x + t * direction)
    for _ in range(max_iter):
        if f_new <= fx + c * t * slope:
            break
        t *= shrink
        if t < min_step:
            break
        x_new = x + t * direction
        f_new = f(x_new)
    return t, x_new, f_new


def gradient_descent(objective: Callable, gradient: Callable, x0, config: SolverConfig,
                     callback: Optional[Callable] = None, bb_step: bool = False):
    """Gradient descent with Armijo line search or Barzilai-Borwein steps."""
    x = np.array(x0, dtype=float)
    fx = objective(x)
    g = gradient(x)
    history = [fx.item()]
    lr = config.lr
    converged = False
    k = 0
    for k in range(1, config.max_iter + 1):
        gnorm = np.linalg.norm(g)
        if gnorm <= config.tol:
            converged = True
            break
        if config.max_grad_norm is not None:
            g = clip_by_norm(g, config.max_grad_norm)
        if config.line_search:
            lr, x_new, f_new = backtracking_line_search(
                objective, x, fx, g, -g, t0=1.0, c=config.armijo_c,
                shrink=config.backtrack, min_step=config.min_step)
        else:
            x_new = x - lr * g
            f_new = objective(x_new)
        g_new = gradient(x_new)
        if bb_step and not config.line_search:
            s, yk = x_new - x, g_new - g
            lr = float(np.clip(safe_divide(s @ s, s @ yk), config.min_step, 1e3))
        if abs(fx - f_new) <= config.tol * max(1.0, abs(fx)):
            x, fx, g = x_new, f_new, g_new
            converged = True
            break
        x, fx, g = x_new, f_new, g_new
        history.append(fx.item())
        if callback is not None:
            callback(k, x, fx)
    return SolverResult(x, k, converged, history=history)


def fista(smooth_objective: Callable, smooth_gradient: Callable, penalty, x0,
          config: SolverConfig, lipschitz: Optional[float] = None):
    """Accelerated proximal gradient (FISTA) with adaptive restart."""
    x = np.array(x0, dtype=float)
    y = x.copy()
    t = 1.0
    step = config.lr if lipschitz is None else 1.0 / lipschitz
    history = []
    converged = False
    k = 0
    for k in range(1, config.max_iter + 1):
        g = smooth_gradient(y)
        fy = smooth_objective(y)
        while True:
            x_new = penalty.prox(y - step * g, step)
            diff = x_new - y
            bound = fy + g @ diff + 0.5 / step * (diff @ diff)
            if lipschitz is not None or smooth_objective(x_new) <= bound:
                break
            step *= config.backtrack
        if config.accelerate:
            if (y - x_new) @ (x_new - x) > 0:
                t = 1.0
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            y = x_new + ((t - 1.0) / t_new) * (x_new - x)
            t = t_new
        else:
            y = x_new
        rel = np.linalg.norm(x_new - x) / max(np.linalg.norm(x), 1.0)
        x = x_new
        history.append(float(smooth_objective(x) + penalty.value(x)))
        if rel < config.tol:
            converged = True
            break
    return SolverResult(x, k, converged, history=history)
