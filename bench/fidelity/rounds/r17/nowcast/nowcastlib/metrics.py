"""Verification scores for evaluating nowcasts (not used as training losses)."""
import math

import numpy as np
import torch

from .functional import fractions, valid_mask


@torch.no_grad()
def contingency_table(pred, target, threshold, mask=None):
    p = pred >= threshold
    o = target >= threshold
    if mask is None:
        mask = torch.ones_like(p)
    hits = (p & o & mask).sum().item()
    misses = (~p & o & mask).sum().item()
    false_alarms = (p & ~o & mask).sum().item()
    correct_negatives = (~p & ~o & mask).sum().item()
    return hits, misses, false_alarms, correct_negatives


def scores_from_table(hits, misses, false_alarms, correct_negatives):
    n = hits + misses + false_alarms + correct_negatives
    hits_random = (hits + misses) * (hits + false_alarms) / max(n, 1)
    ets_den = hits + misses + false_alarms - hits_random
    return {
        "pod": hits / max(hits + misses, 1),
        "far": false_alarms / max(hits + false_alarms, 1),
        "csi": hits / max(hits + misses + false_alarms, 1),
        "bias": (hits + false_alarms) / max(hits + misses, 1),
        "ets": (hits - hits_random) / ets_den if ets_den > 0 else 0.0,
    }


@torch.no_grad()
def fss_score(pred, target, threshold, scale):
    fp = fractions((pred >= threshold).float(), scale)
    fo = fractions((target >= threshold).float(), scale)
    num = ((fp - fo) ** 2).sum().item()
    den = (fp ** 2).sum().item() + (fo ** 2).sum().item()
    return 1.0 - num / den if den > 0 else float("nan")


class SkillTracker:
    """Accumulates categorical scores, FSS and continuous errors over a test set."""

    def __init__(self, thresholds, scales=(1, 5, 9)):
        self.thresholds = tuple(thresholds)
        self.scales = tuple(scales)
        self.reset()

    def reset(self):
        self.tables = {t: np.zeros(4, dtype=np.int64) for t in self.thresholds}
        self.fss = {(t, s): [] for t in self.thresholds for s in self.scales}
        self.sq_err = 0.0
        self.abs_err = 0.0
        self.count = 0

    @torch.no_grad()
    def update(self, pred, target, mask=None):
        if mask is None:
            mask = valid_mask(target)
        for t in self.thresholds:
            self.tables[t] += np.asarray(contingency_table(pred, target, t, mask))
            for s in self.scales:
                self.fss[(t, s)].append(fss_score(pred, target, t, s))
        err = (pred - target)[mask]
        self.sq_err += (err ** 2).sum().item()
        self.abs_err += err.abs().sum().item()
        self.count += int(mask.sum().item())

    def compute(self):
        n = max(self.count, 1)
        out = {"rmse": math.sqrt(self.sq_err / n), "mae": self.abs_err / n}
        for t, table in self.tables.items():
            for name, value in scores_from_table(*table.tolist()).items():
                out[f"{name}@{t:g}"] = value
        for (t, s), values in self.fss.items():
            finite = [v for v in values if np.isfinite(v)]
            out[f"fss@{t:g}/{s}"] = float(np.mean(finite)) if finite else float("nan")
        return out


def quantile_coverage(pred_quantiles, target, lower=0, upper=-1):
    """Share of observations inside the forecast interval [q_lower, q_upper]."""
    with torch.no_grad():
        q = torch.sort(pred_quantiles, dim=1).values
        inside = (target >= q[:, lower]) & (target <= q[:, upper])
        return inside.float().mean().item()
