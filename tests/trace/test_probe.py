"""The subgradient sensitivity probe: kinkcheck.trace(probe=...) measures how far the other
valid subgradient at a step's exact hits would move the step's gradient, without changing the
training run and leaving nothing patched."""

import math

import pytest
import torch
import torch.nn.functional as F
from trace_sites import assert_closed_form_row, one
from torch import nn

import kinkcheck
from kinkcheck.trace import Probe
from kinkcheck.trace import tracefile
from kinkcheck.trace.backends import stack


def test_one_layer_relu_closed_form():
    # h = x @ W.T; loss = sum(relu(h) @ v). Row 0 of x makes h[0, 0] = 1 - 1 = 0 exactly,
    # h[0, 1] = 2.5; row 1: h = [-2.5, 2.5]. With relu'(0) = 0 (torch), dL/dW row 0 gets nothing
    # from sample 0; with relu'(0) = 1 it gets v[0] * x[0] = [1, 1]. v's gradient is unchanged
    # (relu(0) = 0 either way). So d = g_alt - g = [1, 1, 0, 0 | 0, 0].
    W = torch.tensor([[1.0, -1.0], [2.0, 0.5]], requires_grad=True)
    v = torch.tensor([1.0, 1.0], requires_grad=True)
    x = torch.tensor([[1.0, 1.0], [0.5, 3.0]])
    with kinkcheck.trace(backends="torch", rules="KC102", probe=Probe(every=1)) as t:
        loss = (torch.relu(x @ W.T) @ v).sum()
        loss.backward()
        t.step()
    g = torch.cat([W.grad.reshape(-1), v.grad])  # torch's gradient: [0, 0, 1.5, 4, 0, 5]
    assert g.tolist() == [0.0, 0.0, 1.5, 4.0, 0.0, 5.0]
    d = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    rel = float(d.norm() / g.norm())  # sqrt(2) / sqrt(43.25)
    cos = float(g @ (g + d) / (g.norm() * (g + d).norm()))
    site = one(t, "KC102")
    probe = site["probe"]
    assert_closed_form_row(probe, rel, cos)
    assert t.to_dict()["probe"] == {"every": 1, "threshold": 2.0**-10, "steps": 1}


# -- every covered op against a brute-force alternative backward --------------------------
# each case: (rule, the op as torch runs it, the same values with the other subgradient
# written out with torch.where, an input with exact hits)

def _clamp_alt(x):
    return torch.where((x > -0.5) & (x < 0.5), x, x.clamp(-0.5, 0.5).detach())


def _hardtanh_alt(x):
    return torch.where((x >= -1) & (x <= 1), x, F.hardtanh(x).detach())


def _hardswish_alt(x):  # the inside formula on [-3, 3], its ends included
    return torch.where(x > 3, x, torch.where(x >= -3, x * (x + 3) / 6, 0 * x))


def _slope(op, slope):
    """``op``'s values with the gradient ``slope(x) * u`` (a discontinuous op's other one-sided slope)."""
    return lambda x: op(x).detach() + slope(x).detach() * (x - x.detach())


