"""Locators for the torch backend: an op's arguments (and output) -> how far each element is
from the op's kink, and the scale that "near" is measured against.

A locator returns ``(distance, scale, evaluations, harmless)`` or None (nothing to measure:
no site). ``distance`` is a float tensor (NaN and inf never count); ``scale`` is a number or a
tensor broadcastable to it (per element), or None when the rule measures near on the value's
own magnitude (:mod:`kinkcheck.trace.near`); ``evaluations`` a host int; ``harmless`` a count
or None. ``(None, None, n, None)`` counts evaluations only.
"""

from __future__ import annotations

import math

import torch

from kinkcheck.trace.backends.torch_count import _BLOCK, Magnitude, _absd
from kinkcheck.trace.backends.torch_windows import WindowTie

_INF = math.inf


def _arg(args, kwargs, i, name, default=None):
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _amax_abs(x):
    return x.abs().amax() if x.numel() else None


def _mag(x):
    """|x| per element: a tensor, or a number for a scalar operand."""
    return x.abs() if isinstance(x, torch.Tensor) else abs(float(x))


def _max_mag(a, b):
    """max(|a|, |b|) per element (either may be a number)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.maximum(a.abs(), b.abs())
    if isinstance(a, torch.Tensor):
        return a.abs().clamp_min(abs(float(b)))
    if isinstance(b, torch.Tensor):
        return b.abs().clamp_min(abs(float(a)))
    return max(abs(float(a)), abs(float(b)))


def _zero(args, kwargs, out):
    """A kink at 0 of a value that sums and differences produce (relu, abs, sign): near is
    measured on the operand's largest magnitude, the scale they were rounded at. A big CPU
    float32/64 operand goes to the counting as it is (:class:`Magnitude`: counted in chunks)."""
    x = args[0]
    if x.device.type == "cpu" and x.dtype in _CHUNKED and x.numel() >= 4 * _BLOCK and x.is_contiguous():
        return Magnitude(x), None, x.numel(), None
    d = _absd(x)
    return d, d.amax(), x.numel(), None


_CHUNKED = (torch.float32, torch.float64)


def _zero_own(args, kwargs, out):
    """A pole or an infinite slope at 0 (sqrt, log, 1/x): near on the value's own magnitude."""
    x = args[0]
    return x.abs(), None, x.numel(), None


def _zero_of_output(args, kwargs, out):
    """Norms and distances: the kink is where the norm (the output) is 0."""
    o = out[0] if isinstance(out, (tuple, list)) else out
    return o.abs(), None, o.numel(), None


def _euclidean(args, kwargs, out):
    """``cdist``'s matrix-product path (p=2, more than 25 rows): ``|a|^2 + |b|^2 - 2ab`` leaves
    a coinciding pair (the diagonal of ``cdist(x, x)``) at up to ``sqrt(eps) * |a|`` instead of
    0. Pairs within that rounding of 0 get their distance again from the difference itself
    (exact 0 when the rows are equal); the others keep the output."""
    x1, x2 = args[0], args[1]
    n1 = x1.detach().pow(2).sum(-1)
    n2 = x2.detach().pow(2).sum(-1)
    eps = torch.finfo(out.dtype).eps if out.is_floating_point() else 0.0
    slack = ((n1.unsqueeze(-1) + n2.unsqueeze(-2)) * (64 * eps)).sqrt_()
    cand = out <= slack
    d = out.detach().clone()
    a = x1.detach().reshape(-1, *x1.shape[-2:])
    b = x2.detach().reshape(-1, *x2.shape[-2:])
    flat = d.view(-1, *d.shape[-2:])
    if d.device.type == "cpu":  # the few candidates, by index (reading a CPU mask costs no sync)
        k, i, j = cand.reshape(flat.shape).nonzero(as_tuple=True)
        if k.numel():
            flat[k, i, j] = (a[k, i] - b[k, j]).norm(dim=-1)
    else:  # no sync: the exact difference path for every pair where any is a candidate
        exact = torch._cdist_forward(a, b, 2.0, 2)
        flat.copy_(torch.where(cand.reshape(flat.shape), exact, flat))
    return d, None, d.numel(), None


