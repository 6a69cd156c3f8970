"""Evaluation metrics for robust and quantile regression."""
from __future__ import annotations

import numpy as np

from .losses import pinball
from .utils import EPS


def mean_absolute_error(y_true, y_pred, sample_weight=None):
    err = np.abs(np.asarray(y_true) - np.asarray(y_pred))
    return float(np.average(err, weights=sample_weight))


def median_absolute_error(y_true, y_pred):
    return float(np.median(np.abs(np.asarray(y_true) - np.asarray(y_pred))))


def mean_pinball_loss(y_true, y_pred, tau=0.5):
    return float(np.mean(pinball(np.asarray(y_true) - np.asarray(y_pred), tau)))


def robust_r2(y_true, y_pred):
    """1 - MAD(residuals) / MAD(y): an R^2 analogue that ignores outliers."""
    y_true = np.asarray(y_true, dtype=float)
    resid = y_true - np.asarray(y_pred, dtype=float)
    num = np.median(np.abs(resid - np.median(resid)))
    den = np.median(np.abs(y_true - np.median(y_true)))
    return 1.0 - num / max(den, EPS)


def interval_coverage(y_true, lower, upper):
    """Fraction of targets inside [lower, upper] and the mean interval width."""
    y_true = np.asarray(y_true, dtype=float)
    inside = (y_true >= lower) & (y_true <= upper)
    width = np.mean(upper - lower)
    return float(np.mean(inside)), float(width)


def quantile_calibration(y_true, y_pred, tau):
    """Observed frequency of y <= q_tau minus the nominal level tau."""
    below = np.asarray(y_true) <= np.asarray(y_pred)
    return float(np.mean(below)) - tau
