"""Helpers of another file whose returns carry no gradient (lint/return_data.py): what the
index records of them, and what a loss that calls them is told."""

from __future__ import annotations

import ast

import pytest

from kinkcheck.lint.index import index_source
from kinkcheck.lint.return_range import arguments_for

SCHEDULES = '''
import math
import torch
from .models import backbone

TABLE = {"linear": 1.0}


def sample_t(batch_size: int, antithetic: bool = True, device=None):
    if antithetic:
        u0 = torch.rand(1, device=device)
        return (u0 + torch.arange(batch_size, device=device) / batch_size) % 1.0
    return torch.rand(batch_size, device=device)


def sample_sigma(batch_size, p_mean=-1.2, p_std=1.2):
    return (torch.randn(batch_size) * p_std + p_mean).exp()


def alpha_bar(t, s=0.008):
    return torch.cos((t + s) / (1 + s) * math.pi * 0.5) ** 2


def stacked(xs):
    out = []
    for x in xs:
        out.append(x * 2)
    return torch.stack(out)


def through_table(x, name):
    fn = TABLE[name]
    return fn(x)


def features(x):
    return backbone(x)


def layer(x):
    return torch.nn.Linear(4, 4)(x)


def draws():
    yield torch.rand(3)


def detached(x):
    return x.detach() * 2


def codes(n, d):
    return torch.randn(n, d, requires_grad=True)


def codes_(n):
    return torch.randn(n).requires_grad_()


def pretrained():
    return torch.hub.load("owner/repo", "model")


if TABLE:
    def perturb(x):
        return x + 0.1 * torch.randn_like(x)
else:
    def perturb(x):
        return torch.randn_like(x)
'''


@pytest.fixture(scope="module")
def functions():
    return index_source(SCHEDULES, "pkg/schedules.py", "pkg.schedules").functions


@pytest.mark.parametrize(("name", "expected"), [
    ("sample_t", ("batch_size:0",)),  # a draw and a grid, scaled by a size
    ("sample_sigma", ("p_mean:1", "p_std:2")),
    ("alpha_bar", ("s:1", "t:0")),  # data where the timesteps are
    ("stacked", ("xs:0",)),  # what `append` stores is what the list holds
    ("through_table", None),  # a global's value called: anything
    ("features", None),  # a network of the checked code
    ("layer", None),  # a layer holds parameters
    ("draws", None),  # a generator
    ("detached", ()),  # cut from whatever it was handed
    ("codes", None),  # a leaf that is learnt
    ("codes_", None),
    ("pretrained", None),  # a network
    ("perturb", None),  # defined twice: which one runs is not known
])
def test_what_a_return_is_made_of(functions, name, expected):
    assert functions[f"pkg.schedules.{name}"].data_return == expected


@pytest.mark.parametrize(("call", "expected"), [
    ("sample_sigma(n)", []),  # the defaults are settings
    ("sample_sigma(n, 0.0, p_std=s)", ["0.0", "s"]),
    ("sample_sigma(*args)", None),
    ("sample_sigma(n, **kw)", None),
])
def test_the_arguments_a_call_passes_for_what_the_return_reads(call, expected):
    node = ast.parse(call, mode="eval").body
    got = arguments_for(node, (("p_mean", 1), ("p_std", 2)))
    assert (None if got is None else [ast.unparse(a) for a in got]) == expected


LOSS = '''
import torch
from torch import nn
from .schedules import alpha_bar, sample_sigma, sample_t


class DiffusionLoss(nn.Module):
    def __init__(self, t_eps: float = 0.0):
        super().__init__()
        self.t_eps = t_eps

    def forward(self, model, x0):
        t = sample_t(x0.shape[0], device=x0.device)
        t = t.clamp(self.t_eps, 1.0 - self.t_eps)
        ab = alpha_bar(t).view(-1, 1)
        alpha, sigma = ab.sqrt(), (1.0 - ab).sqrt()
        noise = torch.randn_like(x0)
        out = model(alpha * x0 + sigma * noise, t)
        return ((out - noise) ** 2).mean()


class LearnedScheduleLoss(nn.Module):
    def forward(self, model, x0, gamma):
        ab = alpha_bar(gamma.sigmoid())
        out = model(x0 * ab.sqrt())
        return ((out - x0) ** 2).mean() + sample_sigma(x0.shape[0]).log().mean()
'''


def test_a_loss_reads_the_helpers_draws_as_data(write_tree, monkeypatch):
    from kinkcheck.config import load_config
    from kinkcheck.lint.api import check_paths

    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "pkg/__init__.py": "",
                       "pkg/models.py": "def backbone(x):\n    return x\n",
                       "pkg/schedules.py": SCHEDULES, "pkg/losses.py": LOSS})
    monkeypatch.chdir(root)
    found = sorted((f.line, f.code) for f in check_paths([root], load_config(root, {}), jobs=1).findings
                   if f.path.endswith("losses.py"))
    # the drawn timesteps, the schedule built from them and the drawn noise level carry no
    # gradient; a schedule of a learnt gamma does, and its square root is a finding
    assert found == [(24, "KC201")]


CONVERSION = """
import jax.numpy as jnp


def as_float_array(x):
    x = jnp.asarray(x)
    return x.astype(float)
"""

UNIFORM = """
import jax.numpy as jnp
from pkg import conversion


class Uniform:
    def __init__(self, low=0.0, high=1.0):
        self._low = conversion.as_float_array(low)
        self._high = conversion.as_float_array(high)

    def prob(self, value):
        return jnp.where(jnp.logical_or(value < self._low, value > self._high),
                         jnp.zeros_like(value), jnp.ones_like(value) / (self._high - self._low))
"""


def test_a_parameter_read_as_a_setting_may_still_be_an_array(write_tree, monkeypatch):
    """``low=0.0`` reads as a setting, but a caller may hand a learnt bound: the helper's
    copy of it is no constant of the density (the support's bounds are steps of it)."""
    from kinkcheck.config import load_config
    from kinkcheck.lint.api import check_paths

    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n", "pkg/__init__.py": "",
                       "pkg/conversion.py": CONVERSION, "pkg/uniform.py": UNIFORM})
    monkeypatch.chdir(root)
    found = [(f.line, f.code) for f in check_paths([root], load_config(root, {}), scope="all", jobs=1).findings
             if f.path.endswith("uniform.py")]
    assert found == [(11, "KC402"), (11, "KC402"), (12, "KC205")]  # the width high - low may be 0
