"""The astroid fallback: it names what only inference can see, never builds a foreign
package, stays within its budget, and leaves astroid as it found it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kinkcheck import catalog as catalog_mod
from kinkcheck.lint import infer_astroid
from kinkcheck.lint.engine import analyze_file

CATALOG = catalog_mod.load()
CODES = frozenset(c for c in CATALOG.default_codes() if not c.startswith("KC0"))
ROOT = Path(__file__).resolve().parents[2]

FOREIGN = textwrap.dedent(
    """
    import numpy as np
    import torch
    import torch.nn.functional as F
    import transformers
    from transformers import BertModel
    from transformers.models.bert.modeling_bert import BertSelfAttention

    ACTS = {"relu": F.relu, "bert": BertModel}


    def loss(pred, model=BertModel):
        ops = {"abs": torch.abs, "mean": np.mean}
        attn = BertSelfAttention(pred)
        return ops["abs"](pred) + ACTS["relu"](pred) + model(pred)(pred) + attn(pred) + getattr(np, "sqrt")(pred)
    """
)


def run(source: str, **kw):
    source = textwrap.dedent(source)
    return analyze_file(source, "m.py", "m", None, codes=CODES, catalog=CATALOG, **kw)


def test_inferred_findings_are_medium_and_say_so():
    out = run(
        """
        import torch
        def loss(x):
            ops = {"abs": torch.abs}
            return ops["abs"](x)
        """
    )
    [f] = out
    assert (f.code, f.line, f.col, f.confidence) == ("KC101", 5, 12, "medium")
    assert f.extra["inferred"] == "torch.abs"
    assert f.message.endswith('(inferred: `ops["abs"]` is `torch.abs`)')


def test_infer_false_keeps_only_import_table_results():
    src = """
        import torch
        def loss(x):
            ops = {"abs": torch.abs}
            return ops["abs"](x) + torch.sqrt(x)
        """
    assert [f.code for f in run(src)] == ["KC101", "KC201"]
    assert [f.code for f in run(src, infer=False)] == ["KC201"]


def test_no_foreign_module_is_built_and_astroid_is_restored(monkeypatch):
    from astroid import builder as abuilder
    from astroid.manager import AstroidManager

    abuilder.AstroidBuilder(AstroidManager())  # bootstrap builtins before taking the snapshot
    cache = AstroidManager.brain["astroid_cache"]
    before = dict(cache)
    methods = {n: AstroidManager.__dict__[n] for n in ("ast_from_module_name", "ast_from_file", "ast_from_module")}
    max_values = AstroidManager.brain["max_inferable_values"]
    built_from_disk = []
    real_file_build = abuilder.AstroidBuilder.file_build
    monkeypatch.setattr(abuilder.AstroidBuilder, "file_build",
                        lambda self, path, modname=None: built_from_disk.append(path) or real_file_build(self, path, modname))
    seen = {}
    real_close = infer_astroid.FileInference.close

    def close(self):
        seen.update(self.modules)
        real_close(self)

    monkeypatch.setattr(infer_astroid.FileInference, "close", close)
    modules_before = set(sys.modules)

    out = analyze_file(FOREIGN, "m.py", "m", None, codes=CODES, catalog=CATALOG)

    assert {(f.code, f.extra.get("inferred")) for f in out} == {
        ("KC101", "torch.abs"), ("KC102", "torch.nn.functional.relu"), ("KC201", "numpy.sqrt")}
    assert built_from_disk == []
    foreign = {name: m.file for name, m in seen.items() if name != "m"}
    assert {"torch", "numpy", "transformers"} <= set(foreign)
    assert all(file in (None, "<?>") for file in foreign.values()), foreign  # stubs, not files
    assert not any(name.startswith(("transformers", "torch")) for name in set(sys.modules) - modules_before)
    # astroid is exactly as before: same modules (the same objects), same entry points
    assert cache.keys() == before.keys() and all(cache[k] is before[k] for k in before)
    assert {n: AstroidManager.__dict__[n] for n in methods} == methods
    assert AstroidManager.brain["max_inferable_values"] == max_values


@pytest.mark.slow
def test_pylint_style_inference_in_the_same_process_still_sees_real_modules():
    import astroid

    run('import torch\ndef loss(x):\n    ops = {"abs": torch.abs}\n    return ops["abs"](x)\n')
    node = astroid.extract_node("import os.path\nos.path.join #@")
    found = {i.qname(): i.root().file for i in node.inferred()}
    assert found["posixpath.join"].endswith("posixpath.py")  # the real file, not a stub


@pytest.mark.slow
def test_a_file_the_import_table_handles_never_starts_astroid():
    script = textwrap.dedent(
        """
        import sys
        from kinkcheck import catalog
        from kinkcheck.lint.engine import analyze_file
        c = catalog.load()
        src = ("import torch\\nfrom torch import nn\\n"
               "def loss(x, model):\\n    act = nn.ReLU()\\n    y = model(x).unsqueeze(1)\\n"
               "    return torch.abs(y) + act(y) + y.sqrt()\\n")
        out = analyze_file(src, "m.py", "m", None, codes=frozenset(c), catalog=c)
        assert len(out) == 3, out
        print("astroid" in sys.modules)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_sibling_modules_of_the_checked_tree_are_followed(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ops.py").write_text("import torch\nTABLE = {'sqrt': torch.sqrt}\n")
    src = "from .ops import TABLE\n\ndef loss(x):\n    return TABLE['sqrt'](x)\n"
    path = pkg / "losses.py"
    path.write_text(src)
    out = analyze_file(src, str(path), "pkg.losses", None, codes=CODES, catalog=CATALOG)
    assert [(f.line, f.code, f.extra.get("inferred")) for f in out] == [(4, "KC201", "torch.sqrt")]


def test_too_many_unresolved_callees_stop_inference_with_a_note():
    calls = "\n".join(f"    a{i} = ops['k{i % 7}'](x)" for i in range(400))
    src = f"import torch\ndef loss(x):\n    ops = {{'k0': torch.abs}}\n{calls}\n    return x\n"
    notes: list[str] = []
    start = time.perf_counter()
    out = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG, notes=notes)
    assert time.perf_counter() - start < 10
    assert notes == [(f"m.py: astroid inference budget spent ({infer_astroid.MAX_CALLS} calls); "
                      "the rest of the file resolves through its imports only")]
    # what was inferred before the budget ran out is kept
    assert 0 < len(out) < 400 and {f.code for f in out} == {"KC101"}


