"""A finding's rewrites keep the user's own expressions, in the site's own library, with no
free name and nothing evaluated twice; each wrong remedy of issue 11 stays fixed."""

import ast
import textwrap

import pytest

from kinkcheck import catalog, remedy
from kinkcheck.lint.engine import analyze_file

CATALOG = catalog.load()
CODES = frozenset(CATALOG)


def findings(source: str, code: str):
    return [f for f in analyze_file(textwrap.dedent(source), "m.py", "m", None, codes=CODES, catalog=CATALOG)
            if f.code == code]


def torch_loss(body: str, code: str):
    source = "import torch\nimport torch.nn.functional as F\n\n\ndef loss(a, b, model, mask):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")
    (finding,) = findings(source, code)
    return finding


def rewrites(finding) -> dict[str, str]:
    return {r["title"]: r["rewrite"] for r in finding.extra.get("remedies", [])}


@pytest.mark.parametrize(("body", "code", "expected"), [
    ("return torch.abs(a - b).mean()", "KC101", "(torch.sqrt((_x := (a - b)) * _x + 1e-6) - 0.001)"),
    ("return (a / b.abs().sum()).mean()", "KC205", "a / (b.abs().sum() + 1e-6)"),
    ("return torch.div(a * 2, b.norm()).mean()", "KC205", "(a * 2 / (b.norm() + 1e-6))"),  # .mean() of it
    ("return (a ** 0.5).mean()", "KC202", "(a + 1e-6) ** 0.5"),
    ("return torch.reciprocal(b.abs()).mean()", "KC205", "(1.0 / (b.abs() + 1e-6))"),
    ("return torch.sqrt(a).mean()", "KC201", "torch.where(a != 0, torch.sqrt(torch.where(a != 0, a, 1.0)), 0.0)"),
])
def test_the_fix_uses_the_users_expressions_and_documented_constants(body, code, expected):
    """The fix's text is parenthesised where it binds less tightly than what it replaces."""
    assert torch_loss(body, code).replacement == expected


def test_a_soft_minimum_is_a_minimum():
    got = rewrites(torch_loss("return torch.minimum(a, b).mean()", "KC104"))
    assert got == {"soft minimum (logaddexp)": "-torch.logaddexp(-100.0 * a, -100.0 * b) / 100.0",
                   "smooth minimum (abs trick)": "0.5 * (a + b - torch.sqrt((a - b) ** 2 + 1e-6))"}


def test_log_of_a_variance_is_not_told_to_use_log_softmax_but_log_of_a_softmax_is():
    var = rewrites(torch_loss("return torch.log(a.var())", "KC204"))
    assert not any("softmax" in r for r in var.values())
    assert var["clamp to a floor"] == "torch.log(a.var().clamp_min(1e-6))"
    probs = torch_loss("return -torch.log(torch.softmax(a, dim=1)).mean()", "KC204")
    assert probs.replacement == "F.log_softmax(a, dim=1)" and probs.extra["fix"]["applicability"] == "safe"


def test_a_norm_keeps_its_dim_and_keepdim():
    got = rewrites(torch_loss("return (a.norm(dim=1, keepdim=True) - 1).mean()", "KC203"))
    assert got["smooth norm"] == "torch.sqrt((a * a).sum(1, keepdim=True) + 1e-6)"
    assert "dim=1, keepdim=True" in got["double-where"]


def test_a_hinge_clamp_gets_a_softplus_floor_with_its_own_bound_and_a_defined_beta():
    hinge = torch_loss("return torch.clamp(1 - a * b, min=0).mean()", "KC103")
    assert rewrites(hinge) == {"softplus floor": "F.softplus(1 - a * b, beta=100.0)"}
    both = rewrites(torch_loss("return a.clamp(0.05, 0.95).mean()", "KC103"))
    assert both == {"soft clamp": "0.05 + F.softplus(a - 0.05, beta=100.0) - F.softplus(a - 0.95, beta=100.0)"}


def test_relu_gets_softplus_with_beta_defined():
    assert torch_loss("return F.relu(a).mean()", "KC102").replacement == "F.softplus(a, beta=100.0)"


def test_a_repeated_expensive_operand_is_evaluated_once():
    f = torch_loss("return torch.abs(model(a) - b).mean()", "KC101")
    assert f.replacement == "(torch.sqrt((_x := (model(a) - b)) * _x + 1e-6) - 0.001)"
    assert f.replacement.count("model(a)") == 1


def test_a_name_the_file_uses_is_not_taken_for_the_binding():
    f = torch_loss("_x = 1\nreturn torch.abs(model(a) - b).mean() * _x", "KC101")
    assert "(_x2 := (model(a) - b))" in f.replacement


