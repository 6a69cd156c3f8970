"""Robust linear regression in plain numpy: gradient descent on a hand-derived gradient.

The loss is a blend of an L1 residual, a pseudo-distance and an epsilon-insensitive tube:
all three have kinks, and the hand-written gradient has to pick a subgradient at each of
them, exactly as autodiff would. ``kinkcheck`` reads numpy losses too.

    python examples/numpy_regression.py --steps 200
"""

from __future__ import annotations

import argparse

import numpy as np


def make_data(n: int = 256, d: int = 5, seed: int = 0):
    """A linear target with heavy-tailed noise, the case robust losses are for."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = np.arange(1, d + 1, dtype=float)
    y = X @ w_true + rng.standard_t(df=2, size=n)
    return X, y, w_true


def regression_loss(w, X, y, tube: float = 0.1):
    """Mean of |r| + sqrt(|r|) + max(|r| - tube, 0) over the residuals r."""
    r = X @ w - y
    l1 = np.abs(r)  # kink: L1 is the point of a robust fit; np.sign(0) = 0 below is our subgradient
    root = np.sqrt(l1)  # planted: KC201
    tube_loss = np.maximum(l1 - tube, 0.0)  # planted: KC104
    return np.mean(l1 + 0.1 * root + tube_loss)


def loss_gradient(w, X, y, tube: float = 0.1):
    """The subgradient of ``regression_loss``, written out by hand."""
    r = X @ w - y
    s = np.sign(r)  # planted: KC301
    g = s * (1.0 + (np.abs(r) > tube))  # planted: KC304 (|r| is only compared: its kink at 0 is no site)
    return X.T @ g / len(y)


def main(steps: int = 200, lr: float = 0.05, seed: int = 0):
    """Fit and return (w, loss history)."""
    X, y, _ = make_data(seed=seed)
    w = np.zeros(X.shape[1])
    history = []
    for _ in range(steps):
        history.append(float(regression_loss(w, X, y)))
        w = w - lr * loss_gradient(w, X, y)
    return w, history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    w, history = main(args.steps)
    print(f"loss {history[0]:.3f} -> {history[-1]:.3f}; w = {np.round(w, 2)}")