#: a clamp bound that is itself trained (clamp_min.Tensor: the tie's gradient can go to it)
LO = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
#: a trained prelu weight, one per channel (at 0 its gradient x * u is 0 either way)
PW = torch.tensor([0.25, -0.5, 0.1, 0.25, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
EXTRA = [LO, PW]

CASES = {
    "relu": ("KC102", torch.relu, lambda h: torch.where(h >= 0, h, 0 * h)),
    "relu_": ("KC102", lambda h: h.clone().relu_(), lambda h: torch.where(h >= 0, h, 0 * h)),
    "leaky_relu": ("KC102", lambda h: F.leaky_relu(h, 0.1), lambda h: torch.where(h >= 0, h, 0.1 * h)),
    "abs": ("KC101", torch.abs, lambda h: torch.where(h >= 0, h, -h)),
    "clamp": ("KC103", lambda h: h.clamp(-0.5, 0.5), _clamp_alt),
    "clamp_min to a trained bound": ("KC103", lambda h: torch.clamp_min(h, LO), lambda h: torch.where(h > LO, h, LO)),
    "hardtanh": ("KC103", F.hardtanh, _hardtanh_alt),
    "prelu": ("KC102", lambda h: F.prelu(h, PW), lambda h: torch.where(h >= 0, h, PW * h)),
    "rrelu (eval)": ("KC102", lambda h: F.rrelu(h, 0.1, 0.3), lambda h: torch.where(h >= 0, h, 0.2 * h)),
    "hardsigmoid": ("KC103", F.hardsigmoid,
                    lambda h: torch.where((h >= -3) & (h <= 3), h / 6 + 0.5, F.hardsigmoid(h).detach())),
    "hardswish": ("KC103", F.hardswish, _hardswish_alt),
    "hardshrink": ("KC103", F.hardshrink, _slope(F.hardshrink, lambda h: (h.abs() >= 0.5).double())),
    "softshrink": ("KC103", lambda h: F.softshrink(h, 1.0), _slope(lambda h: F.softshrink(h, 1.0),
                                                                     lambda h: (h.abs() >= 1.0).double())),
    "maximum": ("KC104", lambda h: torch.maximum(h, h.flip(-1)), lambda h: torch.where(h >= h.flip(-1), h, h.flip(-1))),
    "fmin": ("KC104", lambda h: torch.fmin(h, h.flip(-1)), lambda h: torch.where(h < h.flip(-1), h, h.flip(-1))),
}


def _net(op, W1, W2, x):
    return (op(x @ W1.T) @ W2.T).square().sum()


def _grads(op, W1, W2, x):
    grads = torch.autograd.grad(_net(op, W1, W2, x), [W1, W2, *EXTRA], allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, [W1, W2, *EXTRA])])


