"""Host-side evaluation metrics for fitted cloth parameters (not differentiated)."""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np


def position_rmse(pred, obs, visibility=None) -> float:
    err = jnp.sum((pred - obs) ** 2, axis=-1)
    if visibility is not None:
        w = visibility > 0.5
        return float(jnp.sqrt(jnp.sum(jnp.where(w, err, 0.0)) / jnp.maximum(jnp.sum(w), 1)))
    return float(jnp.sqrt(jnp.mean(err)))


def per_frame_error(pred, obs) -> np.ndarray:
    pred, obs = np.asarray(jax.device_get(pred)), np.asarray(jax.device_get(obs))
    return np.linalg.norm(pred - obs, axis=-1).mean(axis=-1)


def error_percentiles(pred, obs, qs=(50, 90, 99)) -> Dict[str, float]:
    err = np.linalg.norm(np.asarray(pred) - np.asarray(obs), axis=-1).ravel()
    err = np.sort(err)
    return {f"p{q}": float(err[min(int(q / 100 * len(err)), len(err) - 1)]) for q in qs}


def max_penetration(traj, sdf_fn) -> float:
    d = jax.vmap(jax.vmap(sdf_fn))(traj)
    return jnp.max(jnp.maximum(-d, 0.0)).item()


def hausdorff_np(pred, obs) -> float:
    pred, obs = np.asarray(pred), np.asarray(obs)
    d = np.sqrt(((pred[:, None, :] - obs[None, :, :]) ** 2).sum(-1))
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def parameter_error(params, true_params) -> Dict[str, float]:
    """Relative error of each identified parameter against ground truth."""
    out = {}
    for name, true_val in true_params.items():
        est = float(params[name])
        out[name] = abs(est - true_val) / max(abs(true_val), 1e-12)
    return out


def summarize(pred, obs, visibility, params, true_params=None) -> Dict[str, float]:
    stats = {"rmse": position_rmse(pred, obs, visibility)}
    stats.update(error_percentiles(pred, obs))
    stats["final_frame_error"] = float(per_frame_error(pred, obs)[-1])
    if true_params is not None:
        stats.update({f"param_err/{k}": v for k, v in parameter_error(params, true_params).items()})
    return stats