@pytest.mark.slow
def test_an_inference_blow_up_ends_quickly_with_a_note():
    # 3,000 dicts, each built from the previous one's entry: inference recurses through all
    n = 3000
    chain = "".join(f"d{i} = {{'k': d{i - 1}['k']}}\n" for i in range(1, n))
    src = f"import torch\nd0 = {{'k': torch.abs}}\n{chain}def loss(x):\n    return d{n - 1}['k'](x) + torch.sqrt(x)\n"
    notes: list[str] = []
    start = time.perf_counter()
    out = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG, notes=notes)
    assert time.perf_counter() - start < 10
    assert [f.code for f in out] == ["KC201"]  # the import table's finding survives
    assert len(notes) == 1 and "inference" in notes[0] and "imports only" in notes[0]


def test_the_work_budget_is_enforced(monkeypatch):
    monkeypatch.setattr(infer_astroid, "MAX_WORK", 0)
    notes: list[str] = []
    src = "import torch\ndef loss(x):\n    ops = {'abs': torch.abs}\n    return ops['abs'](x) + ops['abs'](x)\n"
    out = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG, notes=notes)
    assert len(out) == 1  # the first call ran, the second found the budget spent
    assert notes == ["m.py: astroid inference budget spent (0 nodes); the rest of the file resolves through its imports only"]


