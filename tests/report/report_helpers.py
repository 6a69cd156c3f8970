"""Builders for the report tests: real Finding objects and version-1 trace dicts (the
schema in DEVELOPERS.md), pointing into the fixture project in fixtures/project."""

from __future__ import annotations

from pathlib import Path

from kinkcheck import catalog
from kinkcheck.findings import Finding

FIXTURES = Path(__file__).parent / "fixtures"


def rule(code: str):
    return catalog.load()[code]


def line_of(path: Path, text: str) -> tuple[int, int]:
    """1-based (line, col) of the first occurrence of ``text`` in ``path``."""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return n, line.index(text) + 1
    raise AssertionError(f"{text!r} not in {path}")


def finding(root: Path, code: str, expr: str, function: str | None, *, path: str = "train.py",
            documented: bool = False, reason: str | None = None, **kw) -> Finding:
    """The finding the analyzer reports for ``expr`` (located in the fixture file)."""
    line, col = line_of(root / path, expr)
    return Finding(code=code, name=rule(code).name, category=rule(code).category, path=path, line=line, col=col, end_line=line,
                   end_col=col + len(expr), message=f"`{expr}` has a kink", function=function,
                   documented=documented, reason=reason, snippet=expr, **kw)


def site(path: str, line: int, code: str, *, evaluations=1000, exact=0, near=0, harmless=0, function=None,
         module=None, steps=((0, 500, None, None), (1, 500, None, None)), histogram=None, observed=None) -> dict:
    """One trace site record; per-step exact/near default to an even split of the totals;
    ``observed``: the gradient the tracer saw at a hit (its ``grad`` list)."""
    rows, n = [], len(steps)
    for i, (step, ev, ex, nr) in enumerate(steps):
        rows.append([step, ev, exact // n + (i < exact % n) if ex is None else ex,
                     near // n + (i < near % n) if nr is None else nr])
    if histogram is None:
        histogram = {"exact": exact, "-7": near, "-1": evaluations - exact - near}
    return {"path": path, "line": line, "function": function, "code": code, "name": rule(code).name,
            "op": "aten.op.default", "module": module, "dtype": "float32", "evaluations": evaluations,
            "exact": exact, "near": near, "harmless": harmless, "histogram": histogram, "per_step": rows,
            "near_scale": "tensor", "subgradient": None,
            **({"observed": {"framework": "torch", "grad": list(observed), "at": ["0"], "step": 0}} if observed else {})}


def trace(root: Path | str, sites: list[dict], steps: int = 2) -> dict:
    return {"format": "kinkcheck-trace", "version": 1, "kinkcheck": "0.1.0", "created": "2026-11-26T10:00:00Z",
            "root": str(root), "frameworks": {"torch": "2.13.0"}, "ranks": [0], "steps": steps,
            "near": {"ulps": 4, "abs": 1e-30}, "sites": sites}


def static_findings(root: Path) -> list[Finding]:
    """What the analyzer finds in the fixture project's loss code."""
    return [
        finding(root, "KC101", "torch.abs(d)", "loss_fn"),
        finding(root, "KC201", "torch.sqrt((d * d).sum())", "loss_fn", documented=True,
                reason="the batch never fits exactly"),
        finding(root, "KC103", "margin.clamp(min=0)", "hinge_loss"),
        finding(root, "KC401", "pred.mean() > 0", "check_loss"),
    ]
