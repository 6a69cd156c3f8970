"""A package's own ``backend`` module is an array namespace (deepxde's ``from . import
backend as bkd``): its functions are read as numpy's, in a file that imports no array
library itself. Another package's ``backend`` helpers are not. Checked as ``--all`` checks
it: a package that imports no autodiff framework holds no loss code by default."""

from __future__ import annotations

import textwrap

from kinkcheck.config import load_config
from kinkcheck.lint.api import check_paths
from kinkcheck.lint.namespaces import backend_module


def _findings(tmp_path, files: dict[str, str]) -> set[tuple[str, int, str]]:
    for name, src in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(src))
    result = check_paths([tmp_path / "pinn"], load_config(tmp_path, {}), scope="all", use_cache=False, jobs=1)
    return {(f.path.rsplit("/", 1)[-1], f.line, f.code) for f in result.findings}


def test_the_packages_own_backend_module_is_numpy(tmp_path):
    got = _findings(tmp_path, {
        "pinn/__init__.py": "",
        "pinn/backend.py": "from numpy import *\n",
        "pinn/losses.py": """
            from . import backend as bkd


            def mean_absolute_error(y_true, y_pred):
                return bkd.reduce_mean(bkd.abs(y_true - y_pred))


            def mean_l2_relative_error(y_true, y_pred):
                return bkd.reduce_mean(bkd.norm(y_true - y_pred, axis=1) / bkd.norm(y_true, axis=1))
            """,
    })
    assert got == {("losses.py", 6, "KC101"), ("losses.py", 10, "KC203"), ("losses.py", 10, "KC205")}


def test_a_numpy_the_package_wraps_is_numpy(tmp_path):
    # trax's `from trax.fastmath import numpy as jnp`: an object forwarding to the chosen backend
    got = _findings(tmp_path, {
        "pinn/__init__.py": "",
        "pinn/fastmath/__init__.py": "from pinn.fastmath.ops import numpy\n",
        "pinn/fastmath/ops.py": """
            class NumpyBackend:
                def __getattr__(self, attr):
                    return getattr(backend()["np"], attr)


            numpy = NumpyBackend()
            """,
        "pinn/losses.py": """
            from pinn.fastmath import numpy as jnp


            def hinge_loss(scores, labels):
                return jnp.mean(jnp.maximum(0.0, 1.0 - scores * labels))


            def log_loss(probs):
                return -jnp.mean(jnp.log(probs))
            """,
    })
    assert got == {("losses.py", 6, "KC104"), ("losses.py", 10, "KC204")}


def test_what_a_backend_path_stands_for():
    assert backend_module("pinn.backend.abs", "pinn") == "numpy.abs"
    assert backend_module("pinn.backend.norm", "pinn") == "numpy.linalg.norm"
    assert backend_module("keras.backend.clip", "mine") == "numpy.clip"
    # TFP's JAX substrate spells TensorFlow's API on its backend
    assert backend_module("tensorflow_probability.python.internal.backend.jax.compat.v2.math.pow",
                          "tensorflow_probability") == "numpy.power"
    assert backend_module("pinn.backend", "pinn") == "numpy"
    assert backend_module("trax.fastmath.numpy.log", "trax") == "numpy.log"
    assert backend_module("trax.fastmath.numpy", "trax") == "numpy"
    # another package's backend helpers, and backends that are not array namespaces
    assert backend_module("joblib.parallel.backend.abs", "mine") is None
    assert backend_module("torch.backends.cudnn", "mine") is None
