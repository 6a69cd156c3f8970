"""The harness: every remedy rewrite run against the original, in torch, JAX and NumPy.

For each rule's cases (:mod:`kinkcheck.remedy.cases`) and each remedy the filler makes
concrete for a case, on generated inputs away from the kink and at it (and, with the same
checks but for the error, at every site of the rule's ``[[invalid]]`` examples as the
analyzer fills them):

- the rewrite evaluates, with the original's shape and dtype (a comparison is compared as
  0/1 in the rewrite's dtype; a Python scalar from ``.item()`` / ``float()`` by value);
- away from the kink (at least ``cases.AWAY`` from it) it is within the remedy's stated
  ``error`` of the original (absolute, or relative to |original|), plus float32 rounding;
- with the smoothing constant sharpened a hundredfold, the error shrinks and stays within
  the stated error there (the documented limit);
- on the stated side (``bound``: a soft maximum is >= the maximum), at and away from the kink;
- its gradient at the kink is finite (torch autograd, ``jax.grad``; for NumPy, which has no
  gradients, central differences in float64).

``python -m kinkcheck.remedy.prove --write`` records the verdicts in ``proven.json``, which
the filler reads: a rewrite without ``ok`` there is not shown. Needs torch, jax and numpy;
the linter itself never imports this module.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import sys
from collections import defaultdict

import numpy as np

from kinkcheck import catalog as catalog_mod
from kinkcheck.remedy import PROVEN, fill_remedy, locate
from kinkcheck.remedy.bindings import bind
from kinkcheck.remedy.cases import CASES, Case
from kinkcheck.remedy.frameworks import Spelling, framework_of

#: what the case expressions' names mean in each framework
IMPORTS = {
    "torch": {"torch": "torch", "F": "torch.nn.functional"},
    "jax": {"jax": "jax", "jnp": "jax.numpy"},
    "numpy": {"np": "numpy"},
}
#: float32 rounding allowed on top of a stated error: relative and absolute
RTOL, ATOL = 2e-5, 2e-5
SHARPEN = 100.0
#: smoothing constants that sharpen by shrinking (the others, k and beta, by growing)
SHRINKS = ("eps", "delta")


class Failed(Exception):
    pass


def namespace(framework: str) -> dict:
    ns: dict = {"math": math}
    if framework == "torch":
        import torch
        import torch.nn.functional as F

        ns.update(torch=torch, F=F)
    elif framework == "jax":
        import jax
        import jax.numpy as jnp

        ns.update(jax=jax, jnp=jnp)
    else:
        ns.update(np=np)
    return ns


def to_framework(framework: str, arrays: dict[str, np.ndarray], grad: bool = False) -> dict:
    if framework == "torch":
        import torch

        return {k: torch.tensor(v, requires_grad=grad and v.ndim > 0) for k, v in arrays.items()}
    if framework == "jax":
        import jax.numpy as jnp

        return {k: jnp.asarray(v) for k, v in arrays.items()}
    return {k: v.copy() for k, v in arrays.items()}


def to_numpy(value):
    if hasattr(value, "detach"):
        return value.detach().numpy()
    return np.asarray(value)


def evaluate(expr: str, framework: str, arrays: dict[str, np.ndarray]):
    ns = namespace(framework)
    ns.update(to_framework(framework, arrays))
    return eval(compile(expr, "<case>", "eval"), ns)  # noqa: S307 - the harness's own expressions


def gradient_finite(expr: str, framework: str, arrays: dict[str, np.ndarray]) -> str:
    """'' if the rewrite's gradient (of its sum) at ``arrays`` is finite, else why not."""
    names = sorted(k for k, v in arrays.items() if v.ndim > 0)
    if framework == "torch":
        import torch

        ns = namespace("torch")
        inputs = to_framework("torch", arrays, grad=True)
        ns.update(inputs)
        out = eval(compile(expr, "<case>", "eval"), ns)  # noqa: S307
        if not torch.is_tensor(out) or not out.is_floating_point() or not out.requires_grad:
            return ""
        out.sum().backward()
        for name in names:
            g = inputs[name].grad
            if g is not None and not torch.isfinite(g).all():
                return f"gradient wrt {name} not finite at the kink"
        return ""
    if framework == "jax":
        import jax
        import jax.numpy as jnp

        ns = namespace("jax")
        fixed = to_framework("jax", {k: v for k, v in arrays.items() if k not in names})
        fn = eval(compile(f"lambda {', '.join(names)}: {expr}", "<case>", "eval"), {**ns, **fixed})  # noqa: S307
        args = [jnp.asarray(arrays[n]) for n in names]
        probe = fn(*args)
        if not jnp.issubdtype(jnp.asarray(probe).dtype, jnp.floating):
            return ""
        grads = jax.grad(lambda *xs: jnp.sum(fn(*xs)), argnums=tuple(range(len(names))))(*args)
        for name, g in zip(names, grads):
            if not np.isfinite(np.asarray(g)).all():
                return f"gradient wrt {name} not finite at the kink"
        return ""
    # numpy has no gradients: forward differences in float64 (a kink is often the edge of
    # the domain, sqrt or log at 0, so no step goes below it)
    h = 1e-9
    wide: dict = {k: v.astype(np.float64) for k, v in arrays.items()}
    with np.errstate(all="ignore"):
        base: float = np.sum(evaluate(expr, "numpy", wide))
    for name in names:
        for i in range(min(wide[name].size, 12)):
            up = dict(wide)
            up[name] = wide[name].copy()
            up[name].flat[i] += h
            with np.errstate(all="ignore"):
                d = (np.sum(evaluate(expr, "numpy", up)) - base) / h
            if not np.isfinite(d):
                return f"difference quotient wrt {name} not finite at the kink"
    return ""


