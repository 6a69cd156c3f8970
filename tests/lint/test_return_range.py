"""What the index records of the range a helper returns (lint/return_range.py): a range that
holds for every argument, or nothing."""

from __future__ import annotations

import ast

import pytest

from kinkcheck.lint.index import index_source
from kinkcheck.lint.return_range import holds_for

HELPERS = '''
import torch


def at_least_eps(x):
    eps = torch.finfo(x.dtype).eps
    return x.clamp(min=eps)


def plus_one(x):
    return x.abs() + 1


def positive(x):
    return torch.exp(x)


def either(x, flag):
    if flag:
        return x.clamp(min=1e-6)
    return x.abs()


def shifted(x):
    return x - 0.5


def counted(x):
    return x.numel()


def draws(xs):
    for x in xs:
        yield x.clamp(min=1.0)


def nothing(x):
    x.clamp_(min=1.0)


def constrain_noise(raw, min_noise: float = 1e-6, max_noise: float = 10.0):
    return torch.clip(torch.nn.functional.softplus(raw), min_noise, max_noise)


def floored(x, lo=None):
    return x.clamp(min=lo)


def floored_by(raw, threshold=None):
    return raw.clamp(min=threshold)


def batch_view(v, like):
    return v.view(-1, *([1] * (like.dim() - 1)))


def moved(x, device=None):
    return x.to(device).float()


def rebound(v, like):
    v = v - 1
    return v.view(-1)


def one_or_other(a, b, first: bool = True):
    return a if first else b
'''


@pytest.fixture(scope="module")
def functions():
    return index_source(HELPERS, "utils.py", "utils").functions


@pytest.mark.parametrize(("name", "expected"), [
    ("at_least_eps", "pos"),
    ("plus_one", "ge1"),
    ("positive", "pos-underflow"),  # exp of a large negative number rounds to 0
    ("either", "nonneg"),  # the join of its returns
    ("shifted", None),  # holds nothing for every argument
    ("counted", "ge1"),
    ("draws", None),  # a generator
    ("nothing", None),  # returns None
    # positive with its default floor: holds where a call leaves the floor (the 2nd parameter) out
    ("constrain_noise", "pos@min_noise:1"),
    ("floored", None),  # a floor of None is none
    ("floored_by", None),  # left out, the floor is off: nothing to rest on
    # hands back its first argument reshaped: the call has the range of what it passes there
    ("batch_view", "=v:0"),
    ("moved", "=x:0"),
    ("rebound", None),  # not the argument any more
    ("one_or_other", None),
])
def test_the_range_every_return_has(functions, name, expected):
    assert functions[f"utils.{name}"].ret_range == expected


def test_a_long_function_is_not_summarised():
    body = "".join(f"    y{i} = x * {i}\n" for i in range(10))
    ix = index_source(f"import torch\n\ndef long(x):\n{body}    return x.clamp(min=1.0)\n", "m.py", "m")
    assert ix.functions["m.long"].ret_range is None


@pytest.mark.parametrize(("call", "expected"), [
    ("constrain_noise(raw)", "pos"),
    ("constrain_noise(raw, max_noise=5.0)", "pos"),
    ("constrain_noise(raw, 0.0)", "any"),  # the caller's floor, not the default
    ("constrain_noise(raw, min_noise=lo)", "any"),
    ("constrain_noise(*args)", "any"),
    ("constrain_noise(raw, **options)", "any"),
])
def test_a_summary_resting_on_a_default_holds_where_the_call_leaves_it_out(functions, call, expected):
    node = ast.parse(call, mode="eval").body
    assert holds_for(functions["utils.constrain_noise"].ret_range, node) == expected


@pytest.mark.parametrize(("call", "expected"), [
    ("constrain(p)", []),  # the helper's default floor of 1e-6 holds
    ("constrain(p, 0.0)", [("train.py", "KC204")]),  # a floor of 0 reaches the pole
])
def test_a_caller_in_another_file_reads_the_helpers_default_floor(write_tree, monkeypatch, call, expected):
    from kinkcheck.config import load_config
    from kinkcheck.lint.api import check_paths

    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n",
                       "utils.py": "import torch\n\ndef constrain(raw, lo: float = 1e-6):\n"
                                   "    return torch.clamp(torch.nn.functional.softplus(raw), min=lo)\n",
                       "train.py": f"import torch\nfrom utils import constrain\n\ndef loss(p):\n"
                                   f"    return -torch.log({call}).mean()\n"})
    monkeypatch.chdir(root)
    found = [(f.path, f.code) for f in check_paths([root], load_config(root, {}), jobs=1).findings]
    assert [f for f in found if f[0] == "train.py"] == expected


@pytest.mark.parametrize(("call", "expected"), [
    ("batch_view(n.clamp_min(1e-12), g)", []),  # the argument's floor holds through the view
    ("batch_view(n, g)", [("train.py", "KC205")]),
])
def test_a_helper_that_hands_back_its_argument_keeps_the_arguments_range(write_tree, monkeypatch, call, expected):
    from kinkcheck.config import load_config
    from kinkcheck.lint.api import check_paths

    root = write_tree({"pyproject.toml": "[tool.kinkcheck]\n",
                       "utils.py": "def batch_view(v, like):\n    return v.view(-1, *([1] * (like.dim() - 1)))\n",
                       "train.py": f"import torch\nfrom utils import batch_view\n\ndef loss(g, n):\n"
                                   f"    return (g / {call}).sum()\n"})
    monkeypatch.chdir(root)
    found = [(f.path, f.code) for f in check_paths([root], load_config(root, {}), jobs=1).findings]
    assert [f for f in found if f[0] == "train.py"] == expected
