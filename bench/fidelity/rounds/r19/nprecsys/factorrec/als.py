"""Weighted ALS for implicit feedback (Hu, Koren & Volinsky, 2008).

Preferences p_ui = [r_ui > 0] are fitted with confidences c_ui = 1 + alpha * f(r_ui);
each half-sweep solves one regularised weighted least-squares problem per row, either
exactly or with a few warm-started conjugate-gradient steps (Takacs et al., 2011).
"""

import numpy as np

from .config import ALSConfig


def confidence(values, config):
    if config.confidence == "linear":
        return 1.0 + config.alpha * values
    if config.confidence == "log":
        return 1.0 + config.alpha * np.log1p(values / config.log_eps)
    raise ValueError(f"unknown confidence scaling {config.confidence!r}")


def _solve_exact(Y, YtY, idx, conf, reg):
    Yi = Y[idx]
    A = YtY + (Yi.T * (conf - 1.0)) @ Yi + reg * np.eye(Y.shape[1])
    b = conf @ Yi
    return np.linalg.solve(A, b)


def _solve_cg(x, Y, YtY, idx, conf, reg, steps):
    Yi = Y[idx]
    r = conf @ Yi - (YtY @ x + reg * x) - ((conf - 1.0) * (Yi @ x)) @ Yi
    p = r.copy()
    rsold = r @ r
    if rsold < 1e-20:
        return x
    for _ in range(steps):
        Ap = YtY @ p + reg * p + ((conf - 1.0) * (Yi @ p)) @ Yi
        alpha = rsold / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rsnew = r @ r
        if rsnew < 1e-20:
            break
        p = r + (rsnew / rsold) * p
        rsold = rsnew
    return x


def implicit_loss(R, X, Y, config):
    """sum_ui c_ui (p_ui - x_u . y_i)^2 + reg (|X|^2 + |Y|^2), using the zero-entry trick."""
    R = R.tocsr()
    loss = np.sum((X.T @ X) * (Y.T @ Y))
    for u in range(R.shape[0]):
        start, end = R.indptr[u], R.indptr[u + 1]
        idx = R.indices[start:end]
        conf = confidence(R.data[start:end], config)
        pred = Y[idx] @ X[u]
        loss += np.sum(conf * (1.0 - pred) ** 2) - np.sum(pred ** 2)
    return loss + config.reg * (np.sum(X * X) + np.sum(Y * Y))


class ImplicitALS:
    def __init__(self, n_users, n_items, config=None):
        self.config = config if config is not None else ALSConfig()
        rng = np.random.default_rng(self.config.seed)
        k = self.config.n_factors
        self.user_factors = rng.normal(0.0, self.config.init_std, size=(n_users, k))
        self.item_factors = rng.normal(0.0, self.config.init_std, size=(n_items, k))

    def _sweep(self, R, X, Y):
        cfg = self.config
        YtY = Y.T @ Y
        for u in range(X.shape[0]):
            start, end = R.indptr[u], R.indptr[u + 1]
            if start == end:
                X[u] = 0.0
                continue
            idx = R.indices[start:end]
            conf = confidence(R.data[start:end], cfg)
            if cfg.use_cg:
                X[u] = _solve_cg(X[u], Y, YtY, idx, conf, cfg.reg, cfg.cg_steps)
            else:
                X[u] = _solve_exact(Y, YtY, idx, conf, cfg.reg)
            if cfg.nonneg:
                X[u] = np.maximum(X[u], 0.0)

    def fit(self, R, callback=None):
        R = R.tocsr().astype(np.float64)
        Rt = R.T.tocsr()
        for it in range(self.config.n_iters):
            self._sweep(R, self.user_factors, self.item_factors)
            self._sweep(Rt, self.item_factors, self.user_factors)
            if self.config.verbose:
                loss = implicit_loss(R, self.user_factors, self.item_factors, self.config)
                print(f"als iter {it:2d}  loss {loss.item():.4f}")
            if callback is not None:
                callback(it, self)
        return self

    def score_all(self, users):
        return self.user_factors[users] @ self.item_factors.T
