"""Evaluation metrics of the Deep Image Matting benchmark: SAD, MSE, gradient and connectivity errors.

The numpy implementations follow the reference MATLAB code released with Xu et al. (2017).
"""
from collections import defaultdict
from typing import Dict, Optional

import numpy as np
import torch
from scipy import ndimage


def to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def unknown_region(trimap: np.ndarray) -> np.ndarray:
    if trimap.max() > 1.0:
        trimap = trimap / 255.0
    return ((trimap > 0.25) & (trimap < 0.75)).astype(np.float32)


def compute_sad(pred, target, trimap=None, scale: float = 1000.0) -> float:
    pred, target = to_numpy(pred), to_numpy(target)
    err = np.abs(pred - target)
    if trimap is not None:
        err = err * unknown_region(to_numpy(trimap))
    return float(err.sum()) / scale


def compute_mse(pred, target, trimap=None) -> float:
    pred, target = to_numpy(pred), to_numpy(target)
    err = (pred - target) ** 2
    if trimap is None:
        return float(err.mean())
    region = unknown_region(to_numpy(trimap))
    return float((err * region).sum() / max(region.sum(), 1.0))


def _gauss(x, sigma):
    return np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))


def _dgauss(x, sigma):
    return -x * _gauss(x, sigma) / sigma ** 2


def gauss_gradient(im: np.ndarray, sigma: float):
    epsilon = 1e-2
    halfsize = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    size = 2 * halfsize + 1
    hx = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            hx[i, j] = _gauss(i - halfsize, sigma) * _dgauss(j - halfsize, sigma)
    hx = hx / np.sqrt(np.sum(np.abs(hx) * np.abs(hx)))
    hy = hx.transpose()
    return ndimage.convolve(im, hx, mode="nearest"), ndimage.convolve(im, hy, mode="nearest")


def compute_gradient_error(pred, target, trimap=None, sigma: float = 1.4) -> float:
    pred, target = to_numpy(pred).squeeze(), to_numpy(target).squeeze()
    pred_x, pred_y = gauss_gradient(pred, sigma)
    gt_x, gt_y = gauss_gradient(target, sigma)
    pred_amp = np.sqrt(pred_x ** 2 + pred_y ** 2)
    gt_amp = np.sqrt(gt_x ** 2 + gt_y ** 2)
    err = (pred_amp - gt_amp) ** 2
    if trimap is not None:
        err = err * unknown_region(to_numpy(trimap).squeeze())
    return float(err.sum()) / 1000.0


def _largest_component(binary: np.ndarray) -> np.ndarray:
    labels, num = ndimage.label(binary, structure=np.ones((3, 3)))
    if num == 0:
        return np.zeros(binary.shape, dtype=np.float32)
    sizes = np.bincount(labels.ravel())[1:]
    return (labels == np.argmax(sizes) + 1).astype(np.float32)


def largest_component_mask(alpha: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Binary mask of the largest 8-connected component of ``alpha >= threshold`` per sample."""
    alpha_np = alpha.detach().cpu().numpy()
    out = np.zeros_like(alpha_np, dtype=np.float32)
    for i in range(alpha_np.shape[0]):
        out[i, 0] = _largest_component(alpha_np[i, 0] >= threshold)
    return torch.from_numpy(out).to(alpha.device)


def compute_connectivity_error(pred, target, trimap=None, step: float = 0.1) -> float:
    pred, target = to_numpy(pred).squeeze(), to_numpy(target).squeeze()
    thresh_steps = np.arange(0, 1 + step, step)
    l_map = np.full(pred.shape, -1.0, dtype=np.float32)
    for i in range(1, len(thresh_steps)):
        pred_thresh = pred >= thresh_steps[i]
        target_thresh = target >= thresh_steps[i]
        omega = _largest_component(pred_thresh & target_thresh)
        flag = (l_map == -1) & (omega == 0)
        l_map[flag] = thresh_steps[i - 1]
    l_map[l_map == -1] = 1
    pred_d = pred - l_map
    target_d = target - l_map
    pred_phi = 1 - pred_d * (pred_d >= 0.15)
    target_phi = 1 - target_d * (target_d >= 0.15)
    err = np.abs(pred_phi - target_phi)
    if trimap is not None:
        err = err * unknown_region(to_numpy(trimap).squeeze())
    return float(err.sum()) / 1000.0


class MattingMetrics:
    """Running averages of the four benchmark errors over a validation set."""

    def __init__(self, grad_sigma: float = 1.4, conn_step: float = 0.1, sad_scale: float = 1000.0):
        self.grad_sigma = grad_sigma
        self.conn_step = conn_step
        self.sad_scale = sad_scale
        self.reset()

    def reset(self):
        self.sums: Dict[str, float] = defaultdict(float)
        self.count = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor, trimap: Optional[torch.Tensor] = None):
        for i in range(pred.shape[0]):
            tri = trimap[i] if trimap is not None else None
            self.sums["sad"] += compute_sad(pred[i], target[i], tri, self.sad_scale)
            self.sums["mse"] += compute_mse(pred[i], target[i], tri)
            self.sums["grad"] += compute_gradient_error(pred[i], target[i], tri, self.grad_sigma)
            self.sums["conn"] += compute_connectivity_error(pred[i], target[i], tri, self.conn_step)
            self.count += 1

    def compute(self) -> Dict[str, float]:
        n = max(self.count, 1)
        return {k: v / n for k, v in self.sums.items()}
