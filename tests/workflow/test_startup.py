"""Start-up (issue 12, item 7): ``kinkcheck check one_file.py`` (the pre-commit hook's run)
imports what that run needs and nothing else: no other command, no other output format, no
tracer, report or baseline code, no framework, and nothing only a crash or a write needs.
Through the console script (``kinkcheck.__main__``) it does not import click either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: imported by a run that needs them only: another command, format or part, a write, a crash
NEVER = [
    "kinkcheck.commands.report", "kinkcheck.commands.trace", "kinkcheck.commands.rules", "kinkcheck.commands.config",
    "kinkcheck.output.sarif", "kinkcheck.output.json_format", "kinkcheck.output.gitlab", "kinkcheck.output.junit",
    "kinkcheck.output.github", "kinkcheck.output.markdown", "kinkcheck.output.concise",
    "kinkcheck.report", "kinkcheck.trace", "kinkcheck.workflow.baseline", "kinkcheck.workflow.diff",
    "kinkcheck.fingerprint", "kinkcheck.lint.infer_astroid",
    "torch", "jax", "numpy", "astroid", "rich", "tempfile", "traceback", "concurrent.futures", "subprocess",
    # a run without a cache: no OpenSSL (kinkcheck/digest.py), no cache key, no deep-nesting thread
    "hashlib", "_hashlib", "hmac", "secrets",
]

PROBE = """
import json, sys
from {module} import main
try:
    main(["check", "--no-cache", "-q", "--color", "never", "one.py"])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


#: the click app's check, and the console script's (kinkcheck/commands/fast.py)
ENTRY_POINTS = {"kinkcheck.cli": [], "kinkcheck.__main__": ["click", "threading"]}  # click imports threading


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_checking_one_file_imports_only_what_it_needs(tmp_path, module):
    """(The second run is the one looked at: the first parses the catalog and writes it to the
    catalog's cache, which imports tempfile.)"""
    (tmp_path / "one.py").write_text("import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()\n")
    probe = PROBE.replace("{module}", module)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path),
           "KINKCHECK_CATALOG_CACHE": str(tmp_path / "catalog-cache")}
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                              check=False, env=env)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 1, proc.stderr  # it did run: the kink was found
    assert "kinkcheck.output.full" in report["modules"]
    assert [m for m in NEVER + ENTRY_POINTS[module] if m in report["modules"]] == []


@pytest.mark.slow
def test_a_second_check_parses_no_toml(tmp_path):
    """Once the catalog and the settings were parsed (the first run, kinkcheck/usercache.py),
    a one-file check never imports the TOML parser, and builds no record's ``__init__``
    (the catalog is unpickled)."""
    (tmp_path / "one.py").write_text("import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'one'\n[tool.kinkcheck]\nselect = ['KC1']\n")
    probe = PROBE.replace("{module}", "kinkcheck.__main__").replace(
        '"modules": sorted(sys.modules)', '"modules": sorted(sys.modules), "compiled_inits": sorted('
        'c.__qualname__ for c in vars(sys.modules["kinkcheck.catalog"]).values() '
        'if isinstance(c, type) and getattr(c.__init__, "__name__", "") == "__init__" and "__record_fields__" in vars(c))')
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path),
           "KINKCHECK_CATALOG_CACHE": str(tmp_path / "catalog-cache")}
    reports = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                              check=False, env=env)
        reports.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [r["code"] for r in reports] == [1, 1]
    assert "tomllib" in reports[0]["modules"] or "tomli" in reports[0]["modules"]  # rules and settings parsed
    assert [m for m in ("tomllib", "tomli") if m in reports[1]["modules"]] == []
    assert reports[1]["compiled_inits"] == []


@pytest.mark.slow
def test_the_program_freezes_what_it_loaded(tmp_path):
    """Run as the program (main() reads sys.argv), a check freezes the modules it loaded before
    reading files and collects every 10,000 allocations (commands/fast.py)."""
    (tmp_path / "one.py").write_text("import torch\n\n\ndef loss(x):\n    return torch.abs(x).mean()\n")
    probe = """
import gc, json, sys
from kinkcheck.__main__ import main
sys.argv = ["kinkcheck", "check", "--no-cache", "-q", "one.py"]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "enabled": gc.isenabled(), "modules": sorted(sys.modules)}))
"""
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path),
           "KINKCHECK_CATALOG_CACHE": str(tmp_path / "catalog-cache")}
    for _ in range(2):  # the second run: the catalog comes from its cache
        proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                              check=False, env=env)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["code"] == 1, proc.stderr
    assert report["enabled"] and report["threshold"] == [10_000, 10, 10] and report["frozen"] > 10_000
    assert [m for m in NEVER + ENTRY_POINTS["kinkcheck.__main__"] if m in report["modules"]] == []
