"""The engine never needs torch, never raises on odd input, and its scope rules hold."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kinkcheck import catalog as catalog_mod
from kinkcheck.lint.engine import analyze_file
from kinkcheck.lint.index import index_source
from kinkcheck.lint.scope import loss_scope

CATALOG = catalog_mod.load()
CODES = frozenset(c for c in CATALOG.default_codes() if not c.startswith("KC0"))
ROOT = Path(__file__).resolve().parents[2]


def run(source: str, *, scope: str = "loss", loss_functions=(), module="m", path="m.py"):
    source = textwrap.dedent(source)
    index = index_source(source, path, module)
    functions = loss_scope([index], scope=scope, loss_functions=loss_functions).get(path)
    if not functions:
        return []
    return [(f.line, f.code) for f in analyze_file(source, path, module, functions, codes=CODES, catalog=CATALOG)]


@pytest.mark.slow
def test_resolution_does_not_need_torch_or_jax():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None
        sys.modules["jax"] = None
        from kinkcheck import catalog
        from kinkcheck.lint.engine import analyze_file
        src = "import torch as T\\nfrom jax.numpy import sqrt as s\\ndef loss(x):\\n    return T.abs(x) + s(x)\\n"
        c = catalog.load()
        out = analyze_file(src, "m.py", "m", frozenset({"m.loss"}), codes=frozenset(c), catalog=c)
        print(sorted((f.code, f.col, f.confidence) for f in out))
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[('KC101', 12, 'high'), ('KC201', 23, 'high')]"


def test_unparsable_source_raises_syntax_error():
    with pytest.raises(SyntaxError):
        analyze_file("def loss(:\n", "m.py", "m", None, codes=CODES, catalog=CATALOG)


@pytest.mark.slow
def test_deep_nesting_degrades_instead_of_raising():
    # parses, but is too deep for the guards to walk: no guard vouches for that sqrt, so
    # it is reported, and the rest of the function is still checked (the abs of x, not of y:
    # the abs of a sqrt is the rounding guard's identity)
    src = "import torch\ndef loss(x):\n    y = torch.sqrt(" + " + ".join(["x"] * 2000) + ")\n    return y * x.abs()\n"
    out = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG)
    assert [(f.line, f.code) for f in out] == [(3, "KC201"), (4, "KC101")]


def test_nesting_too_deep_to_parse_is_a_syntax_error():
    src = "def loss(x):\n    return " + "(" * 2000 + "x" + ")" * 2000 + "\n"
    with pytest.raises(SyntaxError):
        analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG)
    with pytest.raises(SyntaxError):
        index_source(src, "m.py", "m")


def test_budget_stops_a_blow_up_and_keeps_what_was_found():
    body = "\n".join(f"    a{i} = torch.abs(x)" for i in range(200))
    src = f"import torch\ndef loss(x):\n{body}\n"
    small = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG, budget=800)
    full = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG)
    assert len(full) == 200 and 0 < len(small) < 200


def test_roots_from_grad_transforms_decorators_and_comments():
    src = """
    import jax, kinkcheck, torch

    def energy(w):
        return jax.numpy.abs(w).sum()

    g = jax.value_and_grad(energy)

    @kinkcheck.loss
    def penalty(w):
        return w.sign().sum()

    def reg(w):  # kinkcheck: loss
        return w.round().sum()

    def fitted(w):
        return torch.autograd.grad(w.relu().sum(), [w])

    def unrelated(w):
        return w.abs()
    """
    assert run(src) == [(5, "KC101"), (11, "KC301"), (14, "KC302"), (17, "KC102")]


def test_config_loss_functions_and_depth_bound():
    src = """
    import torch
    def level3(x):
        return x.abs()

    def level2(x):
        return level3(x)

    def level1(x):
        return level2(x)

    def compute(x):
        return level1(x)
    """
    assert run(src) == []
    assert run(src, loss_functions=("compute",)) == [(4, "KC101")]
    index = index_source(textwrap.dedent(src), "m.py", "m")
    shallow = loss_scope([index], loss_functions=("m.compute",), max_depth=2)["m.py"]
    assert "m.level3" not in shallow and "m.level2" in shallow


def test_loss_class_forward_and_inherited_loss_base():
    src = """
    import torch

    class Margin(torch.nn.modules.loss._Loss):
        def forward(self, a, b):
            return (a - b).clamp(min=0).mean()

    class FocalCriterion:
        def __call__(self, p):
            return -(1 - p) ** 0.5

    class Net(torch.nn.Module):
        def forward(self, x):
            return x.relu()
    """
    assert run(src) == [(6, "KC103"), (10, "KC202")]
    assert (14, "KC102") in run(src, scope="model")


def test_all_scope_checks_every_function_but_not_plain_python():
    src = """
    import torch
    def report(x, n: int):
        return x.abs(), abs(n - 1)
    """
    assert run(src) == []
    assert run(src, scope="all") == [(4, "KC101")]


def test_all_scope_checks_a_training_step_as_what_its_backward_reads():
    # the step's logging (`.item()` of the loss, a clip fraction) is not differentiated in any
    # scope; the clamp and the min that `.backward()` reads are kinks in both
    src = """
    import torch

    def train(policy, batch, losses, fractions, clip=0.2):
        ratio = torch.exp(policy(batch.obs) - batch.old_log_prob)
        loss = -torch.min(ratio * batch.adv, ratio.clamp(1 - clip, 1 + clip) * batch.adv).mean()
        losses.append(loss.item())
        fractions.append((torch.abs(ratio - 1) > clip).float().mean().item())
        loss.backward()
    """
    assert sorted(run(src)) == [(6, "KC103"), (6, "KC104")]
    assert sorted(run(src, scope="all")) == [(6, "KC103"), (6, "KC104")]
