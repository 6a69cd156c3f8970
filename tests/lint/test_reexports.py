"""Names a file takes from a sibling module (``from .imports import *``, where ``imports.py``
does ``import torch``) resolve to the library through that module, within a hop budget per
file. The budget counts modules asked about, once each, so many names through one star
import do not use it up before the file's later functions are resolved."""

from __future__ import annotations

import textwrap

from kinkcheck.config import load_config
from kinkcheck.lint.api import check_paths
from kinkcheck.lint.resolve import Reexports

IMPORTS = """
    import torch
    import torch.nn.functional as F
"""

#: a metric first in the file that reaches for many library names through the star import
MANY_NAMES = "\n".join(f"        t{i} = torch.op_{i}(x)" for i in range(60))

CALIBRATION = f"""
    from .imports import *


    def summary(x):
{MANY_NAMES}
        return x


    def calibration_loss(logits, target):
        conf = torch.max(F.softmax(logits, dim=1), 1).values
        return torch.abs(conf - target).mean()
"""


def _write(tmp_path, files: dict[str, str]) -> None:
    for name, src in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(src))


def test_a_name_through_a_star_import_resolves_to_the_library(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/imports.py": IMPORTS})
    follow = Reexports(str(tmp_path / "pkg" / "calibration.py"), "pkg.calibration").follow
    assert follow("pkg.imports.torch.abs") == "torch.abs"
    assert follow("pkg.imports.F.softmax") == "torch.nn.functional.softmax"


def test_many_names_through_one_module_spend_one_hop(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/imports.py": IMPORTS})
    reexports = Reexports(str(tmp_path / "pkg" / "calibration.py"), "pkg.calibration", hops=8)
    for i in range(100):
        assert reexports.follow(f"pkg.imports.torch.op_{i}") == f"torch.op_{i}"
    assert reexports.follow("pkg.imports.F.softmax") == "torch.nn.functional.softmax"


def test_unknown_modules_still_spend_the_budget(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/imports.py": IMPORTS})
    reexports = Reexports(str(tmp_path / "pkg" / "calibration.py"), "pkg.calibration", hops=4)
    for i in range(10):
        reexports.follow(f"pkg.missing_{i}.thing")
    assert reexports.follow("pkg.imports.torch.abs") == "pkg.imports.torch.abs"  # spent: left as written


def test_the_later_function_of_a_star_importing_file_keeps_its_sites(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/imports.py": IMPORTS, "pkg/calibration.py": CALIBRATION})
    result = check_paths([tmp_path / "pkg"], load_config(tmp_path, {}), use_cache=False, jobs=1)
    got = {(f.line, f.code) for f in result.findings if f.path.endswith("calibration.py")}
    assert {(70, "KC105"), (71, "KC101")} <= got