def _log1p(args, kwargs, out):
    x = args[0]
    return (x + 1).abs(), None, x.numel(), None


def _threshold(args, kwargs, out):
    x, th = args[0], float(_arg(args, kwargs, 1, "threshold", 0.0))
    scale = _amax_abs(x)  # a relu shifted to th: the operand's scale, at least |th|
    return (x - th).abs(), scale.clamp_min(abs(th)) if scale is not None else abs(th), x.numel(), None


def _pow(args, kwargs, out):
    x, p = args[0], _arg(args, kwargs, 1, "exponent")
    if not isinstance(x, torch.Tensor):
        return None
    if isinstance(p, torch.Tensor):
        kinked = (p < 1) & (p != 0)
        d = torch.where(kinked, x.abs(), _INF)
        return d, None, d.numel(), None
    p = float(p)
    if p >= 1 or p == 0:
        return None  # x ** 2, x ** 1, x ** 0: no kink (negative powers are poles: counted)
    return x.abs(), None, x.numel(), None


#: a clamp floor below this (clamp_min(eps), F.normalize's) is a guard: the static pass's eps
GUARD_FLOOR = 1e-2


class Bounds:
    """An op's bounds as the catalog's ``[runtime.bounds]`` names them: numbers (hardsigmoid's
    -3 and 3) or argument names read from the call, with the schema's position and default
    (hardtanh's ``min_val``; ``-lambd`` negated). The first is the lower bound."""

    def __init__(self, op, specs):
        self.parts = []
        names = [a.name for a in op._schema.arguments] if op is not None else []
        defaults = {a.name: a.default_value for a in op._schema.arguments} if op is not None else {}
        for spec in specs:
            if isinstance(spec, (int, float)):
                self.parts.append((None, None, float(spec), 1.0))
                continue
            sign = -1.0 if spec.startswith("-") else 1.0
            name = spec.lstrip("-")
            self.parts.append((name, names.index(name) if name in names else None, defaults.get(name), sign))

    def values(self, args, kwargs) -> list:
        out = []
        for name, idx, default, sign in self.parts:
            if name is None:
                out.append(default)
                continue
            v = args[idx] if idx is not None and len(args) > idx else kwargs.get(name, default)
            if v is not None and sign < 0:
                v = -v if isinstance(v, torch.Tensor) else -float(v)
            out.append(v)
        return out


def _bound(bounds: Bounds, guard_floor: bool):
    """Distance to the nearest bound; near on max(|x|, |bound|) per element (the operand's
    scale for a bound at 0: a clamp at 0 is a relu). A lone small positive floor (the
    ``clamp_min(eps)`` guarding a division) is no site unless KC901 itself is traced."""

    def locate(args, kwargs, out):
        x = args[0]
        given = [b for b in bounds.values(args, kwargs)]
        if guard_floor and len(given) >= 1 and given[0] is not None and all(b is None for b in given[1:]):
            lo = given[0]
            if not isinstance(lo, torch.Tensor) and 0 < float(lo) < GUARD_FLOOR:
                return None
        d = scale = None
        for b in given:
            if b is None:
                continue
            di = (x - b).abs()
            if isinstance(b, torch.Tensor) or float(b) != 0:
                si = _max_mag(x, b)
            else:
                si = _amax_abs(x)
            if d is None:
                d, scale = di, si
            else:  # each element is measured against its nearest bound
                closer = di < d
                d = torch.where(closer, di, d)
                scale = torch.where(closer, si, scale)
        if d is None:
            return None
        return d, scale, d.numel(), None

    return locate


def _tie(args, kwargs, out):
    """maximum/minimum: near on max(|a|, |b|) per element (rounding those very values)."""
    a, b = args[0], args[1]
    d = (a - b).abs()
    return d, _max_mag(a, b), d.numel(), None


