"""torch.compile'd counting kernels (the max-pool window check on GPUs), made on first use;
any failure (no triton, no compiler, an inductor bug) falls back to eager ops, said once."""

from __future__ import annotations

import sys
import warnings

import torch

_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


class _Compiled:
    """torch.compile'd kernels, made on first use; any failure falls back to eager."""

    def __init__(self):
        self.fns: dict = {}
        self.broken = False
        self.graphs = 0  # graphs compiled here (not the user's, for the compile warning)
        self.error = None

    def __call__(self, name, impl, *args):
        if not self.broken:
            fn = self.fns.get(name)
            try:
                if fn is None:
                    fn = self.fns[name] = torch.compile(impl, dynamic=True)
                stats = _dynamo_stats()
                before = stats["unique_graphs"] if stats is not None else 0
                out = fn(*args)
                if stats is not None:
                    self.graphs += stats["unique_graphs"] - before
                return out
            except Exception as err:  # noqa: BLE001 - no triton, no compiler, an inductor bug: eager
                self.broken = True
                self.error = err
                _warn_once("compile-count", f"kinkcheck.trace: compiled window check unavailable ({type(err).__name__}: "
                           f"{str(err).splitlines()[0][:200]}); using eager ops")
        return impl(*args)


def _dynamo_stats():
    dyn = sys.modules.get("torch._dynamo.utils")
    return dyn.counters["stats"] if dyn is not None else None


compiled = _Compiled()


_FUSED_OK = None


def _fused_ok() -> bool:
    global _FUSED_OK
    if _FUSED_OK is None:
        try:
            import triton  # type: ignore[import-not-found]  # noqa: F401

            _FUSED_OK = True
        except Exception:  # noqa: BLE001 - a broken triton install is as good as none
            _FUSED_OK = False
    return _FUSED_OK