def test_a_slow_machine_finds_what_a_fast_one_does(monkeypatch):
    """Budgets count work: a clock that jumps an hour per reading changes nothing."""
    src = "import torch\ndef loss(x):\n    ops = {'abs': torch.abs, 'sqrt': torch.sqrt}\n" \
          "    return ops['abs'](x) + ops['sqrt'](x) + ops['abs'](x)\n"
    fast_notes: list[str] = []
    fast = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG, notes=fast_notes)
    ticks = iter(range(0, 10**9, 3600))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(ticks)))
    monkeypatch.setattr(time, "time", lambda: float(next(ticks)))
    slow_notes: list[str] = []
    slow = analyze_file(src, "m.py", "m", None, codes=CODES, catalog=CATALOG, notes=slow_notes)
    assert [(f.code, f.line, f.col) for f in slow] == [(f.code, f.line, f.col) for f in fast]
    assert len(fast) == 3 and slow_notes == fast_notes == []


def test_without_a_notes_list_the_note_goes_to_stderr(capsys, monkeypatch):
    monkeypatch.setattr(infer_astroid, "MAX_SOURCE", 10)
    run("import torch\ndef loss(x):\n    ops = {'abs': torch.abs}\n    return ops['abs'](x)\n")
    err = capsys.readouterr().err
    assert err.startswith("kinkcheck: m.py: note: file too large for astroid inference")


def test_stub_sources_define_catalog_callables_where_their_qname_says():
    stubs = infer_astroid.stub_sources(["torch.abs", "torch.nn.ReLU", "torch.Tensor.abs", "torch.nn.functional.relu",
                                        "builtins.abs", "math.fabs"])
    assert set(stubs) == {"torch", "torch.nn", "torch.nn.functional", "math"}
    assert "def abs(*args, **kwargs): ..." in stubs["torch"]
    assert "class Tensor:" in stubs["torch"] and "    def abs(self, *args, **kwargs): ..." in stubs["torch"]
    assert "class ReLU:" in stubs["torch.nn"]


@pytest.mark.parametrize("source", [
    "def loss(x, fn):\n    return fn(x)\n",  # a parameter without default: nothing to infer
    "import torch\ndef loss(x):\n    return x.unsqueeze(1).sum()\n",  # tensor methods
    # instances of non-catalog classes, assigned in two branches
    ("from torch import nn\ndef loss(x, y, kind):\n    if kind == 'l1':\n        fn = nn.SmoothL1Loss()\n"
    "    else:\n        fn = nn.MSELoss()\n    return fn(x, y)\n"),
    # self.matcher holds a parameter or an instance of a class of the file
    ("from torch import nn\nclass M:\n    pass\nclass HLoss(nn.Module):\n    def __init__(self, matcher):\n"
    "        self.matcher = matcher\n        self.other = M()\n    def forward(self, x):\n"
    "        return self.matcher(x) + self.other(x) + self.helper(x)\n"),
])
def test_calls_inference_cannot_help_with_do_not_start_it(source, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("astroid fallback started")

    monkeypatch.setattr(infer_astroid.FileInference, "callee", boom)
    analyze_file(source, "m.py", "m", None, codes=CODES, catalog=CATALOG)


@pytest.mark.slow
def test_the_check_command_reaches_inferred_callees_and_reports_the_budget(tmp_path):
    """End to end through the driver: its cheap prefilter must not skip a file whose only
    kink is a catalog callable used as a value, and the budget note reaches stderr."""
    (tmp_path / "table.py").write_text(textwrap.dedent('''
        import torch

        def loss(t):
            ops = {"k": torch.abs}
            return ops["k"](t).sum()
    '''))
    lines = ["import torch", "", "def loss(t):"]
    lines += [f"    ops{i} = {{'k': torch.abs}}" for i in range(200)]
    lines += [f"    t = ops{i}['k'](t)" for i in range(200)]
    lines += ["    return t"]
    (tmp_path / "blowup.py").write_text("\n".join(lines) + "\n")
    run = subprocess.run(
        [sys.executable, "-m", "kinkcheck", "check", "--no-cache", "--output-format", "concise", str(tmp_path)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "table.py:6:12: KC101" in run.stdout
    assert 0 < run.stdout.count("blowup.py") < 200
    assert "blowup.py: astroid inference budget spent" in run.stderr
    assert "Traceback" not in run.stderr