def _error_bound(remedy, params: dict[str, float], extra: dict) -> float | np.ndarray:
    ns = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, **params, **extra}
    return eval(compile(remedy.error, "<error>", "eval"), ns)  # noqa: S307 - the catalog's own


def _binding_values(site_bindings, framework: str, arrays) -> dict:
    """Numbers and arrays the stated error may name: p (an exponent), lo, hi, then, else_."""
    out = {}
    for key, name in (("other", "p"), ("lo", "lo"), ("hi", "hi"), ("then", "then"), ("else", "else_")):
        node = site_bindings.values.get(key)
        if node is None:
            continue
        try:
            out[name] = to_numpy(evaluate(ast.unparse(node), framework, arrays)).astype(np.float64)
        except Exception:  # noqa: BLE001 - a binding that is not a value (a module) names nothing
            pass
    return out


def check(rule, remedy, case_expr: str, framework: str, gen, rng) -> tuple[str, str]:
    """('ok' | 'skip' | 'fail', detail) for one remedy on one case expression."""
    site = locate(rule, case_expr, IMPORTS[framework])
    if site is None:
        return "skip", "the case is not a site of the rule"
    node, call, operand, qname, callee, table, parent = site
    fw = framework_of(qname, table)
    b = bind(node=node, call=call, operand=operand, qname=qname, callee=callee, framework=fw, parent=parent)
    rewrite, reason, needs = fill_remedy(remedy, b, fw, Spelling(table))
    if rewrite is None:
        return "skip", reason
    if needs:
        return "fail", f"{case_expr} -> {rewrite} needs an import of {', '.join(needs)}"
    original = ast.unparse(b.target) if b.target is not None else case_expr
    params = dict(remedy.params)
    for where in ("away", "kink"):
        arrays = gen(rng, where)
        with np.errstate(all="ignore"):
            try:
                o_raw = evaluate(original, framework, arrays)
                r_raw = evaluate(rewrite, framework, arrays)
            except Exception as exc:  # noqa: BLE001 - any failure of the rewrite is a verdict
                return "fail", f"{case_expr} -> {rewrite}: {type(exc).__name__}: {exc}"
        scalar = isinstance(o_raw, (int, float, list))
        o, r = to_numpy(o_raw), to_numpy(r_raw)
        if o.shape != r.shape:
            return "fail", f"{case_expr} -> {rewrite}: shape {o.shape} -> {r.shape}"
        if o.dtype == np.bool_:
            o = o.astype(r.dtype)
        elif not scalar and o.dtype != r.dtype:
            return "fail", f"{case_expr} -> {rewrite}: dtype {o.dtype} -> {r.dtype}"
        o64, r64 = o.astype(np.float64), r.astype(np.float64)
        slack = RTOL * np.abs(o64) + ATOL * (1 + np.abs(_inputs_scale(arrays)))
        extra = _binding_values(b, framework, arrays)
        extra["n"] = max(o.size and arrays["a"].size / max(o.size, 1), 1)
        if remedy.bound and where in ("away", "kink"):
            ok = np.isnan(o64) | (r64 >= o64 - slack if remedy.bound == "upper" else r64 <= o64 + slack)
            if not ok.all():
                return "fail", f"{case_expr} -> {rewrite}: not a{'n upper' if remedy.bound == 'upper' else ' lower'} bound"
        if remedy.error and where == "away":
            err = np.abs(r64 - o64)
            bound = np.asarray(_error_bound(remedy, params, extra), dtype=np.float64)  # kink[KC502]: the prover's stated bound, a number, never differentiated
            allowed = (bound * np.abs(o64) if remedy.relative else bound) + slack
            if not (err <= allowed).all():
                return "fail", (f"{case_expr} -> {rewrite}: off by {float(np.nanmax(err - allowed + slack)):.3g} > "
                                f"stated {remedy.error}")
            if remedy.smoothing:
                why = _limit(rule, remedy, b, fw, table, framework, original, arrays, o64, err, extra)
                if why:
                    return "fail", f"{case_expr}: {why}"
        if where == "kink":
            try:
                why = gradient_finite(rewrite, framework, arrays)
            except Exception as exc:  # noqa: BLE001
                return "fail", f"{case_expr} -> {rewrite}: gradient: {type(exc).__name__}: {exc}"
            if why:
                return "fail", f"{case_expr} -> {rewrite}: {why}"
    return "ok", f"{case_expr} -> {rewrite}"


