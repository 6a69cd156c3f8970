"""The tracer's op table is right: each rule's `[runtime] aten` overloads exist in the
installed torch, and each rule's ``[runtime] calls`` (what a user writes, evaluated on small
tensors under a recording TorchDispatchMode) hit the overloads they name. Every listed overload
is hit by at least one call, so a stale or misspelled overload fails here, not silently at trace
time; a new op is added in one place, the rule's TOML."""

from __future__ import annotations

import pytest

from kinkcheck import catalog

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

CAT = catalog.load()
RUNTIME = {code: r.runtime for code, r in CAT.items() if r.runtime is not None}


class Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(f"{func.overloadpacket.__name__}.{func._overloadname}")
        return func(*args, **(kwargs or {}))


def run(call: str) -> None:
    """Evaluate a catalog ``[runtime] calls`` expression on fresh inputs (catalog.CALL_INPUTS)."""
    names = {"torch": torch, "F": F, "nn": nn}
    names.update({name: eval(recipe, {"torch": torch}) for name, recipe in catalog.CALL_INPUTS.items()})
    eval(call, names)


CASES = [(code, i, call, set(hits)) for code, rt in RUNTIME.items() for i, (call, hits) in enumerate(rt.calls)]


def test_every_runtime_rule_lists_calls():
    assert [code for code, rt in RUNTIME.items() if not rt.calls] == []


@pytest.mark.parametrize("code", sorted(RUNTIME))
def test_listed_overloads_exist(code):
    for name in RUNTIME[code].aten:
        packet, overload = name.split(".")
        assert hasattr(getattr(torch.ops.aten, packet), overload), name


@pytest.mark.parametrize("code,i,call,expected", CASES, ids=[f"{c}-{i}" for c, i, _, _ in CASES])
def test_call_hits_the_listed_overloads(code, i, call, expected):
    assert expected <= set(RUNTIME[code].aten), f"{code}: {expected - set(RUNTIME[code].aten)} missing from the catalog"
    rec = Recorder()
    with rec:
        run(call)
    assert expected <= rec.ops, f"{code}: expected {expected}, saw {sorted(rec.ops)}"


@pytest.mark.parametrize("code", sorted(RUNTIME))
def test_every_listed_overload_is_hit_by_some_call(code):
    hit = set().union(*(expected for expected_code, _, _, expected in CASES if expected_code == code))
    assert set(RUNTIME[code].aten) <= hit, f"{code}: never exercised: {set(RUNTIME[code].aten) - hit}"


def test_an_aten_overload_belongs_to_one_rule_except_the_eps_floor():
    owner: dict[str, set[str]] = {}
    for code, rt in RUNTIME.items():
        for op in rt.aten:
            owner.setdefault(op, set()).add(code)
    shared = {op: codes for op, codes in owner.items() if len(codes) > 1}
    assert shared == {"clamp_min.default": {"KC103", "KC901"}, "clamp_min_.default": {"KC103", "KC901"}}


def test_numpy_callables_are_patchable_functions():
    import numpy as np

    for rt in RUNTIME.values():
        for name in rt.numpy:
            mod, _, attr = name.rpartition(".")
            target = np.linalg if mod == "numpy.linalg" else np
            assert mod in ("numpy", "numpy.linalg") and callable(getattr(target, attr)), name
