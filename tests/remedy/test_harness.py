"""The harness that proves every remedy rewrite by running it, and the verdicts it recorded.

The fast tests show the harness rejects each kind of wrong rewrite issue 11 found (a soft
maximum offered for a minimum, a shape-changing norm, a surrogate far from the original, a
gradient that is still infinite, a claimed bound that does not hold); the slow one re-runs
every rule in torch, JAX and NumPy and compares with ``proven.json``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kinkcheck import catalog, remedy
from kinkcheck.remedy import cases, prove

CATALOG = catalog.load()


def remedy_of(code: str, title: str, **changes):
    rem = next(r for r in CATALOG[code].remedies if r.title == title)
    return dataclasses.replace(rem, **changes)


def case_gen(code: str):
    return next(c for c in cases.CASES if c.code == code).inputs


def run(code: str, rem, expr: str, framework: str = "torch"):
    return prove.check(CATALOG[code], rem, expr, framework, case_gen(code), np.random.default_rng(0))


@pytest.mark.parametrize("framework,expr", [("torch", "torch.minimum(a, b)"), ("jax", "jnp.minimum(a, b)"),
                                            ("numpy", "np.minimum(a, b)")])
def test_the_soft_minimum_is_proven_in_every_framework(framework, expr):
    status, detail = run("KC104", remedy_of("KC104", "soft minimum (logaddexp)"), expr, framework)
    assert status == "ok", detail


def test_a_soft_maximum_offered_for_a_minimum_is_rejected():
    wrong = remedy_of("KC104", "soft minimum (logaddexp)", rewrite="torch.logaddexp(k * {x}, k * {other}) / k")
    status, detail = run("KC104", wrong, "torch.minimum(a, b)")
    assert status == "fail" and "not a lower bound" in detail


def test_a_norm_that_drops_keepdim_is_rejected_for_its_shape():
    wrong = remedy_of("KC203", "smooth norm", rewrite="torch.sqrt(({x} * {x}).sum(-1) + eps)")
    status, detail = run("KC203", wrong, "a.norm(dim=-1, keepdim=True)")
    assert status == "fail" and "shape (6, 1) -> (6,)" in detail


def test_a_soft_clamp_that_is_a_step_is_rejected_for_its_error():
    wrong = remedy_of("KC103", "soft clamp", rewrite="{lo} + ({hi} - {lo}) * torch.sigmoid(beta * ({x} - ({lo} + {hi}) / 2))")
    status, detail = run("KC103", wrong, "torch.clamp(a, -1.0, 1.0)")
    assert status == "fail" and "stated log(2) / beta" in detail


def test_a_rewrite_whose_gradient_is_still_infinite_at_the_kink_is_rejected():
    wrong = remedy_of("KC201", "double-where", rewrite="torch.where({x} >= 0, torch.sqrt({x}), 0.0)")
    status, detail = run("KC201", wrong, "torch.sqrt(a)")
    assert status == "fail" and "not finite at the kink" in detail


def test_an_error_that_does_not_shrink_with_the_smoothing_constant_is_rejected():
    stuck = remedy_of("KC101", "pseudo-Huber (smooth abs)", rewrite="torch.sqrt({x} * {x} + 1e-6) - 1e-3 + 0 * eps")
    status, detail = run("KC101", stuck, "torch.abs(a - b)")
    assert status == "fail" and "with eps = 1e-05" in detail


def test_a_rewrite_that_does_not_run_is_rejected():
    wrong = remedy_of("KC101", "pseudo-Huber (smooth abs)", rewrite="torch.sqrt({x}, {x})")
    assert run("KC101", wrong, "torch.abs(a - b)")[0] == "fail"


def test_verdicts_cover_every_rewrite_in_every_framework_and_only_ok_is_shown():
    verdicts = remedy.verdicts()
    for rule in CATALOG.values():
        titles = [r.title for r in rule.remedies]
        assert len(titles) == len(set(titles)), rule.code
        for rem in rule.remedies:
            if rem.rewrite:
                assert set(verdicts[rule.code][rem.title]) == {"torch", "jax", "numpy"}, (rule.code, rem.title)
    assert remedy.verdict("KC303", "softmax (soft argmax)", "torch").startswith("failed: ")
    filled = remedy.for_text(CATALOG["KC303"], "idx = logits.argmax(-1)")
    assert [f.rewrite for f in filled] == [None, None]  # rejected by the harness: not shown
    assert "dtype int64 -> float32" in filled[0].reason


def test_fixes_state_their_error_and_smoothing_constants_shrink_it():
    for rule in CATALOG.values():
        for rem in rule.remedies:
            if rem.applicability in ("safe", "unsafe") and rem.rewrite:
                assert rem.error, (rule.code, rem.title)
            if rem.smoothing:
                assert rem.smoothing in rem.error, (rule.code, rem.title)
            if rem.applicability == "safe":
                assert rem.error == "0", (rule.code, rem.title)


@pytest.mark.slow
def test_the_recorded_verdicts_are_what_the_harness_finds_now():
    verdicts, _ = prove.prove(CATALOG)
    assert verdicts == remedy.verdicts()
