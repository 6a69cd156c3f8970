"""Every rule's ``docs.example`` and ``docs.use_instead`` block runs: the analyzer finds the
rule's kink in the example and not in what to use instead, and both blocks execute in torch
on generated inputs (what to use instead with a finite gradient). Before, only their
presence was checked."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from kinkcheck import catalog
from kinkcheck.lint.api import check_source

CATALOG = catalog.load()
RULES = [r for r in CATALOG.values() if r.category != "meta"]
PRELUDE = "import numpy as np\nimport torch\nimport torch.nn.functional as F\n\n"


def block(text: str) -> str:
    m = re.search(r"```python\n(.*?)```", text, re.S)
    assert m, "a ```python block"
    return m.group(1)


def findings(code: str, rule) -> list:
    return [f for f in check_source(PRELUDE + code, "doc.py", module="doc", codes=[rule.code])
            if f.code == rule.code and not f.documented]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_the_example_has_the_kink_and_what_to_use_instead_does_not(rule):
    assert findings(block(rule.docs.example), rule), "the example shows the rule's kink"
    assert not findings(block(rule.docs.use_instead), rule), "what to use instead has none left undocumented"


def _argument(torch, name: str, *, grad: bool, code: str):
    """An input for a docs function's parameter, by what its name says it is."""
    gen = torch.Generator().manual_seed(0)
    if name in ("model", "student", "teacher"):
        torch.manual_seed(0)
        return torch.nn.Linear(3, 3)
    if name in ("target", "y") and code in ("KC204", "KC303"):
        return torch.tensor([0, 2, 1, 1])
    if name == "labels" and code == "KC105":
        return torch.eye(4, dtype=torch.bool)
    shape = (1, 2, 4, 4) if code == "KC106" else (4, 4) if code == "KC105" else (4, 3)
    value = torch.rand(shape, generator=gen) * 0.8 + 0.1
    if name == "probs":
        value = value.softmax(-1)
    return value.requires_grad_(grad)


def _run(code: str, rule, *, grad: bool):
    import numpy as np
    import torch
    import torch.nn.functional as F

    ns: dict = {"torch": torch, "F": F, "np": np}
    exec(compile(code, f"<{rule.code} docs>", "exec"), ns)  # noqa: S102 - the catalog's own examples
    (fn,) = [v for k, v in ns.items() if inspect.isfunction(v) and k in {n.name for n in ast.parse(code).body
                                                                          if isinstance(n, ast.FunctionDef)}]
    params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    args = {p.name: _argument(torch, p.name, grad=grad, code=rule.code) for p in params}
    value = fn(**args)
    assert torch.isfinite(torch.as_tensor(value)).all()
    return value, args


@pytest.fixture
def one_rank_group(tmp_path):
    """A real gloo process group of one rank: the collectives of KC508's blocks run as they
    would on rank 0 of a job."""
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("this torch build has no torch.distributed")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_both_blocks_run_and_what_to_use_instead_has_a_finite_gradient(rule, request):
    torch = pytest.importorskip("torch")
    if rule.code == "KC508":
        request.getfixturevalue("one_rank_group")
    if rule.code != "KC505":  # the example's point: SciPy cannot take a tensor that needs a gradient
        _run(block(rule.docs.example), rule, grad=False)
    value, args = _run(block(rule.docs.use_instead), rule, grad=True)
    leaves = [a for a in args.values() if torch.is_tensor(a) and a.requires_grad]
    if value.requires_grad and leaves:
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)
