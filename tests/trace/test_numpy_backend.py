"""The NumPy backend on a plain numpy training loop (hand-written gradients)."""

import numpy as np
import pytest
from trace_sites import by_code

import kinkcheck


def train_hinge(steps=5):
    """Linear SVM by subgradient descent: np.maximum(0, 1 - margin) has its kink at margin 1."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3))
    y = np.sign(x[:, 0] + 0.1)
    w = np.zeros(3)
    losses = []
    for _ in range(steps):
        margin = y * (x @ w)
        hinge = np.maximum(0.0, 1.0 - margin)
        losses.append(hinge.mean() + 0.01 * np.abs(w).sum())
        active = (hinge > 0).astype(float)
        grad = -(active * y) @ x / len(x) + 0.01 * np.sign(w)
        w = w - 0.5 * grad
    return np.array(losses), w


def test_numpy_training_counts_and_is_unchanged():
    plain = train_hinge()
    with kinkcheck.trace(backends="numpy") as t:
        traced = train_hinge()
    assert np.array_equal(plain[0], traced[0]) and np.array_equal(plain[1], traced[1])
    (hinge,) = by_code(t, "KC104")
    assert hinge["op"] == "numpy.maximum" and hinge["backend"] == "numpy"
    assert hinge["evaluations"] == 5 * 64
    assert hinge["exact"] == 0  # w starts at 0: 1 - margin = 1, far from the kink
    (l1,) = by_code(t, "KC101")
    assert l1["evaluations"] == 15 and l1["exact"] == 3  # w == 0 at step 0
    assert l1["path"] == "tests/trace/test_numpy_backend.py" and l1["function"] == "train_hinge"


def test_numpy_functions_are_restored_even_on_error():
    originals = (np.abs, np.maximum, np.clip, np.linalg.norm)
    with pytest.raises(ZeroDivisionError), kinkcheck.trace(backends="numpy"):
        assert np.abs is not originals[0]
        _ = 1 / 0
    assert (np.abs, np.maximum, np.clip, np.linalg.norm) == originals


def test_numpy_kinds():
    with kinkcheck.trace(backends="numpy") as t:
        np.clip(np.array([0.0, 1.0, 0.5]), 0.0, 1.0)
        with np.errstate(divide="ignore"):
            np.divide(1.0, np.array([0.0, 2.0]))
        np.linalg.norm(np.zeros(3))
        np.max(np.array([[1.0, 1.0], [1.0, 2.0]]), axis=1)
    assert by_code(t, "KC103")[0]["exact"] == 2
    assert by_code(t, "KC205")[0]["exact"] == 1
    assert by_code(t, "KC203")[0]["exact"] == 1
    assert (by_code(t, "KC105")[0]["evaluations"], by_code(t, "KC105")[0]["exact"]) == (2, 1)


def test_numpy_steps_and_argmax():
    x = np.array([0.0, 0.5, 1.0, 1.25, -2.0])
    with kinkcheck.trace(backends="numpy") as t:
        np.floor(x)
        np.sign(x)
        np.remainder(x, 0.5)
        np.argmax(np.array([[1.0, 3.0, 3.0], [0.0, 1.0, 2.0]]), axis=1)
    assert by_code(t, "KC302")[0]["exact"] == 3  # floor steps at the integers 0, 1, -2
    assert by_code(t, "KC301")[0]["exact"] == 1
    assert by_code(t, "KC302")[1]["exact"] == 4  # multiples of 0.5
    argmax = by_code(t, "KC303")[0]
    assert (argmax["evaluations"], argmax["exact"]) == (2, 1)


def test_the_tracers_own_numpy_counting_is_not_a_users_kink():
    """The torch backend counts near hits on the host with numpy; with both backends on, the
    numpy backend must not record those calls as kinks at the user's line."""
    import torch

    torch.manual_seed(0)
    x = torch.randn(1000, dtype=torch.bfloat16, requires_grad=True)
    with kinkcheck.trace(backends=("torch", "numpy"), counting="host") as t:
        torch.relu(x).sum().backward()
    sites = t.to_dict()["sites"]
    assert [s["code"] for s in sites] == ["KC102"]
    assert sites[0]["near"] > 0  # the host path really ran


# -- whose call it is ---------------------------------------------------------------------


def _module(tmp_path, name, source, folder="."):
    import importlib
    import sys

    d = tmp_path / folder
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.py").write_text(source)
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(d))


def test_a_library_calling_numpy_is_not_the_users_site(tmp_path, monkeypatch):
    """scipy's own np.sqrt inside a distance transform is not a kink of the user's loss: only a
    call whose direct caller is the user's code counts."""
    lib = _module(tmp_path, "kc_fake_lib", "import numpy as np\ndef dist(x):\n    return np.sqrt(x)\n",
                  folder="site-packages")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))  # a library directory, as installed
    with kinkcheck.trace(backends="numpy") as t:
        lib.dist(np.zeros(4))  # the library's sqrt: not counted
        np.sqrt(np.zeros(2))  # the user's: counted
    (site,) = t.to_dict()["sites"]
    assert (site["path"], site["evaluations"], site["exact"]) == ("tests/trace/test_numpy_backend.py", 2, 2)


def test_calls_made_while_a_module_is_imported_never_count(tmp_path):
    import sys

    (tmp_path / "kc_imported_in_block.py").write_text("import numpy as np\nTABLE = np.log(np.zeros(3) + 1)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with kinkcheck.trace(backends="numpy") as t:
            import kc_imported_in_block  # noqa: F401 - its np.log runs at import time
    finally:
        sys.path.remove(str(tmp_path))
    assert t.to_dict()["sites"] == []


def test_names_imported_before_the_block_and_ufunc_methods_are_seen(tmp_path):
    mod = _module(tmp_path, "kc_user_loss", "from numpy import abs as npabs\ndef l1(w):\n    return npabs(w).sum()\n")
    original = mod.npabs
    with kinkcheck.trace(backends="numpy") as t:
        mod.l1(np.array([0.0, 1.0, -2.0]))
        np.maximum.reduce(np.array([[1.0, 2.0], [1.0, 0.5]]))  # ties in column 0
        np.minimum.accumulate(np.array([3.0, 1.0, 1.0, 2.0]))  # the running minimum ties at step 2
    assert mod.npabs is original  # the user's global is back as it was
    ops = {s["op"]: (s["evaluations"], s["exact"]) for s in t.to_dict()["sites"]}
    assert ops == {"numpy.absolute": (3, 1), "numpy.maximum.reduce": (2, 1), "numpy.minimum.accumulate": (3, 1)}


def test_numpy_near_follows_the_rule():
    """KC104 near = "element": a tie is near on max(|a|, |b|) at that element, not on the
    array's largest value; KC205 near = "own": a guarded denominator is never near."""
    a = np.array([1.0, 1.0, 1e6, 1e-3])
    b = np.array([1.0, 1.0 + 2**-50, 1e6 + 1e-9, 1e-3 + 1e-12])  # exact, 4 ulps, 9 ulps, 2e-9 relative
    y = np.linspace(-3000, 3000, 10_001)
    with kinkcheck.trace(backends="numpy") as t:
        np.maximum(a, b)
        np.divide(1.0, y**2 + 1)
    (tie,) = by_code(t, "KC104")
    (div,) = by_code(t, "KC205")
    assert (tie["exact"], tie["near"], tie["near_scale"]) == (1, 1, "element")
    assert (div["exact"], div["near"], div["near_scale"]) == (0, 0, "own")