def _denominator(name):
    def locate(args, kwargs, out):
        if name == "reciprocal":
            x = args[0]
            return x.abs(), None, x.numel(), None
        a, b = args[0], args[1]
        if isinstance(b, torch.Tensor):
            d = b.abs()
            return d, None, max(d.numel(), a.numel() if isinstance(a, torch.Tensor) else 1), None
        if float(b) == 0.0:
            n = a.numel() if isinstance(a, torch.Tensor) else 1
            d = torch.zeros(n, device=a.device, dtype=a.dtype)
            return d, None, n, None
        return None  # x / 2: a nonzero constant divisor never reaches the pole (no site)

    return locate


def _unit(name):
    def locate(args, kwargs, out):
        x = args[0]
        d = (x - 1).abs() if name == "acosh" else (x.abs() - 1).abs()
        return d, 1.0, x.numel(), None

    return locate


def _origin(name):
    def locate(args, kwargs, out):
        if name == "angle":
            x = args[0]
            return x.abs(), None, x.numel(), None
        y, x = args[0], args[1]
        d = torch.maximum(y.abs(), x.abs())
        return d, None, d.numel(), None

    return locate


def _step(name):
    def locate(args, kwargs, out):
        x = args[0]
        if name in ("round",):
            dec = _arg(args, kwargs, 1, "decimals", 0) or 0
            r = x * (10.0 ** dec) if dec else x
            d = (r - r.floor() - 0.5).abs()
            return d, r.abs(), x.numel(), None  # rounding steps: near on |x| per element
        if name in ("floor", "ceil", "trunc", "frac", "fix"):
            d = (x - x.round()).abs()
            return d, x.abs(), x.numel(), None
        if name in ("floor_divide", "remainder", "fmod", "div"):
            q = x / args[1]
            d = (q - q.round()).abs()
            return d, q.abs(), d.numel(), None
        if name in ("gt", "lt", "ge", "le", "eq", "ne", "greater", "less"):
            b = args[1]
            d = (x - b).abs()
            return d, _max_mag(x, b), d.numel(), None
        d = x.abs()  # sign, heaviside: a kink at 0, on the operand's scale
        return d, d.amax(), x.numel(), None

    return locate


def _gap_to_selected(x, v, dims):
    """Distance from the selected value ``v`` (broadcastable, reduced dims kept) to the nearest
    *other* element of its slice: 0 means a tie. Returns one distance per slice."""
    nd = x.dim()
    dims = sorted(d % nd for d in dims) if nd else []
    r = (x - v).abs()
    if not dims:
        return None
    keep = [d for d in range(nd) if d not in dims]
    r = r.permute(*keep, *dims).reshape(*[x.shape[d] for d in keep], -1)
    if r.shape[-1] < 2:
        return None
    return r.topk(2, dim=-1, largest=False).values[..., 1]