def _inputs_scale(arrays) -> float:
    return max(float(np.max(np.abs(v))) if v.size else 0.0 for v in arrays.values())


def _limit(rule, remedy, b, fw, table, framework, original, arrays, o64, err, extra) -> str:
    """The documented limit: sharpened a hundredfold, the error shrinks within its bound."""
    name = remedy.smoothing
    value = dict(remedy.params)[name]
    sharp = value / SHARPEN if name in SHRINKS else value * SHARPEN
    params = {**dict(remedy.params), name: sharp}
    sharpened = dataclasses.replace(remedy, params=tuple(params.items()))
    rewrite, _, _ = fill_remedy(sharpened, b, fw, Spelling(table))
    if rewrite is None:
        return f"with {name} = {sharp:g} there is no rewrite"
    with np.errstate(all="ignore"):
        r2 = to_numpy(evaluate(rewrite, framework, arrays)).astype(np.float64)
    err2 = np.abs(r2 - o64)
    slack = RTOL * np.abs(o64) + ATOL * (1 + np.abs(_inputs_scale(arrays)))
    bound = np.asarray(_error_bound(remedy, params, extra), dtype=np.float64)
    allowed = (bound * np.abs(o64) if remedy.relative else bound) + slack
    if not (err2 <= allowed).all():
        return f"with {name} = {sharp:g} off by {float(np.nanmax(err2)):.3g} > stated {remedy.error}"
    if np.nanmax(err2) > np.nanmax(err) + float(np.max(slack)):
        return f"the error does not shrink as {name} sharpens"
    return ""


def _free_names(expr: str) -> list[str]:
    tree = ast.parse(expr, mode="eval")
    stored = {n.target.id for n in ast.walk(tree) if isinstance(n, ast.NamedExpr)}
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - stored)


