"""Parameters every call from loss code hands only data, across the checked files
(lint/argflow.py): what the index writes down of a function, and what scope concludes."""

import ast
import textwrap

import pytest

from kinkcheck.lint.argflow import ANY, DATA_ATOM, DATA_PARAM, SETTING_PARAM
from kinkcheck.lint.index import index_source
from kinkcheck.lint.scope import loss_scope


def scope_entries(modules: dict[str, str], **kw) -> set[str]:
    indexes = [index_source(textwrap.dedent(src), f"{name.replace('.', '/')}.py", name) for name, src in modules.items()]
    return {q for qs in loss_scope(indexes, **kw).values() for q in qs}


def data_params(modules: dict[str, str], **kw) -> set[str]:
    """The parameters that carry no gradient: handed only data, or only settings."""
    return {q.replace(SETTING_PARAM, DATA_PARAM) for q in scope_entries(modules, **kw)
            if DATA_PARAM in q or SETTING_PARAM in q}


def setting_params(modules: dict[str, str], **kw) -> set[str]:
    return {q for q in scope_entries(modules, **kw) if SETTING_PARAM in q}


def summary(src: str, name: str):
    ix = index_source(textwrap.dedent(src), "m.py", "m")
    return ix.functions[f"m.{name}"].flow


STATS = """
    import torch

    def robust_stats(x, mask, eps=1e-6):
        med = x.nanmedian(dim=-1, keepdim=True)[0]
        return med, (x - med).abs().mean(-1, keepdim=True) + eps
"""


def test_a_window_cut_from_the_batch_is_data_three_calls_down():
    got = data_params({"pkg._scalers": STATS, "pkg.model": """
        import torch
        from torch import nn
        from pkg._scalers import robust_stats

        class Model(nn.Module):
            def _windows(self, batch):
                return torch.nn.functional.pad(batch["temporal"], pad=(0, self.horizon)).unfold(-1, 8, 1)

            def _normalize(self, windows):
                windows = windows.clone()
                return robust_stats(windows[..., 0, :], mask=windows[..., 1, :])

            def training_step(self, batch, batch_idx):
                windows = self._normalize(self._windows(batch))
                loss = (self.net(windows) - batch["y"]).pow(2).mean()
                loss.backward()
    """})
    assert got == {"pkg.model.Model._windows#data batch", "pkg.model.Model._normalize#data windows",
                   "pkg._scalers.robust_stats#data x", "pkg._scalers.robust_stats#data mask",
                   "pkg._scalers.robust_stats#data eps"}  # a default is data too


@pytest.mark.parametrize("passed", [
    "self.net(batch)",                # the network's output
    "self.weight * batch",            # module state: a parameter, a buffer, a setting alike
    "pred",                           # a loss's own argument: users hand it the prediction
    "self._windows(batch)",           # a helper that returns the network's output
    "next(self._chunks(batch))",      # what a generator yields is not written down
    "*parts",                         # arguments behind *args
])
def test_anything_that_may_carry_gradient_concludes_nothing(passed):
    got = data_params({"pkg._scalers": STATS, "pkg.model": f"""
        import torch
        from torch import nn
        from pkg._scalers import robust_stats

        class Model(nn.Module):
            def _windows(self, batch):
                return self.net(batch)

            def _chunks(self, batch):
                yield batch

            def loss(self, pred, batch, parts=()):
                return robust_stats({passed}, batch["mask"])[1].mean()
    """})
    assert "pkg._scalers.robust_stats#data x" not in got


def test_one_call_with_a_prediction_spoils_it_for_all():
    got = data_params({"pkg._scalers": STATS, "pkg.losses": """
        from pkg._scalers import robust_stats

        def data_loss(pred, batch):
            return (pred - robust_stats(batch["x"], batch["m"])[0]).pow(2).mean()

        def spread_loss(pred, batch):
            return robust_stats(pred, batch["m"])[1].mean()
    """})
    assert got == {"pkg._scalers.robust_stats#data mask", "pkg._scalers.robust_stats#data eps"}