def test_a_denominator_that_already_adds_eps_is_not_told_to_add_eps():
    """A near-hit the tracer saw at ``num / (den + eps)``: the report reads the site from its
    line; the advice is the clamp, with the code's own eps."""
    filled = remedy.for_text(CATALOG["KC205"], "return num / (den + eps)")
    shown = {f.title: f.rewrite for f in filled if f.rewrite}
    assert shown == {"clamp the denominator": "num / (den + eps).clamp_min(eps)"}
    plain = {f.title: f.rewrite for f in remedy.for_text(CATALOG["KC205"], "return num / den") if f.rewrite}
    assert plain["add eps to the denominator"] == "num / (den + 1e-6)"


def test_jax_and_numpy_sites_get_every_remedy_in_their_own_library():
    (jax_abs,) = findings('''
        import jax
        import jax.numpy as jnp

        def objective(r):
            return jnp.abs(r).sum() + jax.nn.relu(r).sum()
    ''', "KC101")
    assert rewrites(jax_abs) == {"pseudo-Huber (smooth abs)": "jnp.sqrt(r * r + 1e-6) - 0.001"}  # no torch huber
    (jax_relu,) = findings('''
        import jax
        import jax.numpy as jnp

        def objective(r):
            return jax.nn.relu(r).sum()
    ''', "KC102")
    assert jax_relu.replacement == "(jax.nn.softplus(100.0 * r) / 100.0)"
    (np_site,) = findings('''
        import numpy as np

        def loss(r):
            return np.sqrt(np.abs(r)).sum()
    ''', "KC101")
    assert np_site.replacement == "(np.sqrt(r * r + 1e-6) - 0.001)"


def test_a_module_imported_under_another_name_is_spelled_that_way():
    (f,) = findings('''
        import torch as T

        def loss(a):
            return T.abs(a).sum()
    ''', "KC101")
    assert f.replacement == "(T.sqrt(a * a + 1e-6) - 0.001)"


def test_a_library_the_file_does_not_import_is_shown_but_not_a_fix():
    (f,) = findings('''
        from torch import sqrt

        def loss(a):
            return sqrt(a).sum()
    ''', "KC201")
    shown = {r["title"]: r for r in f.extra["remedies"]}
    assert shown["double-where"]["needs"] == ["torch"]
    assert f.replacement == "sqrt(a + 1e-6)"  # the only rewrite spelled with what the file has


def test_branches_blend_their_own_values_as_advice_over_the_whole_conditional():
    (f,) = findings('''
        import torch

        def loss(a, b):
            return (a if a.sum() < 1.5 else b).mean()
    ''', "KC401")
    assert rewrites(f) == {"blend the branches smoothly": (
        "torch.sigmoid(100.0 * (1.5 - (_r := a.sum()))) * a + (1 - torch.sigmoid(100.0 * (1.5 - _r))) * b")}
    assert f.replacement is None  # a blend is right only for the intent and scale of the branch: never a fix


def test_adding_eps_to_a_denominator_is_a_fix_only_where_it_is_never_negative():
    count = torch_loss("return (a / b.abs().sum()).mean()", "KC205")
    assert count.extra["fix"]["title"] == "add eps to the denominator"
    angle = torch_loss("return ((torch.pi - a) / torch.sin(a)).mean()", "KC205")
    assert angle.replacement is None and {r["applicability"] for r in angle.extra["remedies"]} == {"display"}
    negated = torch_loss("return (a / -b.norm()).mean()", "KC205")
    assert negated.replacement is None


def test_no_shown_rewrite_has_a_free_name_and_each_parses():
    """Every rewrite of every catalog example names only the example's own names and the
    libraries it imports."""
    for rule in CATALOG.values():
        for ex in rule.invalid:
            try:
                tree = ast.parse(ex.code)
            except SyntaxError:
                continue
            known = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
                a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names} | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
            for f in analyze_file(ex.code, "m.py", "m", None, codes=CODES, catalog=CATALOG):
                for r in f.extra.get("remedies", []):
                    rewrite = ast.parse(r["rewrite"], mode="eval")
                    bound = {n.target.id for n in ast.walk(rewrite) if isinstance(n, ast.NamedExpr)}
                    names = {n.id for n in ast.walk(rewrite) if isinstance(n, ast.Name)}
                    assert names <= known | bound | {n.split(".")[0] for n in r.get("needs", ())}, (ex.id, r)


