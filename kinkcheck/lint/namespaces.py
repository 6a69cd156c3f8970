"""Array namespaces reached through a backend: ``xp = array_namespace(x)`` (the array API
standard, as in scikit-learn and scipy), ``nx = get_backend(x, y)`` (POT), ``from . import
backend as bkd`` (deepxde), ``from keras import backend as K`` and a ``numpy`` the package
wraps itself (``from trax.fastmath import numpy as jnp``), or one an object carries
(``xnp = A.xnp``, CoLA's linear operators). Their functions carry
numpy's names over whatever framework holds the arrays, so ``xp.sqrt(v)`` is read as
``numpy.sqrt(v)``: the catalog's numpy entries match it, and the file computes on arrays.
Nothing is imported: the backend is recognised by how the code spells it.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from kinkcheck.syntax import dotted

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: calls that hand back an array namespace (the first item where they return a pair:
#: ``xp, is_array_api = get_namespace(X)``)
FACTORIES = frozenset({"array_namespace", "get_namespace", "get_namespace_and_device", "get_backend",
                       "get_array_module"})
#: the module a backend namespace stands for
NUMPY = "numpy"
#: attributes that hold an array namespace: ``A.xnp`` (CoLA's operators), ``self.xp``
NAMESPACE_ATTRS = frozenset({"xnp", "xp"})
#: packages whose ``backend`` module is an array namespace wherever it is imported from
_BACKEND_PACKAGES = frozenset({"keras", "tf_keras"})
#: numpy spells these in a submodule: ``nx.norm`` is ``numpy.linalg.norm``
_LINALG = frozenset({"norm", "cholesky", "eigh", "eig", "eigvals", "eigvalsh", "svd", "svdvals", "inv", "det",
                     "slogdet", "solve", "vector_norm", "matrix_norm", "qr", "pinv"})
#: TensorFlow's names for numpy's functions, as a TF-style backend spells them
_TF_NAMES = {"pow": "power", "reduce_max": "max", "reduce_min": "min", "reduce_sum": "sum", "reduce_mean": "mean",
             "clip_by_value": "clip", "truediv": "true_divide"}


#: jax.nn's activations, re-exported under the same names by flax's module libraries
#: (``flax/linen/activation.py``: ``from jax.nn import relu``; ``flax.nnx`` likewise):
#: ``nn.relu(h)`` in a flax model is ``jax.nn.relu``
_JAX_NN_REEXPORTS = frozenset({"celu", "elu", "gelu", "glu", "leaky_relu", "log_sigmoid", "log_softmax", "logsumexp",
                               "normalize", "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "soft_sign",
                               "softmax", "softplus", "standardize", "swish", "hard_sigmoid", "hard_silu",
                               "hard_swish", "hard_tanh"})
_JAX_NN_PACKAGES = ("flax.linen.", "flax.linen.activation.", "flax.nnx.")


def reexported(qname: str) -> str | None:
    """``flax.linen.relu`` -> ``jax.nn.relu`` (``flax.linen.tanh`` -> ``jax.numpy.tanh``): the
    function a module library re-exports from jax under its own name; None for anything else."""
    for package in _JAX_NN_PACKAGES:
        if qname.startswith(package):
            name = qname[len(package):]
            if name in _JAX_NN_REEXPORTS:
                return f"jax.nn.{name}"
            if name == "tanh":
                return "jax.numpy.tanh"
    return None


def factory_call(value: ast.AST | None) -> bool:
    """``get_backend(x, y)``, ``sklearn.utils._array_api.get_namespace(X)``: a call that
    returns an array namespace, named by its last part."""
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return name in FACTORIES


def backend_module(qname: str, package: str) -> str | None:
    """``deepxde.backend.abs`` (a ``backend`` module of the checked package itself, or
    keras') and ``trax.fastmath.numpy.log`` (a ``numpy`` the package wraps) read as
    ``numpy.abs``, ``numpy.log``; a TensorFlow-style path on such a backend by its last
    name (TFP's JAX substrate spells ``tf.math.pow`` for ``...backend.jax.compat.v2.math.pow``:
    ``numpy.power``); ``numpy`` for the module itself; None for anything else
    (``torch.backends``, another package's ``backend`` helpers)."""
    parts = qname.split(".")
    if parts[0] == package and "numpy" in parts[1:]:
        return as_numpy(".".join(parts[parts.index("numpy", 1) + 1:]))  # trax's `fastmath.numpy`
    if "backend" not in parts[1:] or (parts[0] != package and parts[0] not in _BACKEND_PACKAGES):
        return None
    rest = parts[parts.index("backend", 1) + 1:]
    return as_numpy(_TF_NAMES.get(rest[-1], rest[-1]) if rest else "")


def as_numpy(attrs: str) -> str:
    """``sqrt`` -> ``numpy.sqrt``, ``norm`` -> ``numpy.linalg.norm``, ``linalg.eigh`` stays
    ``numpy.linalg.eigh``; an empty path is the namespace itself."""
    if not attrs:
        return NUMPY
    if attrs in _LINALG:
        return f"{NUMPY}.linalg.{attrs}"
    return f"{NUMPY}.{attrs}"


def through_backend(ctx: Context, func: ast.AST) -> bool:
    """``nx.take_along_axis`` of ``nx = get_backend(x, y)``, ``self.xp.sum``, ``bkd.abs`` of a
    package's backend module: a function that :meth:`Context.qualify` reads as numpy's but
    that runs in whichever framework holds the arrays, so its result is that framework's
    array (gradient included) and autodiff sees through it: not host NumPy."""
    head = (dotted(func) or "").split(".")[0]
    if head in ctx.bound or head == "self":
        return True
    raw = ctx.fa.ix.resolve(func, ctx.env)
    return raw is not None and backend_module(raw, ctx.fa.module.split(".")[0]) is not None
