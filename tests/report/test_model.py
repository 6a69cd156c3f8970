"""The kink model: static findings joined with trace sites, statuses, ordering, and what
happens when the two do not line up."""

from __future__ import annotations

from report_helpers import finding, line_of, site, static_findings, trace

from kinkcheck.report.join import build


def by_key(report):
    return {(s.path, s.line, s.code): s for s in report.sites}


def test_static_site_and_trace_site_on_the_same_line_join(project):
    fs = static_findings(project)
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    report = build(fs, trace(project, [site("train.py", abs_line, "KC101", evaluations=4000, exact=3, near=7,
                                            function="loss_fn", observed=["0"])]), root=project)
    s = by_key(report)[("train.py", abs_line, "KC101")]
    assert s.origin == "both" and s.status == "hit"
    assert (s.runtime.evaluations, s.runtime.exact, s.runtime.near) == (4000, 3, 7)
    assert s.runtime.observed["torch"]["grad"] == ["0"] and s.runtime.near_scale == "tensor"
    assert s.subgradients == {"torch": "0", "jax": "1"}  # from the catalog
    assert s.subgradient_grads["torch"] == ["0"]
    assert report.join.joined == 1 and report.join.runtime_only == 0


def test_trace_line_inside_a_multi_line_finding_joins(project):
    f = finding(project, "KC101", "torch.abs(d)", "loss_fn")
    multi = type(f)(**{**f.to_dict(), "end_line": f.line + 1})
    report = build([multi], trace(project, [site("train.py", f.line + 1, "KC101", exact=1)]), root=project)
    assert [s.origin for s in report.sites] == ["both"]


def test_runtime_site_the_static_pass_did_not_see_is_listed_as_found_only_at_run_time(project):
    relu_line, _ = line_of(project / "train.py", "F.relu(")
    report = build(static_findings(project), trace(project, [
        site("train.py", relu_line, "KC102", evaluations=9000, near=2, function="forward", module="fc (Linear)"),
    ]), root=project)
    s = by_key(report)[("train.py", relu_line, "KC102")]
    assert s.origin == "runtime" and s.origin_label == "found only at run time"
    assert s.status == "near" and not s.documented
    assert s.snippet == "return F.relu(self.fc(x))"  # read from the file as it is now
    assert s.remedies[0].rewrite == "F.softplus(self.fc(x), beta=100.0)"
    assert s.runtime.modules == ["fc (Linear)"]


def test_static_sites_never_reached_are_not_exercised_and_rules_without_runtime_form_are_not_traced(project):
    report = build(static_findings(project), trace(project, []), root=project)
    statuses = {s.code: s.status for s in report.sites}
    assert statuses["KC101"] == statuses["KC103"] == "not-exercised"
    assert statuses["KC401"] == "not-traced"  # the tracer cannot count float branches
    kc401 = next(s for s in report.sites if s.code == "KC401")
    assert any("no runtime form" in n for n in kc401.notes)
    assert report.join.not_exercised == 3


def test_without_a_trace_every_site_is_static_only(project):
    report = build(static_findings(project), None, root=project)
    assert {s.status for s in report.sites} == {"not-traced"}
    assert {s.origin for s in report.sites} == {"static"}
    assert not report.traced and report.worst() == []


