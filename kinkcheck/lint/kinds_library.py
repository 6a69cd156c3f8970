"""What a call evaluates to, for the value kinds of :mod:`kinkcheck.lint.kinds`: a library
function by its qualified name (a draw, a layer, an initializer, numpy inside torch code), a
function or method of the checked files by its summary (:mod:`kinkcheck.lint.kinds_calls`), and
an array method by its receiver (a cast of a truth value, a view, ``.get`` of a mapping)."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint import namespaces
from kinkcheck.lint.argflow import FREE
from kinkcheck.lint.kinds import (
    _CYCLE,
    _INTEGER_DTYPES,
    BATCH_NAME_RE,
    INT_CASTS,
    PARAMETERS,
    PLAIN_CALLS,
    PLAIN_PACKAGES,
    REPARAMETERIZED,
    STEP_FUNCS,
    VIEW_METHODS,
    _constant_call,
    _integer_dtype,
)
from kinkcheck.lint.kinds_calls import (
    _function_of_data,
    _method_kind,
    _plain_function,
    _stored_function,
    class_call_kind,
    function_kind,
    function_value,
    wrapped_function_kind,
)
from kinkcheck.lint.narrowing import _own_class_method
from kinkcheck.lint.resolve import (
    ARRAY_ROOTS,
    DATA,
    DATA_FUNCS,
    JOIN_BUILTINS,
    PARAMETER_FREE_LAYER_RE,
    PLAIN,
    PLAIN_BUILTINS,
    PLAIN_METHODS,
    TENSOR,
    UNKNOWN,
    const_value,
    join,
    parameter_free_layer,
)
from kinkcheck.lint.return_range import arguments_for
from kinkcheck.lint.roots import creates_graph
from kinkcheck.lint.truth import CASTS, truth_value

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


#: calls that run the function handed to them (a network, often: ``torch.func.jvp(model, ...)``)
FUNCTION_TRANSFORMS = frozenset({"jvp", "vjp", "vmap", "grad", "grad_and_value", "value_and_grad", "jacrev", "jacfwd",
                                 "hessian", "functional_call", "linearize", "checkpoint", "remat", "custom_jvp",
                                 "custom_vjp"})


#: what an assigner or a matcher returns (``self.assigner.assign(...)``, ``self.matcher(outputs,
#: targets)``): which prediction goes with which target, and its alignment scores: training
#: targets, never a differentiated value
ASSIGNERS = frozenset({"assign", "assigner", "matcher", "match"})
#: the parameters a JAX network is applied with (``params``, ``target_critic_params``,
#: ``state.params``, ``variables``)
_PARAMS_RE = lazy_pattern(r"(^|_)(params|parameters|variables|weights)$")


def _own_parameter(ctx: "Context", node: ast.AST) -> bool:
    """A parameter of the function itself: read as a setting by its default
    (``Uniform(low=0.0)``), it may still be handed an array that carries gradient."""
    return isinstance(node, ast.Name) and node.id in ctx.params


def _call_kind(ctx: "Context", node: ast.Call) -> str:
    k = ctx.kind
    if isinstance(node.func, ast.Attribute) and node.func.attr.removeprefix("_") in ASSIGNERS \
            and not ctx.is_module_ref(node.func.value):
        return DATA
    if FREE in ctx.data_params and _constant_call(ctx, node):
        # a differentiated closure computes gradient only from the arguments the transform
        # differentiates: `self.vmap_critic(ts.critic_params, mb.obs)` reads none of them
        return DATA
    through = wrapped_function_kind(ctx, node)
    if through is not None:
        return through  # `jax.vmap(safe_norm)(targets)`: a function of data, mapped
    layer = _inline_layer(ctx, node.func) if isinstance(node.func, ast.Call) else None
    if layer is not None:
        # `nn.Dense(64)(x)`: a layer built and applied in place holds parameters, whatever x
        # is; `nn.Dropout(0.1)(x)` holds none, and computes on x alone
        if not PARAMETER_FREE_LAYER_RE.match(layer.rsplit(".", 1)[-1]):
            return TENSOR
        return join(*(ctx.kind(a) for a in node.args)) if node.args else UNKNOWN
    q = ctx.qualify(node.func)
    how = ctx.how
    if q in PARAMETERS or (isinstance(node.func, ast.Attribute) and node.func.attr == "param"
                           and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"):
        frozen = any(kw.arg == "requires_grad" and isinstance(kw.value, ast.Constant) and kw.value.value is False
                     for kw in node.keywords)
        # `nn.Parameter(torch.ones([]) * 2.6)`, flax's `self.param(...)`: learnable, whatever it
        # starts from (unless made with requires_grad=False)
        return DATA if frozen else TENSOR
    if q is not None and (how in ("builtin",) or q.startswith("builtins.")):
        name = q.rsplit(".", 1)[-1]
        if name in PLAIN_BUILTINS:
            return PLAIN
        if name in JOIN_BUILTINS:
            return join(*(k(a) for a in node.args)) if node.args else UNKNOWN
        return UNKNOWN
    if q is not None and how in ("import", "star", "instance", "attribute-of-instance"):
        root = q.split(".")[0]
        tail = q.rsplit(".", 1)[-1]
        if tail in PLAIN_CALLS:
            return PLAIN
        if root == "math" or root in PLAIN_PACKAGES or q in ("torch.is_tensor", "torch.numel", "numpy.ndim", "numpy.shape", "numpy.size", "torch.Size", "jax.numpy.ndim", "jax.numpy.shape", "jax.numpy.size"):
            return PLAIN
        if root in ("numpy", "scipy") and ctx.fa.framework and not namespaces.through_backend(ctx, node.func):
            return DATA  # numpy inside torch/jax code computes on data (KC505 flags the call)
        if q.startswith("jax.random.") and tail not in REPARAMETERIZED:
            return DATA  # a draw (`jax.random.laplace(key, shape)`) carries no gradient
        if q == "torch.autograd.grad" and not creates_graph(node):
            return DATA  # the gradients, made without a graph (an attack's step, a saliency map)
        if root in ARRAY_ROOTS:
            if q.startswith("torch.nn.init."):
                return DATA  # initializers run without gradient (and `_calculate_fan_in_and_fan_out` counts)
            if how in ("import", "star") and _module_class(q, tail):
                return TENSOR  # `nn.Embedding(n, d)`: the layer built holds parameters, whatever sizes build it
            if how == "instance" and q.startswith("torch.nn.") and _module_class(q, tail) \
                    and not parameter_free_layer(q):
                return TENSOR  # `self.embed(ids)`: a layer's weights enter its output, data in or not
            if tail in _INTEGER_DTYPES:
                return DATA  # `jnp.int32(x)`: a cast to integers, which carry no gradient
            if tail in DATA_FUNCS or tail in STEP_FUNCS or tail.startswith(("is", "get_", "set_")):
                return DATA if not tail.startswith(("is_", "get_", "set_")) else PLAIN
            if tail.endswith("_like") or tail in ("tensor", "as_tensor", "asarray", "array"):
                # `jnp.asarray(step, jnp.float32)`: the values are the first argument, a dtype follows
                # (`step = jnp.asarray(step, ...)`: the name's own earlier value is neutral)
                values = [k(a) for a in (node.args if tail.endswith("_like") else node.args[:1])]
                if not all(v in (PLAIN, DATA, _CYCLE) for v in values):
                    return TENSOR
                return DATA if DATA in values or _CYCLE not in values else _CYCLE
            if tail in FUNCTION_TRANSFORMS and node.args and not isinstance(node.args[0], ast.Lambda):
                return UNKNOWN  # `torch.func.jvp(velocity, (x, t), ...)`: what the function handed in computes
            chosen, condition = _chosen(q, node.args)
            arg_kinds = [k(a) for a in (*chosen, *_operand_keywords(node))]
            if condition is not None and not {DATA, _CYCLE} & set(arg_kinds):
                # between constants (`where(pred > 0.5, 1.0, 0.0)`) what is picked says nothing:
                # the condition's kind stays, as for any other argument
                arg_kinds.append(k(condition))
            if how in ("instance", "attribute-of-instance") and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == tail and q.rsplit(".", 2)[-2][:1].isupper():
                # `Normal(loc, scale).rsample((n,))`: a method computes from its object too
                if tail == "sample" and q.startswith("torch.distributions."):
                    return DATA  # drawn under no_grad (`rsample()` is the reparameterized draw)
                arg_kinds.append(k(node.func.value))
            if arg_kinds and all(a in (PLAIN, DATA, _CYCLE) for a in arg_kinds):
                # torch.abs(mask.float() - 1), torch.bincount(idx): a function of data is data
                # (`valid = torch.gather(valid, 1, idx)`: the name's own earlier value is neutral)
                return DATA if DATA in arg_kinds or _CYCLE not in arg_kinds else _CYCLE
            return TENSOR
    if q is not None and how in ("import", "star") and ctx.fa.framework and q in ctx.fa.data_returns and (
            isinstance(node.func, ast.Name) or isinstance(node.func, ast.Attribute) and ctx.is_module_ref(node.func.value)):
        # `sample_continuous_t(n, device=d)` of the package's schedules: a helper of another
        # file whose returns hold data and parameters is data where those are (in torch or
        # JAX code: NumPy arrays are what a hand-written gradient computes with)
        handed = arguments_for(node, ctx.fa.data_returns[q])
        if handed is not None and not any(function_value(ctx, a, named=True) for a in (*node.args, *(kw.value for kw in node.keywords))) \
                and all(k(a) == DATA or k(a) == PLAIN and not _own_parameter(ctx, a) for a in handed):
            return DATA
    if q is not None and how in ("import", "def") and isinstance(node.func, ast.Name) and _plain_function(ctx, q, how):
        of_data = _function_of_data(ctx, node, cycle=True)  # `all_gather(guide_embeddings)`
        if of_data is not None:
            return of_data
        summary = function_kind(ctx, q, node) if how == "def" else None
        if summary is not None:
            return summary  # `_searchsorted(grid, times)`: what the function returns
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
        summary = _method_kind(ctx, node.func.attr, node)
        if summary is not None:
            return summary  # `self._batch_keypoints(batch, ...)`: what the method returns
        if _stored_function(ctx, node.func.attr):
            of_data = _function_of_data(ctx, node, cycle=False)  # `self.similarity_fct(guide_a, guide_b)`
            if of_data is not None:
                return of_data
    if ctx.fa.jax and node.args and _PARAMS_RE.search(_last_name(node.args[0])) and (
            isinstance(node.func, ast.Name) and node.func.id in ctx.params
            or isinstance(node.func, ast.Attribute) and node.func.attr in ("apply", "apply_fn")):
        # `critic_fn(target_critic_params, obs, actions)`, `model.apply(target_params, x)`: in
        # JAX a network's parameters are its first argument, so a call handed data only is data
        # (a torch model called on a batch holds its parameters: not this)
        of_data = _function_of_data(ctx, node, cycle=False)
        if of_data is not None:
            return of_data
    through_class = class_call_kind(ctx, node)
    if through_class is not None:
        return through_class  # `MixITLoss.loss_set(est, targets)`: not the class name's kind
    if isinstance(node.func, ast.Attribute) and not ctx.is_module_ref(node.func.value):
        meth = node.func.attr
        if meth in CASTS and truth_value(node.func.value):
            return DATA  # `(u < 0).astype(f32)`, `(d < m).float()`: a 0/1 mask carries no gradient
        recv = k(node.func.value)
        if meth in VIEW_METHODS and (recv in (TENSOR, DATA) or (recv == UNKNOWN and _array_split(node))):
            return recv  # `obb[..., 2:4].split(1, dim=-1)`: pieces of an array (not str.split)
        if meth in PLAIN_METHODS and not _own_method(ctx, node.func):
            return PLAIN  # (`self.split(x)` of a class that defines `split` is that method's value)
        if meth == "get":
            # `td_out.get("action")` of a TensorDict is one of its arrays, `batch.get("labels")`
            # of a data mapping is data; `kwargs.get("eps")`, `cfg.get(...)`, and whatever a
            # call returns (`list_mode_options().get(...)`) is a setting
            held = _last_name(node.func.value)
            if recv == DATA or isinstance(node.func.value, ast.Name) and BATCH_NAME_RE.match(held) \
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                return DATA  # `batch.get("trimap")`, as `batch["trimap"]`: a field of the data batch
            if _MODEL_MAPPING_RE.search(held):
                return UNKNOWN  # `self.models.get("critic_1")`: a network, whose outputs carry gradient
            if _OUTPUT_MAPPING_RE.search(held) and not (len(node.args) > 1 and const_value(node.args[1]) is not None):
                # `losses.get("ctc_per_sample")`, `outputs.get("pred_boxes")`: what a loss or a
                # network returned, keyed (`self.losses.get("dice", 0.0)`, with a number to fall
                # back on, is a weight)
                return UNKNOWN
            return recv if _tensordict(node.func.value) and recv in (TENSOR, UNKNOWN) else PLAIN
        if recv == _CYCLE:  # `s = s / s.norm(dim=0)`: the name's own earlier value decides
            return join(_CYCLE, *(a for a in (k(x) for x in node.args) if a != PLAIN))
        if meth in DATA_FUNCS or ((meth in STEP_FUNCS or meth in INT_CASTS) and not _own_class_method(ctx, node.func)):
            return DATA if recv != PLAIN else PLAIN
        if meth in ("to", "type", "astype") and _integer_dtype(node):
            return DATA if recv != PLAIN else PLAIN  # `z.to(torch.int64)`: integers carry no gradient
        if meth == "sample" and ctx.fa.torch and not ctx.fa.jax and DISTRIBUTION_NAME_RE.search(
                _last_name(node.func.value)) and not _own_class_method(ctx, node.func):
            # `distr.sample(...)` of a torch distribution draws under no_grad (`rsample()` is the
            # reparameterized draw): the samples are data. Only what is named a distribution:
            # a policy's own `self.actor.sample(obs)` (SAC) draws with rsample, and a JAX
            # distribution's `sample(seed=key)` is reparameterized
            return DATA
        if recv == PLAIN and meth in _APPLY_METHODS:
            # `self.actor.apply(params, obs)`: a flax/haiku module definition is a static value,
            # what it computes from the parameters it is handed is not
            return join(PLAIN, *(k(a) for a in (*node.args, *_operand_keywords(node))))
        if recv == PLAIN:
            return PLAIN
        if meth in ("float", "double", "half", "bfloat16", "to", "type", "type_as", "contiguous",
                    "view", "reshape", "squeeze", "unsqueeze", "flatten", "permute", "transpose", "expand",
                    "expand_as", "clone", "cpu", "cuda", "sum", "mean", "abs", "clamp"):
            return recv
        if recv == DATA:  # mask.sum(), labels.max(): data, unless a tensor goes in (`zeros.scatter_reduce(src=x)`)
            # (`labels.masked_fill(mask, 0)` is data whatever the mask: a mask only chooses)
            args = node.args[1:] if meth in _CHOOSING_METHODS and node.args \
                and not isinstance(node.args[0], ast.Starred) else node.args
            return join(DATA, *(k(a) for a in (*args, *_operand_keywords(node))))
        return TENSOR if recv == TENSOR else UNKNOWN
    return UNKNOWN


#: how flax and haiku run a module on the parameters handed to it (``model.apply(params, x)``)
_APPLY_METHODS = frozenset({"apply", "apply_fn"})


#: where the layer classes live (their instances hold parameters)
_LAYER_PACKAGES = ("torch.nn.", "flax.linen.", "haiku.", "equinox.nn.")


#: torch.nn layers without parameters: calling one computes a function of what it is handed
#: (`self.sim = nn.CosineSimilarity()` on two frozen embeddings is data); PReLU learns its slope
def _module_class(q: str, tail: str) -> bool:
    """``torch.nn.Linear``, ``flax.linen.Dense``: a layer class, not a loss."""
    return q.startswith(_LAYER_PACKAGES) and tail[:1].isupper() and not tail.endswith("Loss") \
        and ".functional." not in q  # (`F.Tensor` names a type there; `torch.nn.init` is data, above)


def _inline_layer(ctx: "Context", built: ast.Call) -> str | None:
    """The layer class of ``nn.Dense(features)(x)`` (flax; haiku's ``hk.Linear(n)(x)``), else None."""
    q = ctx.qualify(built.func)
    if q is None or ctx.how != "import" or not _module_class(q, q.rsplit(".", 1)[-1]):
        return None
    return q


#: keywords through which array functions take the values they compute with (not settings
#: such as ``dim=`` or ``offset=``): ``zeros.scatter_reduce(0, idx, src=x)``, ``torch.add(a, other=b)``
OPERAND_KEYWORDS = frozenset({"input", "other", "src", "source", "value", "values", "tensor", "tensors", "mat2",
                              "vec", "vec2", "weight", "end", "exponent"})


#: the argument that only chooses among a call's operands: the condition of ``where(cond, a, b)``
#: and of ``lax.select(pred, a, b)``, the mask of ``masked_fill(x, mask, v)``. No gradient flows
#: from a condition into what is chosen (the choice is a step, which KC402/KC304 report where
#: the condition reads a differentiated value), so ``where(valid, labels, 0.0)`` is data
_CHOOSING_ARG = {"torch.where": 0, "jax.numpy.where": 0, "numpy.where": 0, "jax.lax.select": 0,
                 "jax.lax.select_n": 0, "jax.numpy.select": 0, "numpy.select": 0, "torch.masked_fill": 1}
#: ... and of the same as tensor methods (``x.where(cond, y)``, ``labels.masked_fill(mask, 0)``)
_CHOOSING_METHODS = frozenset({"where", "masked_fill", "masked_fill_"})


def _chosen(q: str, args: list[ast.expr]) -> tuple[list[ast.expr], ast.expr | None]:
    """(``args`` less the one that only chooses, that one), or (``args``, None) when no
    argument only chooses (a one-argument ``where(cond)`` returns the condition's indices)."""
    pos = _CHOOSING_ARG.get(q)
    if pos is None or len(args) < 2 or pos >= len(args) or any(isinstance(a, ast.Starred) for a in args[:pos + 1]):
        return args, None  # `where(*sel, 0.0)`: which argument is the condition is not known
    return args[:pos] + args[pos + 1:], args[pos]


def _operand_keywords(call: ast.Call) -> list[ast.expr]:
    return [kw.value for kw in call.keywords if kw.arg in OPERAND_KEYWORDS]


#: names a TensorDict goes by (torchrl, tensordict): a mapping of arrays, not of settings
TENSORDICT_RE = lazy_pattern(r"(^|_)(td|tensordict|tensordicts)($|_)")


#: mappings of networks by role (skrl's ``self.models``, a ``nn.ModuleDict`` called ``nets``)
_MODEL_MAPPING_RE = lazy_pattern(r"(^|_)(models|nets|networks|modules|policies|critics|actors)$")
#: mappings of what losses and networks return
_OUTPUT_MAPPING_RE = lazy_pattern(r"(^|_)(losses|loss_dict|outputs|preds|predictions)$")


#: names of a distribution object (``distr = self.get_distribution(...)``, ``self.base``)
DISTRIBUTION_NAME_RE = lazy_pattern(r"(^|_)(distr|dist|distrib|distribution|base_dist|base|prior|posterior)s?$",
                                    re.IGNORECASE)


def _last_name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _tensordict(node: ast.AST) -> bool:
    return bool(TENSORDICT_RE.search(_last_name(node)))


def _own_method(ctx: "Context", func: ast.Attribute) -> bool:
    """``self.split(x)``: a method the class of ``self`` (or a base in the file) defines."""
    from kinkcheck.lint.ranges_returned import defined_on_self

    return isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") \
        and defined_on_self(func.attr, ctx) is not None


def _array_split(call: ast.Call) -> bool:
    """``x.split(1, dim=-1)`` / ``x.chunk(2)``, not ``line.split(",")``: a size or a dim, no separator."""
    if getattr(call.func, "attr", "") != "split":
        return True
    first = call.args[0] if call.args else None
    return any(kw.arg == "dim" for kw in call.keywords) or (
        isinstance(first, ast.Constant) and isinstance(first.value, int) and not isinstance(first.value, bool))
