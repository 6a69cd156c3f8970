"""click lives in the command layer only: the workflow, config, outputs and analyzer are
libraries that raise KinkcheckError, which kinkcheck/cli.py turns into one line and exit 2."""

from __future__ import annotations

import ast
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