def test_order_is_hit_then_near_then_clear_then_never_reached_then_documented(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    sqrt_line, _ = line_of(project / "train.py", "torch.sqrt(")
    clamp_line, _ = line_of(project / "train.py", "margin.clamp(")
    relu_line, _ = line_of(project / "train.py", "F.relu(")
    report = build(static_findings(project), trace(project, [
        site("train.py", abs_line, "KC101", near=5),                 # near
        site("train.py", sqrt_line, "KC201", exact=50),              # hit, but documented
        site("train.py", clamp_line, "KC103", exact=2),              # hit
        site("train.py", relu_line, "KC102", exact=0, near=0),       # reached, clear
    ]), root=project)
    order = [(s.code, s.status, s.documented) for s in report.sites]
    assert order == [
        ("KC103", "hit", False),
        ("KC101", "near", False),
        ("KC102", "clear", False),
        ("KC401", "not-traced", False),
        ("KC201", "hit", True),
    ]
    assert [s.code for s in report.worst()] == ["KC103", "KC101"]
    assert report.counts() == {"branch": {"not-traced": 1}, "kink": {"hit": 1, "near": 1, "clear": 1},
                               "singular": {"hit": 1}}


def test_records_for_one_site_from_several_modules_add_up(project):
    relu_line, _ = line_of(project / "train.py", "F.relu(")
    a = site("train.py", relu_line, "KC102", evaluations=100, exact=1, near=2, module="block.0 (ReLU)",
             steps=[(0, 50, 1, 0), (1, 50, 0, 2)], histogram={"exact": 1, "-8": 2, "0": 97})
    b = site("train.py", relu_line, "KC102", evaluations=300, exact=2, near=0, module="block.2 (ReLU)",
             steps=[(1, 150, 2, 0), (2, 150, 0, 0)], histogram={"exact": 2, "-1": 298})
    s = build([], trace(project, [a, b]), root=project).sites[0]
    rt = s.runtime
    assert (rt.evaluations, rt.exact, rt.near) == (400, 3, 2)
    assert rt.per_step == [[0, 50, 1, 0], [1, 200, 2, 2], [2, 150, 0, 0]]
    assert rt.histogram == {"exact": 3, "-8": 2, "-1": 298, "0": 97}
    assert list(rt.histogram) == ["exact", "-8", "-1", "0"]  # nearest decade first
    assert rt.modules == ["block.0 (ReLU)", "block.2 (ReLU)"]
    assert sum(row[2] for row in rt.per_step) == rt.exact


def test_trace_from_another_checkout_joins_by_relative_path_and_says_so(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    other = trace("/ci/builds/1234/checkout", [site("train.py", abs_line, "KC101", exact=4)])
    report = build(static_findings(project), other, root=project)
    s = by_key(report)[("train.py", abs_line, "KC101")]
    assert s.origin == "both" and s.runtime.exact == 4
    assert any("recorded under /ci/builds/1234/checkout" in n for n in report.join.notes)


def test_trace_paths_that_do_not_exist_here_are_listed_not_dropped(project):
    report = build(static_findings(project), trace("/elsewhere", [site("vendor/lib/ops.py", 7, "KC101", exact=1)]),
                   root=project)
    s = by_key(report)[("vendor/lib/ops.py", 7, "KC101")]
    assert s.origin == "runtime" and s.status == "hit" and s.source == []
    assert report.join.unresolved_paths == ["vendor/lib/ops.py"]
    assert any("does not exist in this checkout" in n for n in s.notes)


def test_a_line_that_moved_is_matched_by_function_and_rule_and_reported(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    old = trace(project, [site("train.py", abs_line - 3, "KC101", exact=2, function="loss_fn")])
    report = build(static_findings(project), old, root=project)
    s = by_key(report)[("train.py", abs_line, "KC101")]
    assert s.origin == "both" and s.runtime.exact == 2
    assert report.join.moved == [{"path": "train.py", "code": "KC101", "trace_line": abs_line - 3, "line": abs_line}]
    assert any("moved" in n for n in s.notes)


def test_moved_lines_that_are_ambiguous_are_not_guessed(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    old = trace(project, [site("train.py", 2, "KC101", exact=2, function="loss_fn"),
                          site("train.py", 3, "KC101", exact=1, function="loss_fn")])
    report = build(static_findings(project), old, root=project)
    assert by_key(report)[("train.py", abs_line, "KC101")].status == "not-exercised"
    assert report.join.runtime_only == 2
    assert any("could not be matched" in n for n in report.join.notes)


def test_moved_line_with_a_snippet_in_the_trace_matches_by_snippet(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    rec = site("train.py", 1, "KC101", exact=2, function="loss_fn")
    rec["snippet"] = "l1 = torch.abs(d).mean()"
    report = build(static_findings(project), trace(project, [rec]), root=project)
    assert by_key(report)[("train.py", abs_line, "KC101")].runtime.exact == 2


def test_malformed_trace_records_are_skipped_and_counted(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    bad = trace(project, [{"path": "train.py"}, "nonsense", {"line": 3, "code": "KC101"},
                          {**site("train.py", abs_line, "KC101", exact=1), "per_step": [[0, "x"], None],
                           "histogram": {"exact": "many"}, "evaluations": 10.0}])
    report = build(static_findings(project), bad, root=project)
    assert report.join.skipped_records == 3
    s = by_key(report)[("train.py", abs_line, "KC101")]
    assert s.runtime.evaluations == 10 and s.runtime.per_step == [] and s.runtime.histogram == {}


def test_hiding_documented_sites_still_counts_them(project):
    report = build(static_findings(project), None, root=project, show_documented=False)
    assert all(not s.documented for s in report.sites)
    assert report.hidden_documented == 1 and report.documented == 1
    assert report.to_dict()["summary"]["sites"] == 4


def test_an_empty_project_gives_an_empty_report_that_says_so(tmp_path):
    report = build([], None, root=tmp_path, files_checked=0)
    assert report.sites == []
    assert report.headline() == "No kink sites found in 0 files."


def test_remedies_fill_the_users_operand_into_the_catalog_template(project):
    abs_site = build([finding(project, "KC101", "torch.abs(d)", "loss_fn")], None, root=project).sites[0]
    assert abs_site.remedies[0].rewrite == "torch.sqrt(d * d + 1e-6) - 0.001"
    assert abs_site.remedies[0].template == "torch.sqrt({x} * {x} + eps * eps) - eps"
    clamp = build([finding(project, "KC103", "margin.clamp(min=0)", "hinge_loss")], None, root=project).sites[0]
    assert any(r.rewrite and "margin" in r.rewrite for r in clamp.remedies)


def test_the_analyzers_own_rewrites_win(project):
    f = finding(project, "KC101", "torch.abs(d)", "loss_fn")
    f = type(f)(**{**f.to_dict(), "extra": {"remedies": [
        {"title": "pseudo-Huber (smooth abs)", "rewrite": "torch.sqrt(d**2 + 1e-12)", "applicability": "unsafe"}]}})
    s = build([f], None, root=project).sites[0]
    assert s.remedies[0].rewrite == "torch.sqrt(d**2 + 1e-12)"
    assert s.remedies[1].rewrite is None  # the analyzer did not show it for this site


def test_json_form_is_versioned_and_has_every_site(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    d = build(static_findings(project), trace(project, [site("train.py", abs_line, "KC101", exact=1)]),
              root=project).to_dict()
    assert d["format"] == "kinkcheck-report" and d["version"] == 1
    assert len(d["sites"]) == 4
    assert d["sites"][0]["runtime"]["exact_rate"] == 1 / 1000
    assert d["summary"]["by_status"]["hit"] == 1


def test_a_runtime_site_inside_an_installed_library_is_listed_with_a_short_path(project, tmp_path):
    lib = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "fancylib"
    lib.mkdir(parents=True)
    (lib / "ops.py").write_text("import numpy as np\n\ndef soft(x):\n    return np.sqrt(x)\n")
    rec = site(str(lib / "ops.py"), 4, "KC201", exact=1, function="soft")
    s = build([], trace(project, [rec]), root=project).sites[0]
    assert s.path == "site-packages/fancylib/ops.py" and s.origin == "runtime"
    # outside the checked roots: listed, counted, but none of the file's content is read
    assert s.snippet == "" and s.source == []
    assert any("outside the project" in n for n in s.notes)
    assert any("code is not shown" in n for n in s.notes)


def test_several_traces_add_up_even_from_different_roots(project):
    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    here = trace(project, [site("train.py", abs_line, "KC101", evaluations=100, exact=1)])
    there = trace("/cluster/job/7", [site("train.py", abs_line, "KC101", evaluations=300, near=4)])
    report = build(static_findings(project), [here, there], root=project, trace_paths=["a.json", "b.json"])
    s = by_key(report)[("train.py", abs_line, "KC101")]
    assert (s.runtime.evaluations, s.runtime.exact, s.runtime.near) == (400, 1, 4)
    assert [p.trace for p in s.runtime.parts] == [0, 1]
    assert [t.path for t in report.traces] == ["a.json", "b.json"]


def _subgradient_line(project, **kw):
    from kinkcheck.report.text import subgradient_lines

    abs_line, _ = line_of(project / "train.py", "torch.abs(d)")
    report = build(static_findings(project), trace(project, [site("train.py", abs_line, "KC101", **kw)]), root=project)
    return subgradient_lines(by_key(report)[("train.py", abs_line, "KC101")])[0]


def test_confirmed_only_from_a_gradient_observed_at_a_hit(project):
    line = _subgradient_line(project, exact=3, observed=["0"])
    assert line.endswith("(confirmed by the trace: torch returned 0 at a hit at 0)")


def test_an_observed_gradient_that_differs_is_shown_not_confirmed(project):
    line = _subgradient_line(project, exact=3, observed=["1"])
    assert "confirmed" not in line and line.endswith("(the trace observed 1 at a hit at 0)")


def test_a_site_never_hit_claims_nothing(project):
    line = _subgradient_line(project, exact=0, near=5)
    assert line.startswith("torch: 0") and "trace" not in line
    # an observation without a hit (a hand-edited file) is not believed either
    assert "trace" not in _subgradient_line(project, exact=0, observed=["0"])


def test_the_join_is_reachable_by_every_documented_name():
    """`kinkcheck.report.build` (the README's) and `model.build` (earlier releases') are the join."""
    from kinkcheck.report import build as package_build
    from kinkcheck.report import join, model

    assert model.build is join.build
    report = package_build([], None, root=".")
    assert report.sites == [] and report.headline() == "No kink sites found."
