"""Scikit-learn style estimators built on the losses and solvers."""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from .config import FitConfig, LossConfig
from .losses import get_loss
from .metrics import robust_r2
from .penalties import get_penalty
from .scale import rms_scale, robust_scale, standardize
from .solvers import fista, gradient_descent, irls
from .utils import add_intercept, check_X_y, weighted_quantile

logger = logging.getLogger(__name__)


class RobustRegressor:
    """Linear M-estimator  min_b  s^2 mean(rho((y - X b) / s)) + penalty(b)."""

    def __init__(self, config: Optional[FitConfig] = None):
        self.config = config or FitConfig()
        self.loss = get_loss(self.config.loss)
        self.penalty = get_penalty(self.config.penalty)

    # -- objective pieces ---------------------------------------------------

    def _smooth_objective(self, X, y, scale, sample_weight=None):
        loss = self.loss

        def objective(b):
            u = standardize(y - X @ b, scale)
            return scale ** 2 * loss(u, sample_weight)

        def gradient(b):
            u = standardize(y - X @ b, scale)
            psi = loss.psi(u)
            if sample_weight is not None:
                psi = psi * sample_weight / np.mean(sample_weight)
            return -scale * (X.T @ psi) / X.shape[0]

        return objective, gradient

    def _joint_objective(self, X, y, a=0.5):
        """Huber's concomitant-scale objective in (b, log s)."""
        loss, n = self.loss, X.shape[0]

        def objective(theta):
            b, s = theta[:-1], np.exp(theta[-1])
            u = (y - X @ b) / s
            return s * np.mean(loss.rho(u)) + a * s

        def gradient(theta):
            b, s = theta[:-1], np.exp(theta[-1])
            u = (y - X @ b) / s
            psi = loss.psi(u)
            g_b = -(X.T @ psi) / n
            g_s = np.mean(loss.rho(u)) - np.mean(psi * u) + a
            return np.append(g_b, g_s * s)

        return objective, gradient

    # -- fitting --------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        cfg = self.config
        X, y = check_X_y(X, y)
        Xd = add_intercept(X) if cfg.fit_intercept else X
        pilot = np.linalg.lstsq(Xd, y, rcond=None)[0]
        method = cfg.solver.method

        if method == "irls":
            res = irls(Xd, y, self.loss, cfg.solver, coef0=pilot, scale=cfg.scale,
                       sample_weight=sample_weight)
            coef, self.scale_ = res.coef, res.scale
        else:
            scale = cfg.scale
            if scale is None:
                scale = robust_scale(y - Xd @ pilot, method=cfg.solver.scale_update)
            objective, gradient = self._smooth_objective(Xd, y, scale, sample_weight)
            if method == "gd":
                full = lambda b: objective(b) + self.penalty.value(b)
                full_grad = lambda b: gradient(b) + self.penalty.grad(b)
                res = gradient_descent(full, full_grad, pilot, cfg.solver)
            else:
                res = fista(objective, gradient, self.penalty, pilot, cfg.solver)
            coef, self.scale_ = res.coef, scale

        if cfg.fit_intercept:
            self.intercept_, self.coef_ = coef[0], coef[1:]
        else:
            self.intercept_, self.coef_ = 0.0, coef
        self.n_iter_, self.converged_ = res.n_iter, res.converged
        self.history_ = res.history
        resid = y - self.predict(X)
        self.sigma_ = rms_scale(resid, ddof=Xd.shape[1])
        if not res.converged:
            logger.warning("solver did not converge in %d iterations", res.n_iter)
        return self

    def fit_joint_scale(self, X, y, a=0.5):
        """Fit coefficients and scale jointly by gradient descent."""
        X, y = check_X_y(X, y)
        Xd = add_intercept(X)
        pilot = np.linalg.lstsq(Xd, y, rcond=None)[0]
        s0 = robust_scale(y - Xd @ pilot)
        theta0 = np.append(pilot, np.log(s0))
        objective, gradient = self._joint_objective(Xd, y, a)
        res = gradient_descent(objective, gradient, theta0, self.config.solver)
        self.intercept_, self.coef_ = res.coef[0], res.coef[1:-1]
        self.scale_ = np.exp(res.coef[-1])
        self.n_iter_, self.converged_ = res.n_iter, res.converged
        self.history_ = res.history
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return X @ self.coef_ + self.intercept_

    def score(self, X, y):
        return robust_r2(y, self.predict(X))

    def summary(self, X, y):
        r = y - self.predict(X)
        u = r / self.scale_
        n_out = int(np.sum(np.abs(u) > 2.5))
        logger.info("scale=%.4g  max|u|=%.3g  outliers=%d  final objective=%.6g",
                    self.scale_, np.max(np.abs(u)).item(), n_out, self.history_[-1])
        return {"scale": float(self.scale_), "n_outliers": n_out, "n_iter": self.n_iter_}


class QuantileRegressor(RobustRegressor):
    """Linear quantile regression, optionally with an elastic-net penalty."""

    def __init__(self, tau=0.5, alpha=0.0, l1_ratio=1.0, smoothing=0.0,
                 config: Optional[FitConfig] = None):
        config = config or FitConfig()
        config.loss = LossConfig(name="quantile", tau=tau, smoothing=smoothing)
        config.penalty.name = "elasticnet" if alpha > 0 else "none"
        config.penalty.alpha, config.penalty.l1_ratio = alpha, l1_ratio
        config.scale = 1.0
        self.tau = tau
        super().__init__(config)

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        if self.config.fit_intercept and self.config.solver.method == "fista":
            # re-centre: the unpenalized intercept is a tau-quantile of residuals
            resid = y - np.asarray(X, dtype=float) @ self.coef_
            self.intercept_ = weighted_quantile(resid, self.tau, sample_weight)
        return self
