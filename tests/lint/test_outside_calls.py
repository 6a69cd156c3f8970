"""A file's own calls of a function are not all its calls when loss code in another checked
file calls it too (lint/outside_calls.py)."""

from __future__ import annotations

import pytest

SAMPLING = '''
import torch


def threshold_x0(x0: torch.Tensor, bound: float = 1.0) -> torch.Tensor:
    return x0.clamp(-bound, bound)


@torch.no_grad()
def sample(model, x, steps: int = 10):
    for _ in range(steps):
        x = threshold_x0(model(x))
    return x
'''

LOSSES = '''
import torch
from .sampling import threshold_x0


def x0_loss(pred, target):
    return ((threshold_x0(pred) - target) ** 2).mean()
'''


TARGETS = """
import torch
from .sampling import threshold_x0


def x0_loss(pred, target):
    return ((pred - threshold_x0(target.detach())) ** 2).mean()
"""

TEST = """
import torch
from pkg.sampling import threshold_x0


def test_threshold(coef):
    assert threshold_x0(coef * torch.randn(8)).abs().max() <= 1.0
"""


@pytest.mark.parametrize(("files", "expected"), [
    # the sampling loop hands it data under no_grad; the loss in losses.py hands it the prediction
    ({"pkg/sampling.py": SAMPLING, "pkg/losses.py": LOSSES}, [("sampling.py", 5, "KC103")]),
    # checked alone, the sampling loop is all its callers: nothing is loss code there
    ({"pkg/sampling.py": SAMPLING}, []),
    # a loss handing it a detached target, and a test handing it anything, hand it no gradient
    ({"pkg/sampling.py": SAMPLING, "pkg/losses.py": TARGETS, "tests/test_sampling.py": TEST}, []),
])
def test_a_helper_other_files_loss_code_calls_is_judged_by_those_calls_too(write_tree, monkeypatch, files, expected):
    from kinkcheck.config import load_config
    from kinkcheck.lint.api import check_paths

    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "pkg/__init__.py": "", **files})
    monkeypatch.chdir(root)
    found = [(f.path.rsplit("/", 1)[-1], f.line, f.code)
             for f in check_paths([root], load_config(root, {}), jobs=1).findings
             if not f.path.startswith("tests/")]
    assert found == expected
