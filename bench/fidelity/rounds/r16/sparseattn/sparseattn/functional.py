"""Sparse probability mappings: sparsemax (Martins & Astudillo, 2016), 1.5-entmax
(Peters et al., 2019) and alpha-entmax by bisection (Blondel et al., 2020), where
alpha may be a learned tensor (Correia et al., 2019).
"""
from typing import Optional, Union

import torch
from torch.autograd import Function


def _make_ix_like(X: torch.Tensor, dim: int) -> torch.Tensor:
    """1, 2, ..., d laid out along ``dim`` so that it broadcasts against ``X``."""
    d = X.size(dim)
    rho = torch.arange(1, d + 1, device=X.device, dtype=X.dtype)
    view = [1] * X.dim()
    view[0] = -1
    return rho.view(view).transpose(0, dim)


def _roll_last(X: torch.Tensor, dim: int) -> torch.Tensor:
    """Move ``dim`` to the last position."""
    if dim == -1 or dim == X.dim() - 1:
        return X
    if dim < 0:
        dim = X.dim() + dim
    perm = [i for i in range(X.dim()) if i != dim] + [dim]
    return X.permute(perm)


def _sparsemax_threshold_and_support(X: torch.Tensor, dim: int = -1, k: Optional[int] = None):
    """Threshold tau and support size of sparsemax(X) along ``dim``.

    With ``k`` set, only the k largest entries are sorted; rows whose support
    turns out to be the whole partial sort are solved again with 2k.
    """
    if k is None or k >= X.shape[dim]:
        topk, _ = torch.sort(X, dim=dim, descending=True)
    else:
        topk, _ = torch.topk(X, k=k, dim=dim)

    topk_cumsum = topk.cumsum(dim) - 1
    rhos = _make_ix_like(topk, dim)
    support = rhos * topk > topk_cumsum

    support_size = support.sum(dim=dim).unsqueeze(dim)
    tau = topk_cumsum.gather(dim, support_size - 1)
    tau /= support_size.to(X.dtype)

    if k is not None and k < X.shape[dim]:
        unsolved = (support_size == k).squeeze(dim)
        if torch.any(unsolved):
            rows = _roll_last(X, dim)[unsolved]
            tau_, ss_ = _sparsemax_threshold_and_support(rows, dim=-1, k=2 * k)
            _roll_last(tau, dim)[unsolved] = tau_
            _roll_last(support_size, dim)[unsolved] = ss_

    return tau, support_size


class SparsemaxFunction(Function):
    @classmethod
    def forward(cls, ctx, X, dim=-1, k=None):
        ctx.dim = dim
        max_val, _ = X.max(dim=dim, keepdim=True)
        X = X - max_val
        tau, supp_size = _sparsemax_threshold_and_support(X, dim=dim, k=k)
        output = torch.clamp(X - tau, min=0)
        ctx.save_for_backward(supp_size, output)
        return output

    @classmethod
    def backward(cls, ctx, grad_output):
        supp_size, output = ctx.saved_tensors
        dim = ctx.dim
        grad_input = grad_output.clone()
        grad_input[output == 0] = 0

        v_hat = grad_input.sum(dim=dim) / supp_size.to(output.dtype).squeeze(dim)
        v_hat = v_hat.unsqueeze(dim)
        grad_input = torch.where(output != 0, grad_input - v_hat, grad_input)
        return grad_input, None, None


def sparsemax(X: torch.Tensor, dim: int = -1, k: Optional[int] = None) -> torch.Tensor:
    """Euclidean projection of ``X`` onto the probability simplex along ``dim``."""
    return SparsemaxFunction.apply(X, dim, k)


def entmax15(X: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """1.5-entmax along ``dim``: argmax_p <p, X> + H^T_{1.5}(p)."""
    X = X - X.amax(dim=dim, keepdim=True).detach()
    X = X / 2

    Xsrt, _ = torch.sort(X, dim=dim, descending=True)
    rho = _make_ix_like(X, dim)
    mean = Xsrt.cumsum(dim) / rho
    mean_sq = (Xsrt ** 2).cumsum(dim) / rho
    ss = rho * (mean_sq - mean ** 2)
    delta = (1 - ss) / rho

    delta_nz = torch.clamp(delta, min=0)
    tau = mean - torch.sqrt(delta_nz)

    support_size = (tau <= Xsrt).sum(dim).unsqueeze(dim)
    tau_star = tau.gather(dim, support_size - 1)
    return torch.clamp(X - tau_star, min=0) ** 2


def _entmax_p(Z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """[Z]_+ ** (1 / (alpha - 1)), the unnormalised alpha-entmax density."""
    return torch.clamp(Z, min=0) ** (1.0 / (alpha - 1.0))


def _bisect_threshold(X: torch.Tensor, alpha: torch.Tensor, dim: int, n_iter: int):
    """tau such that sum_i [(alpha - 1) X_i - tau]_+^{1/(alpha-1)} = 1."""
    d = X.shape[dim]
    X = X * (alpha - 1)
    max_val, _ = X.max(dim=dim, keepdim=True)
    tau_lo = max_val - 1.0
    tau_hi = max_val - (1.0 / d) ** (alpha - 1)

    f_lo = _entmax_p(X - tau_lo, alpha).sum(dim, keepdim=True) - 1
    dm = tau_hi - tau_lo
    for _ in range(n_iter):
        dm = dm / 2
        tau_m = tau_lo + dm
        f_m = _entmax_p(X - tau_m, alpha).sum(dim, keepdim=True) - 1
        mask = f_m * f_lo >= 0
        tau_lo = torch.where(mask, tau_m, tau_lo)
    return tau_lo


def entmax_bisect(
    X: torch.Tensor,
    alpha: Union[float, torch.Tensor] = 1.5,
    dim: int = -1,
    n_iter: int = 50,
    ensure_sum_one: bool = True,
) -> torch.Tensor:
    """alpha-entmax along ``dim``; ``alpha`` is a float or a tensor broadcastable to X."""
    if not torch.is_tensor(alpha):
        alpha = torch.tensor(alpha, dtype=X.dtype, device=X.device)
    alpha_shape = list(X.shape)
    alpha_shape[dim] = 1
    alpha = alpha.expand(*alpha_shape)

    with torch.no_grad():
        tau = _bisect_threshold(X, alpha, dim=dim, n_iter=n_iter)

    p = _entmax_p(X * (alpha - 1) - tau, alpha)
    if ensure_sum_one:
        p = p / p.sum(dim=dim, keepdim=True)
    return p


def get_mapping(name: str):
    """Look up a normaliser by name; all take (scores, dim=...)."""
    if name == "softmax":
        return torch.softmax
    if name == "sparsemax":
        return sparsemax
    if name == "entmax15":
        return entmax15
    if name == "entmax_bisect":
        return entmax_bisect
    raise ValueError(f"unknown mapping {name!r}")