def example_runs(rule, example) -> list[tuple[str, str, str, str]]:
    """(title, framework, status, detail) for every remedy filled at every site of one of
    the rule's ``[[invalid]]`` examples, run on generated inputs bound to the site's free
    names: same shape and dtype, the stated side, a finite gradient. A site whose original
    expression cannot run on plain arrays (``self.fc(x)``, integer labels) is skipped."""
    from kinkcheck.lint.api import check_source
    from kinkcheck.lint.resolve import import_table

    try:
        tree = ast.parse(example.code)
    except SyntaxError:
        return []
    imports: list[ast.stmt] = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    ns: dict = {}
    try:
        exec(compile(ast.Module(body=imports, type_ignores=[]), "<imports>", "exec"), ns)  # noqa: S102
    except Exception:  # noqa: BLE001 - an example importing a package that is not installed
        return []
    table = import_table(tree, "", False).names
    framework = framework_of(None, table)
    lines = example.code.splitlines()
    out = []
    for f in check_source(example.code, "example.py", module="example", codes=[rule.code]):
        if f.code != rule.code:
            continue
        fix = (f.extra or {}).get("fix") or {}
        span = (fix.get("line", f.line), fix.get("col", f.col), fix.get("end_line", f.end_line),
                fix.get("end_col", f.end_col))
        from kinkcheck.report.rewrite import segment

        original = segment(lines, *span)
        site = locate(rule, original, table) if original else None
        if site is None or original is None:
            continue
        node, call, operand, qname, callee, _, parent = site
        fw = framework_of(qname, table)
        b = bind(node=node, call=call, operand=operand, qname=qname, callee=callee, framework=fw, parent=parent)
        target: str = ast.unparse(b.target) if b.target is not None else original
        names = [n for n in _free_names(target) if n not in ns]
        rng = np.random.default_rng(0)
        arrays = {n: _f32(rng.uniform(0.1, 2.0, size=(4, 3))) for n in names}
        for remedy in rule.remedies:
            if not remedy.rewrite:
                continue
            rewrite, _, needs = fill_remedy(remedy, b, fw, Spelling(table))
            if rewrite is None or needs:
                continue
            out.append((remedy.title, fw, *_run_pair(target, rewrite, remedy, fw, ns, arrays)))
    return out


def _f32(x):
    return np.asarray(x, dtype=np.float32)


def _run_pair(original: str, rewrite: str, remedy, framework: str, ns: dict, arrays: dict) -> tuple[str, str]:
    env = {**namespace(framework), **ns, **to_framework(framework, arrays)}
    with np.errstate(all="ignore"):
        try:
            o_raw = eval(compile(original, "<example>", "eval"), dict(env))  # noqa: S307
        except Exception as exc:  # noqa: BLE001
            return "skip", f"{original}: does not run on plain arrays ({type(exc).__name__})"
        try:
            r_raw = eval(compile(rewrite, "<example>", "eval"), dict(env))  # noqa: S307
        except Exception as exc:  # noqa: BLE001
            return "fail", f"{original} -> {rewrite}: {type(exc).__name__}: {exc}"
    o, r = to_numpy(o_raw), to_numpy(r_raw)
    if o.shape != r.shape:
        return "fail", f"{original} -> {rewrite}: shape {o.shape} -> {r.shape}"
    if o.dtype != np.bool_ and not isinstance(o_raw, (int, float, list)) and o.dtype != r.dtype:
        return "fail", f"{original} -> {rewrite}: dtype {o.dtype} -> {r.dtype}"
    o64, r64 = o.astype(np.float64), r.astype(np.float64)
    slack = RTOL * np.abs(o64) + ATOL * (1 + np.abs(o64))
    if remedy.bound == "upper" and not (np.isnan(o64) | (r64 >= o64 - slack)).all():
        return "fail", f"{original} -> {rewrite}: not an upper bound"
    if remedy.bound == "lower" and not (np.isnan(o64) | (r64 <= o64 + slack)).all():
        return "fail", f"{original} -> {rewrite}: not a lower bound"
    if framework in ("torch", "jax"):
        try:
            why = gradient_finite(rewrite, framework, {**arrays}) if not ns else _gradient_in(rewrite, framework,
                                                                                               ns, arrays)
        except Exception as exc:  # noqa: BLE001
            return "fail", f"{original} -> {rewrite}: gradient: {type(exc).__name__}: {exc}"
        if why:
            return "fail", f"{original} -> {rewrite}: {why}"
    return "ok", f"{original} -> {rewrite}"


