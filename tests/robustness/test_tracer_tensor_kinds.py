"""Meta, sparse and integer tensors: the tracer never changes what an op does with them (the
same result, or the same error), and ``save()`` / ``summary()`` still work afterwards.

Each op below runs twice, untraced and traced, and the two outcomes must match. Integer
``max_pool1d`` is the case that used to differ: untraced it raises, and under any dispatch
mode torch took another path that returned a value.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import kinkcheck  # noqa: E402
from kinkcheck.trace import tracefile  # noqa: E402

#: the catalog's op families (abs, relu, clamp, max-pool, sqrt, division, ties, steps...)
OPS = {
    "abs": lambda x: x.abs(),
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "threshold": lambda x: F.threshold(x, 0.5, 0.0),
    "hardtanh": F.hardtanh,
    "clamp": lambda x: x.clamp(0, 1),
    "clamp_min": lambda x: x.clamp(min=0),
    "maximum": lambda x: torch.maximum(x, x.flip(-1)),
    "max": lambda x: x.max(),
    "max_dim": lambda x: x.max(dim=-1),
    "amax": lambda x: x.amax(dim=-1),
    "sort": lambda x: x.sort(dim=-1),
    "topk": lambda x: x.topk(2, dim=-1),
    "max_pool1d": lambda x: F.max_pool1d(x, 2),
    "max_pool1d_indices": lambda x: F.max_pool1d(x, 2, return_indices=True),
    "torch.max_pool1d": lambda x: torch.max_pool1d(x, 2),
    "MaxPool1d": lambda x: torch.nn.MaxPool1d(2)(x),
    "max_pool2d": lambda x: F.max_pool2d(x, 2),
    "adaptive_max_pool1d": lambda x: F.adaptive_max_pool1d(x, 2),
    "sqrt": lambda x: x.sqrt(),
    "rsqrt": lambda x: x.rsqrt(),
    "pow_half": lambda x: x ** 0.5,
    "norm": lambda x: x.norm(),
    "log": lambda x: x.log(),
    "div": lambda x: x / x.flip(-1),
    "div_scalar": lambda x: x / 0,
    "floor_div": lambda x: x // 2,
    "reciprocal": lambda x: x.reciprocal(),
    "atan2": lambda x: torch.atan2(x, x.flip(-1)),
    "sign": lambda x: x.sign(),
    "round": lambda x: x.round(),
    "remainder": lambda x: x % 3,
    "argmax": lambda x: x.argmax(dim=-1),
}


def ints():
    return torch.arange(-8, 8, dtype=torch.int64).reshape(2, 2, 4)


def meta():
    return torch.empty(2, 2, 4, device="meta")


def sparse():
    dense = torch.tensor([[0.0, 1.5, 0.0, -2.0], [0.0, 0.0, 3.0, 0.0]])
    return dense.to_sparse()


KINDS = {"int64": ints, "bool": lambda: ints() > 0, "meta": meta, "sparse_coo": sparse}


def outcome(fn, make):
    """What the call does: ('ok', a comparable form of the result) or ('raises', type, first line)."""
    try:
        out = fn(make())
    except Exception as err:  # noqa: BLE001 - the error is the outcome
        return ("raises", type(err), str(err).splitlines()[0] if str(err) else "")
    return ("ok", comparable(out))


def comparable(out):
    if isinstance(out, (tuple, list)):
        return tuple(comparable(o) for o in out)
    if not isinstance(out, torch.Tensor):
        return out
    if out.device.type == "meta":
        return ("meta", tuple(out.shape), out.dtype)
    if out.layout != torch.strided:
        out = out.to_dense()
    return (tuple(out.shape), out.dtype, nan_safe(out.tolist()))


def nan_safe(values):
    """NaN never equals itself: spell it out so equal outcomes compare equal."""
    if isinstance(values, list):
        return [nan_safe(v) for v in values]
    return "nan" if values != values else values


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_traced_ops_behave_as_untraced_and_the_trace_still_saves(kind, tmp_path):
    make = KINDS[kind]
    plain = {name: outcome(fn, make) for name, fn in OPS.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own warnings (sparse is beta) are not the point here
        with kinkcheck.trace(backends="torch") as t:
            traced = {name: outcome(fn, make) for name, fn in OPS.items()}
    differ = {name: (plain[name], traced[name]) for name in OPS if plain[name] != traced[name]}
    assert not differ
    saved = t.save(tmp_path / "t.json")
    assert tracefile.load(saved)["sites"] is not None
    t.summary(print_=False)


def test_integer_max_pool1d_raises_as_it_does_untraced():
    x = ints()
    with pytest.raises(Exception) as untraced:  # noqa: PT011 - comparing whatever torch raises
        F.max_pool1d(x, 2)
    with kinkcheck.trace(backends="torch"), pytest.raises(type(untraced.value)) as traced:
        F.max_pool1d(x, 2)
    assert str(traced.value).splitlines()[0] == str(untraced.value).splitlines()[0]


def test_float_ops_on_meta_and_sparse_tensors_are_not_counted_and_say_nothing_odd():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with kinkcheck.trace(backends="torch") as t:
            meta().abs()
            F.relu(meta())
            sparse().abs()
            torch.tensor([0.0, 1.0], requires_grad=True).abs()  # a real tensor that trains still counts
    sites = t.to_dict()["sites"]
    assert [(s["op"], s["evaluations"], s["exact"]) for s in sites] == [("aten.abs.default", 2, 1)]
    assert not [w for w in seen if "cannot measure" in str(w.message)]


def test_a_trace_of_only_meta_tensors_saves_and_summarises(tmp_path):
    with kinkcheck.trace(backends="torch") as t:
        model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.MaxPool1d(2)).to("meta")
        model(torch.empty(3, 4, device="meta"))
    t.save(tmp_path / "meta.json")
    t.summary(print_=False)
    assert t.to_dict()["sites"] == []
