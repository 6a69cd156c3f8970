"""The probe's sums over a step's leaves: the same numbers whether a leaf is summed on its own
(large) or flattened with the other small ones, and with a leaf the step gave no gradient."""

import pytest
import torch
from trace_sites import assert_plain_step_sums

from kinkcheck.trace.backends import torch_probe_stats
from kinkcheck.trace.backends.torch_probe_stats import StepSums


@pytest.mark.parametrize("large", [1 << 16, 4])  # the default, and every leaf "large"
def test_step_sums_match_the_plain_formulas(monkeypatch, large):
    monkeypatch.setattr(torch_probe_stats, "LARGE", large)
    torch.manual_seed(0)
    shapes = {1: (300, 300), 2: (7,), 3: (5, 3), 4: (11,)}
    g = {k: [None, torch.randn(s)] for k, s in shapes.items() if k != 4}  # leaf 4: no gradient this step
    d = {k: torch.randn(shapes[k]) for k in (3, 4, 1)}  # a site reaching leaves 1, 3 and 4
    sums = StepSums(g)
    assert_plain_step_sums(sums, g, d)