@pytest.mark.parametrize("name", sorted(CASES))
def test_probe_matches_the_alternative_backward(name):
    code, op, alt = CASES[name]
    torch.manual_seed(0)
    # integer-valued weights and inputs: pre-activations of exactly 0, +-0.5, +-1 and +-3 occur
    W1 = torch.randint(-2, 3, (6, 4)).double().div(2).requires_grad_(True)
    W2 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    x = torch.randint(-2, 3, (16, 4)).double()
    g, g_alt = _grads(op, W1, W2, x), _grads(alt, W1, W2, x)
    assert not torch.equal(g, g_alt), "the case must hit the kink with a nonzero upstream gradient"
    d = g_alt - g
    with kinkcheck.trace(backends="torch", rules=code, probe=Probe(every=1)) as t:
        _net(op, W1, W2, x).backward()
        t.step()
    got = torch.cat([W1.grad.reshape(-1), W2.grad.reshape(-1),
                     *[(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in EXTRA]])
    for p in EXTRA:
        p.grad = None
    assert torch.equal(got, g)  # training's gradient as is
    (site,) = [s for s in t.to_dict()["sites"] if s.get("probe")]
    _, hits, rel, cos, dmax = site["probe"]["steps"][0]
    assert hits > 0
    assert rel == pytest.approx(float(d.norm() / g.norm()), rel=1e-5)
    assert cos == pytest.approx(float(g @ g_alt / (g.norm() * g_alt.norm())), rel=1e-5)
    assert dmax == pytest.approx(float(d.abs().max()), rel=1e-5)


def test_a_site_evaluated_twice_gets_the_exact_alternative():
    # the same relu line runs twice in a chain: swapping at the later evaluation changes the
    # upstream gradient of the earlier one, whose own swap must then apply to it as well
    def net(act, W, x):
        h = x
        for _ in range(2):
            h = act(h @ W.T)
        return h.sum()

    W = torch.tensor([[-1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[1.0, 1.0], [2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    relu_alt = lambda h: torch.where(h >= 0, h, 0 * h)  # noqa: E731
    (g,) = torch.autograd.grad(net(torch.relu, W, x), [W])
    (g_alt,) = torch.autograd.grad(net(relu_alt, W, x), [W])

    def swap_only(k):  # relu with the other subgradient at its k-th call only
        calls = []

        def act(h):
            calls.append(h)
            return relu_alt(h) if len(calls) == k else torch.relu(h)
        return act

    # swapping one evaluation at a time and adding the two changes gives another answer here
    first_order = sum(torch.autograd.grad(net(swap_only(k), W, x), [W])[0] - g for k in (1, 2))
    assert not torch.allclose(first_order, g_alt - g)
    with kinkcheck.trace(backends="torch", rules="KC102", probe=Probe(every=1)) as t:
        net(torch.relu, W, x).backward()
        t.step()
    site = one(t, "KC102")
    _, hits, rel, _, _ = site["probe"]["steps"][0]
    assert hits >= 2
    assert rel == pytest.approx(float((g_alt - g).norm() / g.norm()), rel=1e-6)


def _digits_run(probe, steps=12, dtype=torch.bfloat16):
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_digits()
    x = torch.tensor(d.data[:128] / 16.0, dtype=dtype)
    y = torch.tensor(d.target[:128])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)).to(dtype)
    with torch.no_grad():  # weights on a grid of 1/8 (the pixels are sixteenths): exact zeros happen
        for p in model.parameters():
            p.copy_((p * 8).round() / 8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with kinkcheck.trace(backends="torch", rules="KC102", probe=probe) as t:
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(x).float(), y).backward()
            opt.step()
    return [p.detach().clone() for p in model.parameters()], t


def test_training_is_bit_identical_with_and_without_the_probe():
    plain, _ = _digits_run(None)
    probed, t = _digits_run(Probe(every=2))
    assert all(torch.equal(a, b) for a, b in zip(plain, probed))
    data = t.to_dict()
    assert data["probe"]["steps"] == 6  # steps 0, 2, ..., 10
    probed_sites = [s for s in data["sites"] if s.get("probe")]
    assert probed_sites, "bfloat16 training hits ReLU's kink on probed steps"
    assert all(r[0] % 2 == 0 for s in probed_sites for r in s["probe"]["steps"])
    tracefile.validate(data)


def _patched_state():
    return (torch.autograd.graph._engine_run_backward, stack.lean_backward.around,
            stack.lean_backward.probes, torch._C._len_torch_dispatch_stack())


def test_nothing_stays_patched_when_the_step_raises():
    before = _patched_state()
    W = torch.tensor([[1.0, -1.0]], requires_grad=True)
    x = torch.tensor([[1.0, 1.0]])

    def boom(grad):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with kinkcheck.trace(backends="torch", rules="KC102", probe=True):
            h = torch.relu(x @ W.T)
            h.register_hook(boom)  # raises inside the probed backward pass
            h.sum().backward()
    assert _patched_state() == before
    assert W.grad is None
    # and a node hook left behind would fire here: the plain backward still gives torch's 0
    torch.relu(x @ W.T).sum().backward()
    assert W.grad.tolist() == [[0.0, 0.0]]


def test_probe_option_forms():
    assert Probe.parse(None) is None and Probe.parse(False) is None
    assert Probe.parse(True) == Probe()
    assert Probe.parse(7) == Probe(every=7)
    for bad in (0, -1, "x", 1.5):
        with pytest.raises(ValueError):
            Probe.parse(bad)
    with pytest.raises(ValueError):
        Probe(threshold=math.inf)


def test_an_op_without_an_alternative_is_said_so():
    x = torch.tensor([3.0, 0.0, 3.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules="KC105", probe=1) as t:
        torch.amax(x).backward()  # a reduction's tie: not probed
    (site,) = [s for s in t.to_dict()["sites"] if "amax" in s["op"]]
    assert "no alternative subgradient" in site["probe"]["uncovered"]


def test_rrelu_in_training_mode_is_said_so():
    x = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    with kinkcheck.trace(backends="torch", rules="KC102", probe=1) as t:
        F.rrelu(x, training=True).sum().backward()  # its slope at 0 was drawn at random
    (site,) = [s for s in t.to_dict()["sites"] if "rrelu" in s["op"]]
    assert "training mode" in site["probe"]["uncovered"] and site["probe"]["probed"] == 0


def _closed_form_trace(tmp_path):
    W = torch.tensor([[1.0, -1.0], [2.0, 0.5]], requires_grad=True)
    x = torch.tensor([[1.0, 1.0], [0.5, 3.0]])
    out = tmp_path / "t.json"
    with kinkcheck.trace(backends="torch", rules="KC102", probe=Probe(every=1), output=out) as t:
        torch.relu(x @ W.T).sum().backward()
        t.step()
    return out


def test_the_trace_file_keeps_the_probe_and_show_prints_it(tmp_path):
    from rich.console import Console

    from kinkcheck.trace.show import render

    data = tracefile.load(_closed_form_trace(tmp_path))
    (rec,) = data.sites
    assert rec.probe is not None and rec.probe.probed == 1 and rec.probe.steps[0][:2] == (0, 1)
    assert data["probe"]["every"] == 1
    console = Console(width=200, record=True)
    console.print(render(data))
    text = console.export_text()
    assert "1/1 steps sensitive" in text and "probe: every 1 steps" in text


def test_a_bad_probe_field_is_one_line(tmp_path):
    import json

    data = json.loads(_closed_form_trace(tmp_path).read_text())
    data["sites"][0]["probe"]["steps"] = [[0, 1, "x", 1.0, 1.0]]
    with pytest.raises(tracefile.TraceFileError, match=r"sites\[0\]\.probe\.steps"):
        tracefile.validate(data)


def test_merging_ranks_adds_their_probed_steps(tmp_path):
    import json

    a = json.loads(_closed_form_trace(tmp_path).read_text())
    b = {**json.loads(json.dumps(a)), "ranks": [1]}
    b["sites"][0]["probe"]["steps"][0][2] = 0.5
    b["sites"][0]["probe"]["rel_max"] = 0.5
    merged = tracefile.merge([a, b])
    probe = merged["sites"][0]["probe"]
    assert probe["probed"] == 2 and probe["sensitive"] == 2 and probe["rel_max"] == 0.5
    assert len(probe["steps"]) == 2
    tracefile.validate(merged)


def test_a_failing_correction_leaves_the_backward_alone(monkeypatch):
    from kinkcheck.trace.backends import torch_probe

    def broken(self, u):
        raise RuntimeError("no correction today")

    monkeypatch.setattr(torch_probe._Rec, "changes", broken)
    W = torch.tensor([[1.0, -1.0], [2.0, 0.5]], requires_grad=True)
    x = torch.tensor([[1.0, 1.0], [0.5, 3.0]])
    with kinkcheck.trace(backends="torch", rules="KC102", probe=1) as t:
        torch.relu(x @ W.T).sum().backward()
    assert W.grad.tolist() == [[0.0, 0.0], [1.5, 4.0]]  # torch's gradient, as untraced
    probe = one(t, "KC102")["probe"]
    assert probe["probed"] == 0 and "no correction today" in probe["uncovered"]


def test_gradient_accumulation_adds_every_pass_of_the_step():
    # two micro-batches, only the first hits the kink: g is the sum of both passes
    W = torch.tensor([[1.0, -1.0]], requires_grad=True)
    hit, miss = torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 1.0]])
    with kinkcheck.trace(backends="torch", rules="KC102", probe=1) as t:
        for x in (hit, miss):
            torch.relu(x @ W.T).sum().backward()
        t.step()
    g = W.grad.reshape(-1)  # [3, 1]: only the second pass has a gradient
    d = torch.tensor([1.0, 1.0])  # relu'(0) = 1 at the first pass's hit
    _, hits, rel, _, _ = one(t, "KC102")["probe"]["steps"][0]
    assert hits == 1 and rel == pytest.approx(float(d.norm() / g.norm()), rel=1e-6)


TRAIN = """\
import torch
import torch.nn.functional as F
import kinkcheck

W = torch.tensor([[1.0, -1.0], [2.0, 0.5]], requires_grad=True)
x = torch.tensor([[1.0, 1.0], [0.5, 3.0]])


def loss_fn(W):
    return F.relu(x @ W.T).sum()


with kinkcheck.trace(backends="torch", probe=1, output="t.json") as t:
    loss_fn(W).backward()
    t.step()
"""


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_the_report_says_how_far_the_swap_moved_the_gradient(tmp_path, monkeypatch, fmt):
    import runpy

    from click.testing import CliRunner

    from kinkcheck.cli import cli

    (tmp_path / "train.py").write_text(TRAIN)
    monkeypatch.chdir(tmp_path)
    runpy.run_path("train.py")
    # g = [0, 0, 1.5, 4] (W's rows), d = [1, 1, 0, 0]: sqrt(2) / sqrt(18.25) = 0.33
    done = CliRunner().invoke(cli, ["report", ".", "--trace", "t.json", "--format", fmt, "-o", "r.out"])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "r.out").read_text()
    assert "hit 1 time; swapping the subgradient moved the step" in text
    assert "by 0.33 (median) / 0.33 (max)" in text and "sensitive in 1 of 1 probed steps" in text
    if fmt == "html":
        assert 'class="chart chart-sensitivity"' in text and "step 0: 0.33" in text
        done = CliRunner().invoke(cli, ["report", ".", "--trace", "t.json", "--format", "json", "-o", "r.json"])
        import json

        (site,) = json.loads((tmp_path / "r.json").read_text())["sites"]
        assert site["runtime"]["probe"]["probed"] == 1