def test_a_module_is_never_the_operand_of_a_rewrite():
    """``torch = pytest.importorskip("torch")`` hides the import: a site read as the method
    ``.sign()`` of the value ``torch`` gets no rewrite, not ``torch.tanh(k * torch)``."""
    call = ast.parse("torch.sign(x)", mode="eval").body
    filled, _, _ = remedy.for_site(CATALOG["KC301"], node=call, call=call, operand=call.func.value, qname=None,
                                   callee=".sign()", imported={"pytest": "pytest"}, proven_only=False)
    assert [f.rewrite for f in filled] == [None, None]


def test_the_users_own_names_are_never_taken_for_the_templates_constants():
    """A straight-through step names ``k`` (its sharpness) and ``{call}``: the user's own
    ``k`` inside the call stays the user's."""
    filled = remedy.for_text(CATALOG["KC305"], "s = torch.heaviside(v - 1.0, k)", proven_only=False)
    ste = next(f for f in filled if f.title == "straight-through step")
    assert ste.rewrite == ("torch.sigmoid(100.0 * (_x := (v - 1.0))) + (torch.heaviside(_x, k) - "
                           "torch.sigmoid(100.0 * _x)).detach()")


def test_filling_never_changes_the_analyzed_tree():
    tree = ast.parse("y = torch.round(x * 255.0 + 0 * 1.0)", mode="exec")
    call = tree.body[0].value
    before = ast.dump(tree)
    remedy.for_site(CATALOG["KC302"], node=call, call=call, operand=call.args[0], qname="torch.round",
                    callee="torch.round", imported={"torch": "torch"}, proven_only=False)
    assert ast.dump(tree) == before


def test_a_call_with_arguments_the_rewrite_would_drop_gets_none_but_a_positional_keepdim_is_kept():
    masked = remedy.for_text(CATALOG["KC105"], "m = jnp.max(x, axis=1, keepdims=True, where=w, initial=-jnp.inf)",
                             proven_only=False)
    assert {f.rewrite for f in masked} == {None}
    kept = {f.title: f.rewrite for f in remedy.for_text(CATALOG["KC105"], "m = x.amax(1, True)", proven_only=False)}
    assert kept["soft maximum (logsumexp)"] == "torch.logsumexp(100.0 * x, dim=1, keepdim=True) / 100.0"
    rounded = {f.title: f.rewrite for f in remedy.for_text(CATALOG["KC302"], "q = torch.round(x, decimals=2)",
                                                           proven_only=False)}
    assert rounded["straight-through rounding"] == "x + (torch.round(x, decimals=2) - x).detach()"  # {call} keeps it


def test_python_numbers_and_boolean_masks_get_no_fix():
    """``round(n * k)`` on Python numbers has no ``.detach()``; ``x[x < 0] = 0`` needs a
    boolean mask, so a comparison's sigmoid surrogate is advice, never a fix."""
    rounded = remedy.for_text(CATALOG["KC302"], "steps = round(warmup * n)", proven_only=False)
    assert {f.rewrite for f in rounded} == {None}
    mask = remedy.for_text(CATALOG["KC304"], "x[x < 0] = 0")
    assert [(f.rewrite, f.applicability) for f in mask if f.rewrite] == [("torch.sigmoid(100.0 * (0 - x))", "display")]
    assert remedy.first_fix(mask) is None
    l1 = remedy.for_text(CATALOG["KC101"], "loss = abs(pred - y).mean()", proven_only=False)
    assert l1[0].rewrite == "torch.sqrt((_x := (pred - y)) * _x + 1e-6) - 0.001"  # a tensor's abs


def test_the_values_of_a_torch_max_over_a_dim_get_a_soft_maximum_in_their_place():
    """``x.max(dim=1)`` is (values, indices): the rewrite replaces ``.values`` / ``[0]``,
    never the tuple."""
    f = torch_loss("return -a.max(dim=1).values.mean()", "KC105")
    assert f.replacement == "(torch.logsumexp(100.0 * a, dim=1) / 100.0)"
    assert (f.extra["fix"]["col"], f.extra["fix"]["end_col"]) == (13, 32)  # a.max(dim=1).values
    indices = remedy.for_text(CATALOG["KC105"], "i = a.max(dim=1).indices", proven_only=False)
    assert {f.rewrite for f in indices} == {None}


def test_a_std_is_the_root_of_the_variance_with_the_same_arguments():
    f = torch_loss("return -a.std(0, correction=0).mean()", "KC201")
    assert f.replacement == "torch.where((_v := a.var(0, correction=0)) != 0, torch.sqrt(torch.where(_v != 0, _v, 1.0)), 0.0)"
    assert rewrites(f)["smooth std"] == "torch.sqrt(a.var(0, correction=0) + 1e-6)"
