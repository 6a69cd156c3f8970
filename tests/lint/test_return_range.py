"""What the index records of the range a helper returns (lint/return_range.py): a range that
holds for every argument, or nothing."""

from __future__ import annotations

import pytest

from kinkcheck.lint.index import index_source

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
])
def test_the_range_every_return_has(functions, name, expected):
    assert functions[f"utils.{name}"].ret_range == expected


def test_a_long_function_is_not_summarised():
    body = "".join(f"    y{i} = x * {i}\n" for i in range(10))
    ix = index_source(f"import torch\n\ndef long(x):\n{body}    return x.clamp(min=1.0)\n", "m.py", "m")
    assert ix.functions["m.long"].ret_range is None
