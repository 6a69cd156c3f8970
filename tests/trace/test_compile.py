"""torch.compile inside a trace: dynamo does not compile while a dispatch mode is active, so
the function runs eagerly and is counted; a warning says so when compiled code already ran."""

import warnings

import pytest
import torch
from trace_sites import one

import kinkcheck


@pytest.mark.slow
def test_compiled_function_is_counted_and_warns_once():
    @torch.compile
    def f(x):
        return torch.relu(x) * 2

    x = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
    expected = f(x)  # compiles outside the trace
    with pytest.warns(RuntimeWarning, match="runs eagerly"), kinkcheck.trace(backends="torch") as t:
        got = f(x)
    assert torch.equal(got, expected)
    assert one(t, "KC102")["exact"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with kinkcheck.trace(backends="torch"):
            f(x)