def _gradient_in(expr: str, framework: str, ns: dict, arrays: dict) -> str:
    """A finite gradient of ``expr`` with the example's own imports in scope."""
    names = sorted(arrays)
    if framework == "torch":
        import torch

        inputs = to_framework("torch", arrays, grad=True)
        out = eval(compile(expr, "<example>", "eval"), {**namespace("torch"), **ns, **inputs})  # noqa: S307
        if not torch.is_tensor(out) or not out.is_floating_point() or not out.requires_grad:
            return ""
        out.sum().backward()
        bad = [n for n in names if inputs[n].grad is not None and not torch.isfinite(inputs[n].grad).all()]
        return f"gradient wrt {bad[0]} not finite" if bad else ""
    import jax
    import jax.numpy as jnp

    fn = eval(compile(f"lambda {', '.join(names)}: {expr}", "<example>", "eval"),  # noqa: S307
              {**namespace("jax"), **ns})
    args = [jnp.asarray(arrays[n]) for n in names]
    if not jnp.issubdtype(jnp.asarray(fn(*args)).dtype, jnp.floating):
        return ""
    grads = jax.grad(lambda *xs: jnp.sum(fn(*xs)), argnums=tuple(range(len(names))))(*args)
    bad = [n for n, g in zip(names, grads) if not np.isfinite(np.asarray(g)).all()]
    return f"gradient wrt {bad[0]} not finite" if bad else ""


def prove(catalog=None, frameworks=("torch", "jax", "numpy"), seed: int = 0) -> tuple[dict, dict]:
    """code -> title -> framework -> 'ok' or why not, with the cases each was run on."""
    catalog = catalog or catalog_mod.load()
    results: dict = defaultdict(lambda: defaultdict(dict))
    runs: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for case in CASES:
        rule = catalog[case.code]
        for remedy in rule.remedies:
            if not remedy.rewrite:
                continue
            for framework in frameworks:
                runs[case.code][remedy.title].setdefault(framework, [])
                for expr in case.exprs.get(framework, ()):
                    rng = np.random.default_rng(seed)
                    status, detail = check(rule, remedy, expr, framework, case.inputs, rng)
                    runs[case.code][remedy.title][framework].append((status, detail))
    for rule in catalog.values():  # the catalog's own examples, as the analyzer fills them
        for example in rule.invalid:
            for title, framework, status, detail in example_runs(rule, example):
                if framework in frameworks:
                    runs[rule.code][title][framework].append((status, f"[{example.id}] {detail}"))
    for code, by_title in runs.items():
        for title, by_fw in by_title.items():
            for framework, outcomes in by_fw.items():
                fails = [d for s, d in outcomes if s == "fail"]
                oks = [d for s, d in outcomes if s == "ok"]
                spelled = not outcomes or not all(d == f"no {framework} spelling" for s, d in outcomes)
                results[code][title][framework] = ("failed: " + fails[0]) if fails else "ok" if oks else \
                    "no case of the harness fits it" if spelled else f"no {framework} spelling"
    return {code: dict(v) for code, v in results.items()}, runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kinkcheck.remedy.prove")
    parser.add_argument("--write", action="store_true", help=f"record the verdicts in {PROVEN.name}")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    verdicts, runs = prove()
    counts: dict = defaultdict(lambda: defaultdict(int))
    for code, by_title in sorted(verdicts.items()):
        for title, by_fw in by_title.items():
            for framework, v in by_fw.items():
                kind = "ok" if v == "ok" else "untested" if v.startswith("no case") else \
                    "not offered" if v.startswith("no ") else "rejected"
                counts[framework][kind] += 1
                if kind != "ok" or args.verbose:
                    print(f"{code} {title} [{framework}]: {v}")
                if args.verbose:
                    for status, detail in runs[code][title][framework]:
                        print(f"    {status}: {detail}")
    on_examples: dict = defaultdict(lambda: defaultdict(int))
    for by_title in runs.values():
        for by_fw in by_title.values():
            for framework, outcomes in by_fw.items():
                for status, detail in outcomes:
                    if detail.startswith("[KC"):
                        on_examples[framework][status] += 1
    for framework, c in on_examples.items():
        print(f"{framework}, on the catalog's examples: {c['ok']} rewrites ran right, {c['fail']} failed, "
              f"{c['skip']} sites could not run on plain arrays")
    for framework, c in counts.items():
        print(f"{framework}: {c['ok']} proven, {c['rejected']} rejected, {c['untested']} with no fitting case, "
              f"{c['not offered']} not offered in {framework}")
    if args.write:
        PROVEN.write_text(json.dumps(verdicts, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