def _reduce_tie(name):
    def locate(args, kwargs, out):
        x = args[0]
        if x.numel() < 2 or x.dim() == 0:
            return None, None, 1, None
        if name == "topk":
            k = int(_arg(args, kwargs, 1, "k"))
            dim = int(_arg(args, kwargs, 2, "dim", -1)) % x.dim()
            largest = bool(_arg(args, kwargs, 3, "largest", True))
            values, idx = out
            if k >= x.shape[dim] or k == 0:
                return None, None, values.numel() // max(k, 1), None
            kth = values.amin(dim, keepdim=True) if largest else values.amax(dim, keepdim=True)
            r = (x - kth).abs().scatter(dim, idx, _INF)
            d = r.amin(dim)
            return d, kth.squeeze(dim).abs(), d.numel(), None  # near on the k-th value
        if name == "sort":
            dim = kwargs.get("dim", args[1] if len(args) > 1 else -1)
            values = out[0]
            d = values.diff(dim=int(dim)).abs()
            n = values.shape[int(dim)] - 1
            scale = torch.maximum(values.narrow(int(dim), 0, n).abs(), values.narrow(int(dim), 1, n).abs())
            return d, scale, d.numel(), None  # near on the larger neighbour
        if name in ("amax", "amin"):
            dims = _arg(args, kwargs, 1, "dim", ()) or list(range(x.dim()))
            dims = [dims] if isinstance(dims, int) else list(dims)
            keepdim = bool(_arg(args, kwargs, 2, "keepdim", False))
            v = out
            if not keepdim:
                for d0 in sorted(d % x.dim() for d in dims):
                    v = v.unsqueeze(d0)
            d = _gap_to_selected(x, v, dims)
            sel = v
        elif name == "aminmax":
            mn, mx = out
            dim = _arg(args, kwargs, 1, "dim")
            dims = list(range(x.dim())) if dim is None else [int(dim)]
            keepdim = bool(_arg(args, kwargs, 2, "keepdim", False))
            parts = []
            for v in (mn, mx):
                if not keepdim:
                    for d0 in sorted(d % x.dim() for d in dims):
                        v = v.unsqueeze(d0)
                parts.append(_gap_to_selected(x, v, dims).reshape(-1))
            d = torch.cat(parts)
            sel = torch.cat([mn.reshape(-1), mx.reshape(-1)])
        else:
            vals = out[0] if isinstance(out, (tuple, list)) else out
            if name in ("argmax", "argmin"):
                dim = _arg(args, kwargs, 1, "dim")
                if dim is None:
                    vals = x.reshape(-1)[out]
                else:
                    ix = out if _arg(args, kwargs, 2, "keepdim", False) else out.unsqueeze(int(dim))
                    vals = x.gather(int(dim), ix)
                    vals = vals if _arg(args, kwargs, 2, "keepdim", False) else vals.squeeze(int(dim))
            if vals.dim() == 0 and (len(args) < 2 or name in ("argmax", "argmin")) and not isinstance(out, (tuple, list)):
                dims = list(range(x.dim()))
                v = vals.reshape([1] * x.dim())
                keepdim = True
            else:
                didx = 2 if name == "kthvalue" else 1
                dim = int(_arg(args, kwargs, didx, "dim", -1))
                keepdim = bool(_arg(args, kwargs, didx + 1, "keepdim", False))
                dims = [dim]
                v = vals if keepdim else vals.unsqueeze(dim % x.dim())
            d = _gap_to_selected(x, v, dims)
            sel = v
        if d is None:
            return None, None, 1, None
        return d, sel.abs().reshape(d.shape), d.numel(), None  # near on the selected value

    return locate


def locator(kind: str, name: str, backend, *, near: str = "tensor", op=None, bounds=(), code: str = ""):
    """(locate, measured after the op?) for an overload ``name`` of a rule's ``kind``."""
    if name in ("linalg_vector_norm", "norm", "dist", "_cdist_forward", "_pdist_forward", "frobenius_norm",
                "linalg_norm", "linalg_matrix_norm", "nuclear_norm", "cdist", "pdist", "renorm"):
        return _zero_of_output, True
    if name == "_euclidean_dist":
        return _euclidean, True
    if name == "log1p":
        return _log1p, False
    if name == "threshold":
        return _threshold, False
    if name in ("pow", "float_power"):
        return _pow, False
    if kind == "window-tie" or "max_pool" in name:
        return WindowTie(name, backend), True
    if kind in ("reduce-tie", "boundary") or name in ("topk", "sort"):
        return _reduce_tie(name), True
    if kind == "bound":
        return _bound(Bounds(op, bounds), guard_floor=code != "KC901"), False
    if kind == "tie":
        return _tie, False
    if kind == "denominator":
        return _denominator(name), False
    if kind == "unit":
        return _unit(name), False
    if kind == "origin":
        return _origin(name), False
    if kind == "step":
        return _step(name), False
    if near == "own":
        return _zero_own, False
    return _zero, False
