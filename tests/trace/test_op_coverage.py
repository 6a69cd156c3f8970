"""Every op family in the catalog's runtime table is measured without errors or warnings,
however it is called (functional, method, in-place, with keywords)."""

import warnings

import torch
import torch.nn.functional as F

import kinkcheck


def exercise():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-3, 4, (2, 3, 8, 8), generator=g).float() / 2
    v = x.flatten()
    v.abs(); torch.abs_(v.clone()); torch.absolute(v)
    F.relu(v); F.leaky_relu(v, 0.1); F.leaky_relu(v.clone(), inplace=True); F.prelu(x, torch.tensor([0.2]))
    F.rrelu(v, training=True); F.rrelu(v, training=False); F.threshold(v, 0.5, 0.0); F.relu6(v)
    v.clamp(min=-1); v.clamp(max=1); torch.clamp(v, torch.zeros_like(v), torch.ones_like(v)); v.clone().clamp_(-1, 1)
    F.hardtanh(v); F.hardsigmoid(v); F.hardswish(v); F.hardshrink(v); F.softshrink(v)
    torch.maximum(v, v.flip(0)); torch.minimum(v, v.flip(0)); torch.fmax(v, v.flip(0)); torch.fmin(v, v.flip(0))
    x.max(); x.min(); x.max(dim=1); x.min(dim=1, keepdim=True); x.amax(dim=(2, 3)); x.amin(); torch.aminmax(x)
    torch.aminmax(x, dim=1); x.median(); x.median(dim=-1); x.nanmedian(); x.nanmedian(dim=0); x.kthvalue(2, dim=-1)
    x.topk(3); x.topk(2, dim=1, largest=False); x.sort(); x.sort(dim=1, descending=True); torch.sort(x, stable=True, dim=0)
    F.max_pool2d(x, 2); F.max_pool2d(x, 3, 1, 1); F.max_pool2d(x, 2, ceil_mode=True); F.max_pool2d(x, 2, dilation=2)
    F.max_pool1d(x[0], 2); F.max_pool3d(x.unsqueeze(0), 2); F.adaptive_max_pool2d(x, 4); F.adaptive_max_pool2d(x, 3)
    F.adaptive_max_pool3d(x.unsqueeze(0), 2); F.fractional_max_pool2d(x, 2, output_size=4, _random_samples=torch.rand(2, 3, 2))
    y = v.abs()
    y.sqrt(); y.rsqrt(); y.log(); y.log2(); y.log10(); torch.log1p(v.clamp(min=-1))
    y ** 0.5; y ** -1; torch.pow(y, torch.full_like(y, 0.5)); y.clone().pow_(0.5)
    torch.linalg.vector_norm(x, dim=1); torch.norm(x); x.norm(dim=0); torch.dist(x, x.flip(0))
    torch.cdist(x[0, 0], x[0, 1]); F.pdist(x[0, 0])
    v / v.flip(0); v / 2; v.clone().div_(3.0); torch.reciprocal(v); v.clone().reciprocal_()
    torch.acos(v.clamp(-1, 1)); torch.asin(v.clamp(-1, 1)); torch.acosh(y + 1); torch.atanh(v.clamp(-1, 1))
    torch.atan2(v, v.flip(0)); torch.angle(v)
    v.sign(); v.sgn(); v.round(); v.round(decimals=1); v.floor(); v.ceil(); v.trunc(); v // 0.5
    torch.div(v, 0.5, rounding_mode="floor"); v % 0.5; torch.fmod(v, 0.5); torch.remainder(v, v.flip(0) + 5)
    torch.heaviside(v, torch.tensor(0.5)); v.argmax(); x.argmin(dim=1); x.argmax(dim=1, keepdim=True)


def test_every_runtime_op_is_measured_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with kinkcheck.trace(only_differentiated=False, backends="torch") as t:
            exercise()
    data = t.to_dict()
    codes = {s["code"] for s in data["sites"]}
    assert codes >= {"KC101", "KC102", "KC103", "KC104", "KC105", "KC106", "KC201", "KC202", "KC203", "KC204",
                     "KC205", "KC206", "KC207", "KC301", "KC302", "KC303", "KC305"}
    assert all(s["evaluations"] > 0 for s in data["sites"])
    assert sum(s["exact"] for s in data["sites"]) > 0


