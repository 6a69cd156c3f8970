"""The gradient at a hit is observed, not quoted: the backward of the very op at an element on
its kink, recorded once per site; the user's tensors, gradients and random stream are untouched."""

import torch
import torch.nn.functional as F
from trace_sites import one

import kinkcheck


def observed(t, code):
    return one(t, code).get("observed")


def test_elementwise_ops_record_one_gradient_per_input_at_the_hit():
    x = torch.tensor([0.0, 1.0, -2.0], requires_grad=True)
    y = torch.tensor([0.0, 3.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC102", "KC104", "KC205"]) as t:
        F.relu(x)
        torch.maximum(x, y)
        x / y  # 0 / 0 at element 0: d/dx = 1/0 = inf, d/dy = -0/0 = nan
    assert observed(t, "KC102")["grad"] == ["0"]
    assert observed(t, "KC104")["grad"] == ["0.5", "0.5"] and observed(t, "KC104")["at"] == ["0", "0"]
    assert observed(t, "KC205")["grad"] == ["inf", "nan"]  # the catalog's (inf, -inf) is for x != 0


def test_pools_and_norms_record_where_the_gradient_went():
    x = torch.tensor([[[1.0, 1.0, 0.5, 2.0]]], requires_grad=True)
    rows = torch.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC106", "KC203"]) as t:
        F.max_pool1d(x, 2)  # the first window ties: all of its gradient goes to one element
        torch.linalg.vector_norm(rows, dim=1)  # row 0 is the zero vector: torch masks it to 0
    assert observed(t, "KC106")["grad"] == ["1"]
    assert "0" in observed(t, "KC203")["grad"]


def test_a_site_never_on_its_kink_observes_nothing():
    x = torch.tensor([0.5, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules=["KC101"]) as t:
        x.abs()
    assert "observed" not in one(t, "KC101")


def test_observing_changes_no_result_gradient_or_random_stream():
    def run():
        torch.manual_seed(0)
        x = torch.tensor([0.0, 1.0, -1.0, 0.0], requires_grad=True)
        y = F.rrelu(x, training=True) + x.abs() + torch.maximum(x, x.flip(0))
        y.sum().backward()
        return y.detach(), x.grad, torch.random.get_rng_state()

    plain = run()
    with kinkcheck.trace(backends="torch") as t:
        traced = run()
    assert all(torch.equal(a, b) for a, b in zip(plain, traced))
    assert sum(s["exact"] for s in t.to_dict()["sites"]) > 0
