"""kinkcheck: find and document the points where ML and numerical code is not differentiable.

Import cost matters (the pre-commit hook imports this package on every commit), so the
tracer and the analyzer are only imported when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Near", "__version__", "loss", "trace"]


def loss(func):
    """Mark a function as loss code for the static analyzer. Does nothing at run time."""
    return func


def __getattr__(name: str):
    if name == "trace":
        from kinkcheck.trace import trace

        return trace
    if name == "Near":  # ``trace(near=Near(...))`` reads best with both from the top level
        from kinkcheck.trace.near import Near

        return Near
    raise AttributeError(f"module 'kinkcheck' has no attribute {name!r}")