def test_a_public_helper_a_root_or_a_value_is_never_judged_by_its_callers():
    modules = {"pkg.stats": STATS, "pkg._private": STATS.replace("robust_stats", "_stats"), "pkg.losses": """
        from pkg.stats import robust_stats
        from pkg._private import _stats

        def data_loss(pred, batch):
            return (pred - robust_stats(batch["x"], batch["m"])[0] - _stats(batch["x"], batch["m"])[0]).mean()

        def other_loss(pred, target):
            return data_loss(target, {"x": target})
    """}
    got = data_params(modules)
    # users' code may call pkg.stats.robust_stats with a prediction; data_loss is a root
    assert got == {"pkg._private._stats#data x", "pkg._private._stats#data mask", "pkg._private._stats#data eps"}
    # a function handed around as a value may be called with anything, wherever it goes
    handed = dict(modules, **{"pkg.registry": """
        from pkg._private import _stats

        def table_loss(pred, target):
            return (pred - STATS["robust"](target, None)[0]).mean()

        STATS = {"robust": _stats}
    """})
    assert not any(q.startswith("pkg._private._stats") for q in data_params(handed))


def test_all_scope_judges_loss_code_by_every_call_in_the_tree():
    """--all checks a model's forward too: a helper the loss hands only data, but the forward
    hands its features, may carry gradient; one only loss code calls keeps what loss scope
    concludes, and code loss scope does not reach is concluded nothing of."""
    modules = {"pkg._private": STATS.replace("robust_stats", "_stats"), "pkg.losses": """
        from pkg._private import _stats

        def data_loss(pred, batch):
            return (pred - _stats(batch["x"], batch["m"])[0]).mean()
    """}
    want = {"pkg._private._stats#data x", "pkg._private._stats#data mask", "pkg._private._stats#data eps"}
    assert data_params(modules) == data_params(modules, scope="all") == want
    forward = dict(modules, **{"pkg.model": """
        from torch import nn
        from pkg._private import _stats

        class Net(nn.Module):
            def forward(self, x):
                h = self.body(x)
                return _stats(h, None)[1]
    """})
    assert data_params(forward) == want  # the forward is not loss code
    assert data_params(forward, scope="all") == {"pkg._private._stats#data mask", "pkg._private._stats#data eps"}
    unreached = {"pkg._private": STATS.replace("robust_stats", "_stats"), "pkg.demo": """
        import torch
        from pkg._private import _stats

        def _demo():
            return _stats(torch.randn(3), None)
    """}
    assert data_params(unreached, scope="all") == set()


def test_a_value_rebuilt_from_itself_is_still_data():
    """`windows = self._normalize(windows)`: what a value is made of does not change by
    passing through a function that returns (a scaled copy of) its argument."""
    got = data_params({"pkg._scalers": STATS, "pkg.model": """
        from torch import nn
        from pkg._scalers import robust_stats

        class Model(nn.Module):
            def _normalize(self, windows):
                return windows / robust_stats(windows, None)[1]

            def training_step(self, batch, batch_idx):
                windows = batch["temporal"]
                for _ in range(3):
                    windows = self._normalize(windows)
                loss = self.net(windows).mean()
                loss.backward()
    """})
    assert "pkg.model.Model._normalize#data windows" in got


def test_the_summary_keeps_parameters_calls_and_what_returns_are_made_of():
    flow = summary("""
        import math
        import torch

        def helper(v):
            return v

        def f(x, y, labels, n):
            z = torch.relu(x) * math.pi + torch.inf
            z = z + helper(y)
            with torch.no_grad():
                w = helper(x)
            return z, labels.float(), x.shape, n.detach(), w, x > 0
    """, "f")
    params, calls, ret = flow
    assert params == ("x", "y", "labels", "n")
    assert calls == (("m.helper", 1, (("p:y",),), ()),)  # the call under no_grad is not one
    # the labels, a detached value, one built under no_grad and a comparison carry no
    # gradient but are data (DATA_ATOM), not settings; a shape and constants add nothing
    assert ret == ("c:0", DATA_ATOM, "p:x")
    assert summary("def g(a):\n    return self_net(a)\n", "g")[2] == (ANY,)  # an unknown global callable


def test_summaries_settle_on_loops_that_rebind_a_name():
    src = "def f(a, b):\n" + "".join(f"    v{i} = v{i - 1} + a\n" if i else "    v0 = b\n" for i in range(40)) \
        + "    v0 = v39\n    return v0\n"
    assert ast.parse(src)
    assert summary(src, "f")[2] == ("p:a", "p:b")


