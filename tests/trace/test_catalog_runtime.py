"""The op table comes from the catalog: every aten name resolves in the installed torch,
every numpy callable exists, and each traced site carries the rule's torch subgradient,
which the installed torch really returns at the kink."""

import math

import pytest
import torch
import torch.nn.functional as F

from kinkcheck import catalog
from kinkcheck.trace.backends.numpy import NumpyBackend
from kinkcheck.trace.backends.torch import build_table, resolve

RULES = [r for r in catalog.load().values() if r.runtime is not None]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_runtime_names_resolve(rule):
    missing = [n for n in rule.runtime.aten if resolve(n) is None]
    assert not missing, f"{rule.code}: unknown aten overloads {missing}"
    for qual in rule.runtime.numpy:
        owner, _ = NumpyBackend._owner(qual)
        assert owner is not None, f"{rule.code}: {qual} not found"


def test_table_covers_every_runtime_rule():
    cat = catalog.load()
    table, missing = build_table(cat, {r.code for r in RULES}, backend=None)
    assert not missing
    claimed: set = set()
    expected = set()
    for r in sorted(RULES, key=lambda r: r.code):  # an op in two rules counts for the first
        if set(r.runtime.aten) - claimed:
            expected.add(r.code)
        claimed |= set(r.runtime.aten)
    assert {s.code for s in table.values() if s.code} == expected


@pytest.mark.parametrize("rule", [r for r in RULES if r.subgradient("torch") and r.subgradient("torch").expr],
                         ids=lambda r: r.code)
def test_recorded_subgradient_is_what_torch_returns(rule):
    sub = rule.subgradient("torch")
    env = {"torch": torch, "F": F, "math": math}
    xs = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in sub.at.items()}
    out = eval(sub.expr, env, dict(xs))
    grads = torch.autograd.grad(out.sum(), list(xs.values()), allow_unused=True)
    for (name, _), g in zip(xs.items(), grads):
        if name not in sub.grad:
            continue
        want = float(sub.grad[name])
        got = 0.0 if g is None else float(g)
        assert (math.isnan(want) and math.isnan(got)) or got == want, (rule.code, name, got, want)
