"""Point and probabilistic accuracy measures (M4 / N-BEATS conventions)."""
from typing import Dict, Sequence

import numpy as np
import torch


def divide_no_nan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a / b, with NaN and +inf results replaced by zero."""
    result = a / b
    result[result != result] = 0.0
    result[result == np.inf] = 0.0
    return result


def naive_scale(insample: torch.Tensor, seasonality: int = 1) -> torch.Tensor:
    """In-sample mean absolute error of the seasonal naive forecast, one value per series."""
    return torch.mean(torch.abs(insample[:, seasonality:] - insample[:, :-seasonality]), dim=1)


def mase(insample, seasonality: int, forecast, target, mask) -> torch.Tensor:
    masep = naive_scale(insample, seasonality)
    masked_masep_inv = divide_no_nan(mask, masep[:, None])
    return torch.mean(torch.abs(target - forecast) * masked_masep_inv)


def smape(forecast, target, mask) -> torch.Tensor:
    numerator = torch.abs(forecast - target)
    denominator = torch.abs(forecast.data) + torch.abs(target.data)
    return 200.0 * torch.mean(divide_no_nan(numerator, denominator) * mask)


def mape(forecast, target, mask) -> torch.Tensor:
    weights = divide_no_nan(mask, target)
    return torch.mean(torch.abs(forecast - target) * weights)


def rmse(forecast, target) -> torch.Tensor:
    return torch.sqrt(torch.mean((forecast - target) ** 2))


def rmsse(insample, seasonality: int, forecast, target, mask) -> torch.Tensor:
    naive_mse = torch.mean((insample[:, seasonality:] - insample[:, :-seasonality]) ** 2, dim=1)
    counts = mask.sum(dim=1).clamp_min(1.0)
    mse = (mask * (forecast - target) ** 2).sum(dim=1) / counts
    return torch.mean((mse / naive_mse.clamp_min(1e-8)) ** 0.5)


@torch.no_grad()
def coverage(lower: torch.Tensor, upper: torch.Tensor, target: torch.Tensor) -> float:
    inside = (target >= lower) & (target <= upper)
    return inside.float().mean().item()


def weighted_quantile_loss(forecast_q: np.ndarray, target: np.ndarray, quantiles: Sequence[float]) -> float:
    """wQL over a quantile grid; ``forecast_q`` has the levels on its last axis."""
    total = 0.0
    for i, q in enumerate(quantiles):
        pred = forecast_q[..., i]
        total += 2.0 * np.sum(np.abs((target - pred) * ((target <= pred) - q)))
    return total / (len(quantiles) * max(np.sum(np.abs(target)), 1e-8))


def summarize(forecast: torch.Tensor, target: torch.Tensor, insample: torch.Tensor,
              seasonality: int = 1) -> Dict[str, float]:
    """All point metrics of a batch as plain floats, for logging."""
    mask = torch.ones_like(target)
    f = forecast.detach()
    return {
        "smape": smape(f, target, mask).item(),
        "mase": mase(insample, seasonality, f, target, mask).item(),
        "mape": mape(f, target, mask).item(),
        "rmsse": rmsse(insample, seasonality, f, target, mask).item(),
    }
