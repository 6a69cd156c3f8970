"""The gradient torch computes at a hit: the backward of the very op, on its own arguments.

When a site first lands exactly on its kink (host counting: the hit is known without a
sync), the op runs once more on detached copies of its inputs with a cotangent that is 1 at
the hit's output element and 0 elsewhere. What autograd returns is the framework's
subgradient there, observed rather than quoted from the catalog; the report claims
"confirmed by the trace" only when it matches the catalog's ``[subgradient.torch] grad``.

Recorded: ``grad``, one value per differentiable input for elementwise kinks (the input's
gradient summed: only the hit's element contributes); for reductions and pools the nonzero
gradients of the first input (where the tie's gradient went: ``[1]`` to one element, or
``[0.5, 0.5]`` split), for norms and distances the distinct gradients of its elements; ``at``,
the inputs' values at the hit for elementwise kinks. Values are strings (``"inf"``, ``"nan"``)
so that the JSON stays standard.
"""

from __future__ import annotations

import math

import torch

from kinkcheck.trace.records import value_text

#: kinds whose distance tensor has the output's shape, element for element
_ELEMENTWISE = ("zero", "tie", "bound", "denominator", "unit", "origin", "step")
_MAX_TIED = 8


def _index(shape, out_shape, hit: int) -> int:
    """The flat index, in an input broadcast to ``out_shape``, of output element ``hit``."""
    coords = []
    for size in reversed(out_shape):
        coords.append(hit % size)
        hit //= size
    coords.reverse()
    coords = coords[len(out_shape) - len(shape):]
    flat = 0
    for c, size in zip(coords, shape):
        flat = flat * size + (c if size > 1 else 0)
    return flat


def _broadcasts(shape, to) -> bool:
    try:
        return tuple(torch.broadcast_shapes(shape, to)) == tuple(to)
    except RuntimeError:
        return False


def observe(func, args, kwargs, d, kind: str) -> dict | None:
    """The gradient of ``func`` at the first exact hit in ``d``, or None when it cannot be
    taken (an ``out=`` overload, an integer output, a distance that is not per output element)."""
    try:
        return _observe(func, args, kwargs, d, kind)
    except Exception:  # noqa: BLE001 - observing must never break training
        return None


def _observe(func, args, kwargs, d, kind: str) -> dict | None:
    if any(a.is_out for a in func._schema.arguments):
        return None
    if torch.Tag.nondeterministic_seeded in getattr(func, "tags", ()):
        return None  # rrelu draws random numbers: running it again would move the user's generator
    hit = int((d.reshape(-1) == 0).nonzero()[0, 0])
    floats = [a for a in args if isinstance(a, torch.Tensor) and (a.is_floating_point() or a.is_complex())]
    if not floats:
        return None
    # an elementwise op runs again on the hit's element alone (0-dim inputs: microseconds);
    # a reduction, a pool or a norm on its whole inputs, with a one-hot cotangent
    elementwise = kind in _ELEMENTWISE and all(_broadcasts(a.shape, d.shape) for a in floats)
    inplace = func._schema.name.endswith("_")
    # inside __torch_dispatch__ autograd is excluded: put it back for these calls (and keep
    # the Python key out, so no dispatch mode sees them)
    keys = torch._C._ForceDispatchKeyGuard(torch._C._dispatch_tls_local_include_set(),
                                           torch._C.DispatchKeySet(torch._C.DispatchKey.Python))
    try:
        with keys, torch.enable_grad():
            leaves, call_args = [], []
            for a in args:
                if isinstance(a, torch.Tensor) and (a.is_floating_point() or a.is_complex()):
                    src = a.detach()
                    if elementwise:
                        src = src.reshape(-1)[_index(a.shape, d.shape, hit)]
                    leaf = src.clone().requires_grad_(True)
                    leaves.append(leaf)
                    call_args.append(leaf.clone() if inplace else leaf)  # in place: on a non-leaf
                else:
                    call_args.append(a)
            out = func(*call_args, **kwargs)
            first = out[0] if isinstance(out, (tuple, list)) else out
            if not first.requires_grad or first.numel() != (1 if elementwise else d.numel()):
                return None
            if elementwise:
                grads = torch.autograd.grad(first.reshape(()), leaves, allow_unused=True)
            else:
                cot = torch.zeros_like(first).reshape(-1)
                cot[hit] = 1
                grads = torch.autograd.grad(first, leaves, cot.view_as(first), allow_unused=True)
    except (RuntimeError, IndexError, TypeError, ValueError):  # no derivative (heaviside), an odd schema
        return None
    if elementwise:
        vals = [float(g) if g is not None else 0.0 for g in grads]
        return {"framework": "torch", "grad": [value_text(v) for v in vals], "at": [value_text(float(v.detach())) for v in leaves]}
    g = grads[0]
    if g is None:
        return None
    flat = g.reshape(-1)
    if kind in ("reduce-tie", "boundary", "window-tie"):
        # where the tie's gradient went: the nonzero gradients (only the hit's slice has any)
        vals = sorted((float(v) for v in flat[flat != 0][: 4 * _MAX_TIED]), reverse=True)
    else:  # a norm or a distance at 0: the distinct gradients of the input's elements
        vals = sorted({float(v) for v in flat.unique()[:_MAX_TIED]}, key=lambda v: (math.isnan(v), -v if not math.isnan(v) else 0))
    return {"framework": "torch", "grad": [value_text(v) for v in vals[:_MAX_TIED]]}
