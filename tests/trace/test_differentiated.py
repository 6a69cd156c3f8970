"""Only what autograd differentiates is a kink evaluation of the loss: ops under no_grad or
inference_mode and ops on constants (no input requires grad) are not counted, unless asked."""

import torch
import torch.nn.functional as F
from trace_sites import by_code

import kinkcheck


def _work(w, target):
    with torch.no_grad():
        target.abs()  # a distance transform of the target: no gradient
        w.abs()
    with torch.inference_mode():
        w.relu()
    target.sqrt()  # a constant: nothing requires grad
    return F.relu(w).sum()  # the only differentiated kink


def test_no_grad_inference_mode_and_constants_are_not_counted():
    w = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
    target = torch.zeros(5)
    with kinkcheck.trace(backends="torch") as t:
        _work(w, target).backward()
    data = t.to_dict()
    assert [(s["code"], s["evaluations"], s["exact"]) for s in data["sites"]] == [("KC102", 3, 1)]
    assert "requires grad" in data["counted"]["torch"]


def test_only_differentiated_false_counts_every_op_and_says_so():
    w = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
    target = torch.zeros(5)
    with kinkcheck.trace(backends="torch", only_differentiated=False) as t:
        _work(w, target).backward()
    assert sum(s["evaluations"] for s in by_code(t, "KC101")) == 8
    assert sum(s["evaluations"] for s in by_code(t, "KC102")) == 6
    assert sum(s["exact"] for s in by_code(t, "KC201")) == 5
    assert "every op" in t.to_dict()["counted"]["torch"]


def test_summary_says_what_was_counted(capsys):
    w = torch.zeros(3, requires_grad=True)
    with kinkcheck.trace(backends="torch") as t:
        w.abs()
    t.summary()
    out = " ".join(capsys.readouterr().out.split())
    assert "torch counts ops autograd differentiates" in out
