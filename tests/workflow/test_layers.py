"""click lives in the command layer only: the workflow, config, outputs and analyzer are
libraries that raise KinkcheckError, which kinkcheck/cli.py turns into one line and exit 2."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from kinkcheck.config import ConfigError
from kinkcheck.errors import KinkcheckError
from kinkcheck.inputs import InputError
from kinkcheck.workflow.errors import WorkflowError

PACKAGE = Path(__file__).resolve().parents[2] / "kinkcheck"
COMMAND_LAYER = {PACKAGE / "cli.py", *(PACKAGE / "commands").glob("*.py")}


def imports_click(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "click" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "click":
            return True
    return False


def test_only_the_command_layer_imports_click():
    outside = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if p not in COMMAND_LAYER and imports_click(p))
    assert outside == []
    assert imports_click(PACKAGE / "cli.py")  # the check can see an import


def test_every_input_error_is_a_kinkcheck_error():
    for error in (ConfigError, InputError, WorkflowError):
        assert issubclass(error, KinkcheckError) and error("x").exit_code == 2


# -- layers: each part imports only the parts below it -----------------------------------

#: a part of the package -> its layer; a module at the top of the package is the bottom
#: layer (errors, findings, source, paths, fingerprint, catalog, config, inputs ...)
LAYERS = {"bottom": 0, "remedy": 1, "output": 1, "lint": 2, "trace": 2, "report": 3, "workflow": 4,
          "commands": 5, "tools": 5, "cli": 6, "__main__": 7}
#: developer tools that drive the whole analyzer: the docs writer, the remedy harness
TOOLS = {"kinkcheck.docs", "kinkcheck.remedy.prove"}
#: the package facade: ``import kinkcheck`` offers ``kinkcheck.trace`` (loaded when first used)
FACADE = {"__init__"}


def part_of(module: str) -> str:
    """``kinkcheck.output.sarif`` -> ``output``; ``kinkcheck.findings`` -> ``bottom``."""
    if module in TOOLS:
        return "tools"
    parts = module.split(".")
    if len(parts) < 2 or parts[1] == "__init__":
        return "__init__"
    if (PACKAGE / parts[1]).is_dir() or parts[1] in LAYERS:
        return parts[1]
    return "bottom"


def kinkcheck_imports(path: Path) -> set[str]:
    """Every kinkcheck module ``path`` imports, at any depth (a lazy import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "kinkcheck")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "kinkcheck":
            found.update(f"{node.module}.{a.name}" if node.module == "kinkcheck" else node.module for a in node.names)
    return found


def module_of(path: Path) -> str:
    return ".".join(("kinkcheck", *path.relative_to(PACKAGE).with_suffix("").parts))


def upward_imports() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = part_of(module_of(path))
        if here in FACADE:
            continue
        for target in sorted(kinkcheck_imports(path)):
            there = part_of(target)
            if there == "__init__":
                continue  # kinkcheck.__version__
            if there != here and LAYERS.get(there, 0) >= LAYERS.get(here, 0):
                wrong.append(f"{path.relative_to(PACKAGE)} ({here}) imports {target} ({there})")
    return wrong


def test_every_part_imports_only_the_layers_below_it():
    """So an output format never reaches into the workflow (paths and fingerprints are bottom
    layer: kinkcheck/paths.py, kinkcheck/fingerprint.py), the analyzer never into the reports."""
    assert upward_imports() == []


def test_the_layer_check_sees_an_upward_import(monkeypatch):
    real = kinkcheck_imports
    before = set(upward_imports())
    sarif = PACKAGE / "output" / "sarif.py"
    monkeypatch.setattr(sys.modules[__name__], "kinkcheck_imports",
                        lambda p: real(p) | ({"kinkcheck.workflow.baseline"} if p == sarif else set()))
    assert set(upward_imports()) - before == {"output/sarif.py (output) imports kinkcheck.workflow.baseline (workflow)"}


def test_output_formats_import_no_workflow_analyzer_or_report():
    for path in (PACKAGE / "output").glob("*.py"):
        assert {part_of(m) for m in kinkcheck_imports(path)} <= {"bottom", "output", "__init__"}, path.name
