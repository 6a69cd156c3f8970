"""Helpers the trace tests share: a trace's site records by rule code, the probe's closed-form
row and its plain step sums (a module of its own, so that a whole-suite run never finds another
folder's ``conftest`` under the same name)."""


def by_code(t, code):
    """The trace's site records for one rule code (from the written-out dict)."""
    return [s for s in t.to_dict()["sites"] if s["code"] == code]


def one(t, code):
    sites = by_code(t, code)
    assert len(sites) == 1, sites
    return sites[0]


def assert_closed_form_row(probe, rel, cos):
    """The probe record of the closed-form case (h = x @ W.T, one zero; torch and JAX): one
    probed, sensitive step whose row is (step 0, 1 hit, ``rel``, ``cos``, largest change 1)."""
    import pytest

    assert probe["probed"] == 1 and probe["sensitive"] == 1
    step, hits, got_rel, got_cos, got_max = probe["steps"][0]
    assert (step, hits) == (0, 1)
    assert got_rel == pytest.approx(rel, rel=1e-5)
    assert got_cos == pytest.approx(cos, rel=1e-5)
    assert got_max == pytest.approx(1.0)


def assert_plain_step_sums(sums, g, d):
    """The probe's step sums (``StepSums``) equal the plain formulas in float64: ||g||^2 of the
    leaves with a gradient, and for a site's changes ``d``: ||d||^2, g . d and max |d|."""
    import pytest

    gg = sum(float(v.double().square().sum()) for _, v in g.values())
    assert sums.gg == pytest.approx(gg, rel=1e-6)
    dd, gd, dmax = sums.site(d)
    assert dd == pytest.approx(sum(float(v.double().square().sum()) for v in d.values()), rel=1e-6)
    assert gd == pytest.approx(sum(float((g[k][1].double() * v.double()).sum()) for k, v in d.items() if k in g),
                               rel=1e-5)
    assert dmax == max(float(v.double().abs().max()) for v in d.values())