def test_results_are_unchanged_by_the_measurements():
    torch.manual_seed(0)
    exercise()
    plain = torch.random.get_rng_state()
    torch.manual_seed(0)
    with kinkcheck.trace(only_differentiated=False, backends="torch"):
        exercise()
    assert torch.equal(torch.random.get_rng_state(), plain)  # rrelu's noise drew the same numbers


# -- every dispatch path of every op the catalog names -----------------------------------

#: overloads of the catalog's op families that are deliberately not counted, and why
NOT_KINKED = {
    "pow.Scalar": "a number to a tensor power (2 ** x) is smooth in the exponent",
    "pow.Scalar_out": "a number to a tensor power (2 ** x) is smooth in the exponent",
    "sort.Tensor": "sorts a Python list of tensors (no values compared)",
}


def _catalog_ops():
    from kinkcheck import catalog

    cat = catalog.load()
    return {name for code in cat if cat[code].runtime for name in cat[code].runtime.aten}


def _table():
    from kinkcheck import catalog
    from kinkcheck.trace.backends.torch import build_table

    cat = catalog.load()
    table, missing = build_table(cat, {c for c in cat if cat[c].runtime}, None)
    assert missing == []
    return table


def _decomposed(op) -> bool:
    """Never reaches the dispatch mode: what it decomposes into does (max.other -> maximum)."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CompositeImplicitAutograd")


def test_every_tensor_overload_of_a_catalog_op_is_counted():
    """The op registry, not a hand-made list: every overload of each op family the catalog
    names (functional, in-place, out=) that takes a tensor is in the runtime table, unless
    it decomposes before the mode (then its parts are counted) or is listed above."""
    table = _table()
    unmapped = []
    for family in sorted({n.split(".")[0].removesuffix("_") if not n.startswith("_") else n.split(".")[0]
                          for n in _catalog_ops()}):
        for name in (family, family + "_"):
            packet = getattr(torch.ops.aten, name, None)
            for ov in packet.overloads() if packet is not None else ():
                op = getattr(packet, ov)
                takes_tensor = any("Tensor" in str(a.type) for a in op._schema.arguments)
                if takes_tensor and op not in table and f"{name}.{ov}" not in NOT_KINKED and not _decomposed(op):
                    unmapped.append(f"aten.{name}.{ov}")
    assert unmapped == []


def test_no_catalog_op_is_decomposed_before_the_dispatch_mode():
    """A CompositeImplicitAutograd op never reaches the mode (its decomposition does): naming
    it would count nothing, as aten.cdist would (the mode sees _euclidean_dist)."""
    unseen = []
    for name in sorted(_catalog_ops()):
        base, _, ov = name.partition(".")
        op = getattr(getattr(torch.ops.aten, base), ov)
        if _decomposed(op):
            unseen.append(name)
    assert unseen == []


def test_cdist_counts_coinciding_rows_on_both_paths():
    """cdist(x, x) dispatches _cdist_forward up to 25 rows and _euclidean_dist (a matrix
    product, whose diagonal is rounding noise up to sqrt(eps)) above: both count the n zeros."""
    torch.manual_seed(0)
    for n, op in ((20, "aten._cdist_forward.default"), (64, "aten._euclidean_dist.default")):
        x = torch.randn(n, 3, requires_grad=True)
        with kinkcheck.trace(backends="torch", rules=["KC203"]) as t:
            torch.cdist(x, x).sum().backward()
        (site,) = t.to_dict()["sites"]
        assert (site["op"], site["evaluations"], site["exact"]) == (op, n * n, n)


def test_out_and_in_place_variants_count_like_the_function():
    x = torch.tensor([0.0, -1.0, 2.0, 0.0])  # out= has no autograd: counted with only_differentiated=False
    with kinkcheck.trace(backends="torch", only_differentiated=False, rules=["KC101", "KC103"]) as t:
        torch.abs(x, out=torch.empty(4))  # abs.out
        x.clone().clamp_min_(torch.zeros(4))  # clamp_min_.Tensor
        torch.clamp(x, min=0.0, out=torch.empty(4))  # clamp.out
    ops = {s["op"]: (s["evaluations"], s["exact"]) for s in t.to_dict()["sites"]}
    assert ops == {"aten.abs.out": (4, 2), "aten.clamp_min_.Tensor": (4, 2), "aten.clamp.out": (4, 2)}
