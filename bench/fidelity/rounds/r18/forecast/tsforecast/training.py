"""Models and training / evaluation loops."""
import random
from typing import Dict, Iterable

import torch
import torch.nn as nn

from .config import TrainConfig
from .distributions import DistributionOutput
from .metrics import coverage, summarize
from .scaling import RevIN, Scaler

Batch = Dict[str, torch.Tensor]


class MLPForecaster(nn.Module):
    """Feed-forward network emitting distribution parameters for every horizon step."""

    def __init__(self, context_length: int, prediction_length: int,
                 distr_output: DistributionOutput, hidden_size: int = 64):
        super().__init__()
        self.prediction_length = prediction_length
        self.hidden_size = hidden_size
        self.encoder = nn.Sequential(
            nn.Linear(context_length, hidden_size), nn.GELU(),
            nn.Linear(hidden_size, hidden_size * prediction_length), nn.GELU(),
        )
        self.args_proj = distr_output.get_args_proj(hidden_size)

    def forward(self, past_target: torch.Tensor):
        h = self.encoder(past_target)
        return self.args_proj(h.view(-1, self.prediction_length, self.hidden_size))


class QuantileForecaster(nn.Module):
    """Direct multi-horizon point / quantile forecaster with optional RevIN."""

    def __init__(self, context_length: int, prediction_length: int, num_quantiles: int = 1,
                 hidden_size: int = 128, use_revin: bool = True, nonnegative: bool = False):
        super().__init__()
        self.shape = (prediction_length, num_quantiles)
        self.revin = RevIN(1) if use_revin else None
        self.nonnegative = nonnegative
        self.net = nn.Sequential(
            nn.Linear(context_length, hidden_size), nn.SiLU(),
            nn.Linear(hidden_size, prediction_length * num_quantiles),
        )

    def forward(self, past_target: torch.Tensor) -> torch.Tensor:
        x = past_target.unsqueeze(-1)
        x = self.revin(x, "norm") if self.revin is not None else x
        out = self.net(x.squeeze(-1)).view(-1, *self.shape)
        if self.revin is not None:
            out = self.revin(out, "denorm")
        if self.nonnegative:
            out = torch.clamp(out, min=0.0)
        return out.squeeze(-1) if self.shape[1] == 1 else out


class GRUForecaster(nn.Module):
    """Encoder-decoder GRU decoded one step at a time, optionally with teacher forcing."""

    def __init__(self, prediction_length: int, hidden_size: int = 32):
        super().__init__()
        self.prediction_length = prediction_length
        self.encoder = nn.GRU(1, hidden_size, batch_first=True)
        self.cell = nn.GRUCell(1, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, past_target, future_target=None, teacher_forcing_ratio: float = 0.0):
        _, h = self.encoder(past_target.unsqueeze(-1))
        h, inp = h[0], past_target[:, -1:]
        outputs = []
        for t in range(self.prediction_length):
            h = self.cell(inp, h)
            step = self.head(h)
            outputs.append(step)
            teacher = future_target is not None and random.random() < teacher_forcing_ratio
            inp = future_target[:, t : t + 1] if teacher else step.detach()
        return torch.cat(outputs, dim=1)


def train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
               distr_output: DistributionOutput, scaler: Scaler, cfg: TrainConfig) -> Dict[str, float]:
    """One optimisation step of a parametric (distribution-head) forecaster."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    past, observed = batch["past_target"], batch["past_observed_values"]
    with torch.no_grad():
        scaled_past, loc, scale = scaler(past, observed)
    distr = distr_output.distribution(model(scaled_past), loc=loc, scale=scale)
    loss = loss_fn(distr, batch["future_target"], batch["future_observed_values"])
    if cfg.skip_nonfinite and not torch.isfinite(loss):
        return {"loss": float("nan"), "skipped": 1.0}
    loss.backward()
    grad_norm = 0.0
    if cfg.clip_gradient is not None:
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_gradient))
    optimizer.step()
    return {"loss": loss.item(), "grad_norm": grad_norm, "skipped": 0.0}


def point_train_step(model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer,
                     loss_fn: nn.Module, cfg: TrainConfig) -> Dict[str, float]:
    """One step for point / quantile models trained on metric losses (sMAPE, MASE, soft-DTW, ...)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    past, future, mask = batch["past_target"], batch["future_target"], batch["future_observed_values"]
    if isinstance(model, GRUForecaster):
        forecast = model(past, future, cfg.teacher_forcing_ratio)
    else:
        forecast = model(past)
    loss = loss_fn(forecast, future, mask, insample=past)
    loss.backward()
    if cfg.clip_gradient is not None:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_gradient)
    optimizer.step()
    point = forecast if forecast.dim() == future.dim() else forecast[..., forecast.shape[-1] // 2]
    stats = summarize(point, future, past, cfg.loss.seasonality)
    stats["loss"] = loss.item()
    return stats


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[Batch], distr_output: DistributionOutput,
             scaler: Scaler, cfg: TrainConfig) -> Dict[str, float]:
    model.eval()
    totals: Dict[str, float] = {}
    num_batches = 0
    for batch in loader:
        past, future = batch["past_target"], batch["future_target"]
        scaled_past, loc, scale = scaler(past, batch["past_observed_values"])
        distr = distr_output.distribution(model(scaled_past), loc=loc, scale=scale)
        samples = distr.sample(cfg.num_samples)
        median = samples.median(dim=0).values
        lower, upper = torch.quantile(samples, samples.new_tensor([0.05, 0.95]), dim=0)
        stats = summarize(median, future, past, cfg.loss.seasonality)
        stats["coverage90"] = coverage(lower, upper, future)
        stats["nll"] = -distr.log_prob(future).mean().item()
        for key, value in stats.items():
            totals[key] = totals.get(key, 0.0) + value
        num_batches += 1
    return {key: value / max(num_batches, 1) for key, value in totals.items()}