def test_a_learnt_setting_is_not_data_whatever_its_name():
    got = data_params({"pkg._scalers": STATS, "pkg.model": """
        import torch
        from torch import nn
        from pkg._scalers import robust_stats

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.eps = nn.Parameter(torch.full((1,), 1e-3))  # a learnt smoothing

            def loss(self, batch):
                return robust_stats(batch["x"], batch["m"], eps=self.eps)[1].mean()
    """})
    assert got == {"pkg._scalers.robust_stats#data x", "pkg._scalers.robust_stats#data mask"}


def test_a_parameter_with_a_literal_default_hands_on_a_setting():
    # `blur=0.05` is read as a setting where it is declared, so the helper it is handed to
    # two files away gets no gradient through it; `diameter=None` may be anything
    got = data_params({"pkg._schedules": """
        import numpy as np

        def epsilon_schedule(p, diameter, blur):
            return [diameter ** p] + [np.exp(e) for e in np.arange(p * np.log(diameter), p * np.log(blur), -1.0)]

        def scaling(x, p, blur, diameter):
            return epsilon_schedule(p, diameter, blur)
    """, "pkg.losses": """
        import torch
        from pkg._schedules import scaling

        def sinkhorn_loss(x, y, p=2, blur=0.05, diameter=None):
            eps_list = scaling(x, p, blur, diameter)
            return sum(torch.cdist(x, y).pow(p).mul(-1 / e).logsumexp(-1).mean() for e in eps_list)
    """})
    assert got == {"pkg._schedules.scaling#data p", "pkg._schedules.scaling#data blur",
                   "pkg._schedules.epsilon_schedule#data p", "pkg._schedules.epsilon_schedule#data blur"}


SCALERS = """
    import torch

    class MeanScaler:
        def __call__(self, data, weights):
            scale = (data * weights).abs().sum(-1, keepdim=True) / weights.sum(-1, keepdim=True).clamp(min=1)
            return data / scale.clamp(min=1e-10), scale

    class NOPScaler:
        def __call__(self, data, weights):
            return data, torch.ones_like(data)
"""


@pytest.mark.parametrize("passed, data", [
    ("batch['past_target']", True),   # the observed window: data, whichever scaler was built
    ("self.net(batch['x'])", False),  # the network's output carries gradient
])
def test_a_module_built_as_one_of_several_classes_is_followed_into_each(passed, data):
    got = data_params({"pkg._scalers": SCALERS, "pkg.model": f"""
        from torch import nn
        from pkg._scalers import MeanScaler, NOPScaler

        class Model(nn.Module):
            def __init__(self, net, scaling=True):
                super().__init__()
                self.net = net
                if scaling:
                    self.scaler = MeanScaler()
                else:
                    self.scaler = NOPScaler()

            def training_step(self, batch):
                scaled, scale = self.scaler({passed}, batch["mask"])
                loss = (self.net(scaled) * scale - batch["y"]).pow(2).mean()
                loss.backward()
    """})
    expected = {f"pkg._scalers.{c}.__call__#data {p}" for c in ("MeanScaler", "NOPScaler") for p in ("data", "weights")}
    assert got == (expected if data else {e for e in expected if e.endswith("weights")})


def test_a_setting_the_loss_was_built_with_is_a_setting_in_its_helpers():
    """``self.blur`` of a loss built with ``blur=0.05`` is a setting, handed on or not; a total
    of the target carries no gradient but is data (it may be 0); an attribute the class also
    fills from the data is state like any other."""
    modules = {"pkg._ops": """
        def _scaled(x, blur, total, rate):
            return x * blur ** 2 / total / rate
    """, "pkg.losses": """
        import torch
        from torch import nn
        from pkg._ops import _scaled

        class BlurLoss(nn.Module):
            def __init__(self, blur=0.05, rate=0.1):
                super().__init__()
                self.blur = blur
                self.rate = rate

            def forward(self, pred, target):
                return _scaled(pred, self.blur, target.sum(), self.rate).mean()

            def adapt(self, target):
                self.rate = target.std()
    """}
    assert setting_params(modules) == {"pkg._ops._scaled#setting blur"}
    assert data_params(modules) == {"pkg._ops._scaled#data blur", "pkg._ops._scaled#data total"}
