"""Qualified names from the file's own import table, without importing or building anything.

astroid infers ``torch.abs`` as Uninferable when torch is not installed, and when torch is
installed inference builds torch itself (thousands of modules). The names kinkcheck needs
are almost always spelled through an import, so a small stdlib-``ast`` resolver does the
job: ``import torch as T``, ``from torch import sqrt as s``, ``orig = torch.abs``,
relative imports, function-level imports, and re-exports from sibling modules of the
checked tree (read with ``ast`` on demand, never imported).
"""

from __future__ import annotations

import ast
import builtins
import functools
import os
import re
from dataclasses import dataclass, field

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.syntax import COMPARISON_OPS, dotted

BUILTIN_NAMES = frozenset(dir(builtins))

#: Root packages whose functions produce tensors / arrays (value kind TENSOR).
ARRAY_ROOTS = ("torch", "jax", "numpy", "scipy", "flax", "optax", "tensorflow", "autograd", "cupy")
#: imports of an automatic-differentiation framework (HIPS ``autograd`` differentiates numpy code)
FRAMEWORK_ROOTS = frozenset({"torch", "jax", "flax", "optax", "equinox", "functorch", "haiku", "autograd"})
#: where a library keeps its losses (``torch.nn.functional.cross_entropy``, ``optax.huber_loss``)
LOSS_LIBRARIES = ("torch.nn.functional.", "torch.nn.modules.", "optax.")
#: libraries that compute on the host, outside every autodiff graph
HOST_ROOTS = frozenset({"numpy", "scipy", "pandas", "sklearn"})
#: Imports that make a file an "array file": only there can a value of unknown kind be a
#: tensor (in any other file every value is a Python value; see ``kinkcheck.lint.kinds``).
ARRAY_LIBRARIES = frozenset(
    {*ARRAY_ROOTS, *FRAMEWORK_ROOTS, "autograd", "cupy", "mlx", "paddle", "tensorflow", "tf_keras", "keras",
     "jaxlib", "chainer", "mxnet", "theano", "pytensor", "torchvision", "torchaudio", "lightning",
     "pytorch_lightning"}
)


def absolute_module(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of ``from <level dots><name> import ...`` inside ``module``."""
    if not level:
        return name or ""
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    if name:
        parts.append(name)
    return ".".join(p for p in parts if p)


@dataclass
class ImportTable:
    """Local name -> qualified name, from every import statement in a file."""

    names: dict[str, str] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)

    def add(self, node: ast.AST, module: str, is_package: bool, *, override: bool = True) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self._set(alias.asname, alias.name, override)
                else:
                    root = alias.name.split(".")[0]
                    self._set(root, root, override)
        elif isinstance(node, ast.ImportFrom):
            base = absolute_module(module, is_package, node.level or 0, node.module)
            for alias in node.names:
                if alias.name == "*":
                    if base not in self.stars:
                        self.stars.append(base)
                    continue
                local = alias.asname or alias.name
                self._set(local, f"{base}.{alias.name}" if base else alias.name, override)

    def _set(self, local: str, qname: str, override: bool) -> None:
        if override or local not in self.names:
            self.names[local] = qname


def import_table(tree: ast.Module, module: str, is_package: bool) -> ImportTable:
    """Module-level imports win over function-level ones (``import torch`` inside a def)."""
    table = ImportTable()
    for stmt in _module_level(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            table.add(stmt, module, is_package)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            table.add(node, module, is_package, override=False)
    return table


def _module_level(body):
    """Statements executed at import time, looking into if/try/with blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for sub in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(stmt, sub, ()) or ())
            for handler in getattr(stmt, "handlers", ()) or ():
                yield from _module_level(handler.body)


def module_exports(tree: ast.Module, module: str, is_package: bool, table: "ImportTable | None" = None) -> dict[str, str]:
    """Module-level name -> qualified name: imports, defs, classes and plain aliases
    (``orig = torch.abs``). What ``from <module> import name`` can see."""
    table = table or import_table(tree, module, is_package)
    out: dict[str, str] = {}
    for stmt in _module_level(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name.split(".")[0]
                if local in table.names:
                    out[local] = table.names[local]
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[stmt.name] = f"{module}.{stmt.name}" if module else stmt.name
    assigned: dict[str, int] = {}
    for stmt in _module_level(tree.body):
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = assigned.get(target.id, 0) + 1
    for stmt in _module_level(tree.body):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            d = dotted(stmt.value)
            if d and assigned.get(name) == 1:
                head, _, rest = d.partition(".")
                base = out.get(head) or table.names.get(head)
                if base:
                    out[name] = f"{base}.{rest}" if rest else base
    return out


def source_root(path: str, module: str) -> str | None:
    """The directory the dotted ``module`` is relative to, derived from the file's path."""
    if not module:
        return os.path.dirname(path) or "."
    parts = module.split(".")
    p = os.path.normpath(path)
    head, tail = os.path.split(p)
    stem = tail[:-3] if tail.endswith(".py") else tail
    if stem == "__init__":
        head, stem = os.path.split(head)
    if stem != parts[-1]:
        return os.path.dirname(path) or "."
    for part in reversed(parts[:-1]):
        head, seg = os.path.split(head)
        if seg != part:
            return None
    return head or "."


@functools.lru_cache(maxsize=512)
def _exports_of_file(filename: str, mtime: float, module: str, is_package: bool) -> dict[str, str] | None:
    try:
        with open(filename, "rb") as fh:
            data = fh.read(2_000_000)
        tree = ast.parse(data, filename)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return module_exports(tree, module, is_package)


def sibling_exports(root: str | None, module: str) -> dict[str, str] | None:
    """Exports of ``module`` when it is a file of the checked tree under ``root``; never
    reaches into site-packages (a foreign package resolves from the import table only)."""
    if root is None or not module:
        return None
    base = os.path.join(root, *module.split("."))
    for filename, is_package in ((base + ".py", False), (os.path.join(base, "__init__.py"), True)):
        try:
            mtime = os.stat(filename).st_mtime
        except OSError:
            continue
        return _exports_of_file(filename, mtime, module, is_package)
    return None


class Reexports:
    """Follows ``pkg.ops.my_abs`` to ``torch.abs`` when ``pkg/ops.py`` re-exports it,
    within a hop budget: each module the file asks about costs one hop, once (it reads at
    most one sibling file with ``ast``). Asking again is free: a file whose names all come
    through ``from .imports import *`` spends one hop on that module, not one per name, so
    the functions checked first do not use up what the later ones resolve."""

    def __init__(self, path: str, module: str, hops: int = 64):
        self.root = source_root(path, module)
        self.hops = hops
        self._memo: dict[str, str] = {}
        self._asked: set[str] = set()

    def follow(self, qname: str, depth: int = 4) -> str:
        if qname in self._memo:
            return self._memo[qname]
        result = qname
        for _ in range(depth):
            if self.root is None:
                break
            nxt = self._step(result)
            if nxt is None or nxt == result:
                break
            result = nxt
        self._memo[qname] = result
        return result

    def _step(self, qname: str) -> str | None:
        parts = qname.split(".")
        if parts[0] in ARRAY_ROOTS or parts[0] in BUILTIN_NAMES or len(parts) < 2:
            return None
        # try the longest module prefix that is a sibling file
        for cut in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:cut])
            if mod not in self._asked:
                if self.hops <= 0:
                    return None
                self._asked.add(mod)
                self.hops -= 1
            exports = sibling_exports(self.root, mod)
            if exports is None:
                continue
            target = exports.get(parts[cut])
            if target is None or target == ".".join(parts[: cut + 1]):
                return None
            rest = parts[cut + 1 :]
            return ".".join([target, *rest])
        return None


# -- value kinds -------------------------------------------------------------------------
#A small value-kind lattice, so that plain Python is never flagged.
#
#    PLAIN    ints, floats, strings, None, shapes, lists: no gradient flows through them
#    DATA     a tensor that carries no gradient: targets, labels, masks, ``.detach()``,
#             ``torch.zeros``/``arange``/``*_like``, argmax indices
#    TENSOR   a tensor / array that may carry a gradient
#    UNKNOWN  anything else (an unannotated parameter, an attribute, a helper's result)
#
#Joins: equal kinds stay; PLAIN with DATA is DATA; anything with TENSOR is TENSOR; otherwise
#UNKNOWN. What UNKNOWN does is the engine's explicit policy: inside loss code an UNKNOWN
#value is *assumed* to be a tensor for framework callables, tensor methods, operators and
#``abs``/``max``/``min``/``float``/``pow`` builtins (medium confidence), but not for ``math.*``
#(which only takes Python numbers), and a branch on UNKNOWN is only flagged when it
#compares the value with a number (low confidence).



PLAIN, DATA, TENSOR, UNKNOWN = "plain", "data", "tensor", "unknown"

PLAIN_NAME_RE = lazy_pattern(
    r"^(n|m|k|i|j|t_?step|idx|step|steps|epoch|epochs|dim|dims|axis|ndim|rank|size|sizes|count|length|"
    r"num_\w+|n_\w+|shape|shapes|\w+_shape|\w+_shapes|\w+_size|\w+_sizes|\w+_dim|\w+_dims|\w+_count|\w+_len|\w+_length|len_\w+|\w+_steps|"
    r"reduction|mode|training|verbose|debug|name|kind|p_drop|dropout|world_size|"
    r"batch|nb_\w+|\w+_idx|\w+_index|\w+_step|\w+_epoch|\w+_mode|\w+_type|is_\w+|use_\w+|has_\w+|"
    r"config|cfg|conf|hparams|hyperparams|hyp|\w+_config|\w+_cfg)$"
)
DATA_NAME_RE = lazy_pattern(
    r"(^|_)(target|targets|tgt|tgts|label|labels|y_true|gt|ground_truth|mask|masks|attention_mask|ids|"
    r"indices|index|inds|idxs|sorter|perm|permutation|lengths|lens|counts|weights_mask|onehot|one_hot|imgsz|img_size|image_size|stride|strides|"
    r"anchor_points|anchors|grid|grids|valid|validity|timestep|timesteps|"
    # observations of a forecasting window: `past_observed_values`, `observed_indicator`
    r"observed|"
    # rollout quantities of policy-gradient losses, computed before the update: advantages,
    # returns, the behaviour policy's ``old_log_prob``
    r"advantage|advantages|returns|old_log_probs?|old_logprobs?|old_logps?|old_values|old_per_token_logps|"
    r"old_probs?|old_action_probs?|old_logits|old_dist|"
    # what a replay buffer hands back (`self.replay_elements["reward"]`, `replay_data.rewards`);
    # not what a model computes on it (`replay_logits`, `replay_loss` of continual learning)
    r"replay_elements|replay_data|replay_batch|replay_buffer|replay_samples?|replay_memory|"
    # a diffusion model's noise schedule (a buffer indexed by the sampled timesteps)
    r"alphas_cumprod|alphas_bar|alpha_bar|alpha_bars|betas|sigmas|"
    # a forecasting loss's in-sample window: the observed history a scaled error is measured by
    r"insample|"
    # a survival loss's observations: event indicators, (indices of) follow-up durations, strata
    # (times are not: a grounding model predicts start and end times)
    r"idx|event|events|duration|durations|censor|censored|censoring|strata|stratum|"
    # a distillation loss's teacher side: a frozen network (or an EMA of the student) whose
    # outputs are the student's targets (`teacher_logits`, `teacher_outputs`)
    r"teacher|teachers|"
    # a ranking loss's graded labels (`relevance`, `relevances`): what the scores are ranked by
    r"relevance|relevances|"
    # a molecule's atom types: integer indices into per-element tables (torchani's, jax-md's
    # `species`), never differentiated; the coordinates are
    r"species|atom_types?|atomic_numbers?|"
    # which entries exist (`atom14_atom_exists`, `mask_exists`): a mask by another name
    r"exists?)($|_)"
)
#: the training data itself (`dataset`, `train_dataset`; not a discriminator's `dataset_logits`),
#: and what is read off it (`dataset.history_value_matrix().max()`)
DATASET_NAME_RE = lazy_pattern(r"(^|_)datasets?$", re.IGNORECASE)
#: a schedule object (a diffusion model's `noise_scheduler`, a learning-rate `lr_scheduler`):
#: fixed schedules and step counters, never a differentiated value, so `compute_snr(noise_scheduler,
#: timesteps)` is data; what its methods compute from a prediction (`scheduler.step(noise_pred, t,
#: x)`) still carries the prediction's gradient
SCHEDULER_NAME_RE = lazy_pattern(r"(^|_)schedulers?$", re.IGNORECASE)
#: dtypes whose tensors cannot require grad (``torch.tensor(idx, dtype=torch.long)``)
INTEGER_DTYPES = frozenset({"long", "int", "int64", "int32", "int16", "int8", "uint8", "bool", "short"})
EPS_RE = lazy_pattern(r"(^|_)(eps|epsilon|tiny|smooth|smoothing|stabilizer|min_value|floor|jitter)($|_|\d)", re.IGNORECASE)

PLAIN_TYPES = {
    "int", "float", "bool", "str", "bytes", "list", "tuple", "dict", "set", "frozenset", "None",
    "Sequence", "List", "Tuple", "Dict", "Mapping", "Iterable", "Optional", "Union", "Literal",
    "complex", "Callable", "Size", "Number", "Real",
}
TENSOR_TYPE_RE = lazy_pattern(r"Tensor|Array|ndarray|Parameter|ArrayLike|jnp|Float\[|Float32")

#: calls that combine the elements of what they are handed: a value computed with one is no
#: elementwise function of its input (a piece of a join, a branch a mask selects lane by lane)
MIXING = frozenset({"sum", "mean", "nansum", "nanmean", "prod", "max", "min", "amax", "amin", "norm", "logsumexp",
                    "std", "var", "median", "cumsum", "cumprod", "sort", "topk", "softmax", "log_softmax", "matmul",
                    "mm", "bmm", "einsum", "dot", "inner", "tensordot", "cat", "concatenate", "stack"})

#: attributes that are metadata, never differentiable
PLAIN_ATTRS = frozenset(
    {"shape", "dtype", "device", "ndim", "training", "requires_grad", "is_cuda", "is_leaf",
     "layout", "names", "itemsize", "nbytes", "size" , "grad_fn", "is_sparse", "batch_size"}
)
#: methods whose result is metadata / a Python value
#: comparisons written as calls (``torch.gt(d, m)``, ``d.lt(m)``, ``jnp.isclose(p, q)``): their
#: results are booleans, so no operand's slope passes through them
COMPARISON_CALLS = frozenset({*COMPARISON_OPS, "isclose", "allclose"})
PLAIN_METHODS = frozenset(
    {"size", "dim", "ndimension", "numel", "nelement", "item", "tolist", "stride", "data_ptr",
     "get_device", "is_contiguous", "is_floating_point", "is_complex", "element_size", "keys",
     "items", "format", "startswith", "endswith", "join", "split", "lower", "upper", "strip",
     "replace", "count", "index", "__len__", "numpy"}
)
#: methods / functions whose result is a tensor without gradient
DATA_FUNCS = frozenset(
    {"detach", "argmax", "argmin", "argsort", "argwhere", "nonzero", "isnan", "isinf", "isfinite",
     "count_nonzero", "bincount", "nanargmax", "nanargmin", "argpartition", "digitize", "flatnonzero",
     "zeros", "ones", "zeros_like", "ones_like", "full", "full_like", "empty", "empty_like", "arange",
     "linspace", "logspace", "eye", "rand", "randn", "randint", "rand_like", "randn_like",
     "randint_like", "randperm", "tensor", "as_tensor", "from_numpy", "bernoulli", "multinomial",
     "stop_gradient", "searchsorted", "bucketize", "one_hot", "tril_indices", "triu_indices",
     "PRNGKey", "key", "normal", "uniform", "new_ones", "new_zeros", "new_full", "new_empty",
     "new_tensor", "rankdata"}
)
PLAIN_BUILTINS = frozenset(
    {"len", "int", "float", "bool", "str", "range", "isinstance", "issubclass", "hasattr", "callable",
     "type", "id", "hash", "repr", "format", "ord", "chr", "dict", "set", "frozenset",
     "enumerate", "zip", "any", "all", "print", "round", "divmod", "bin", "hex"}
)
#: builtins whose result holds what their arguments hold (``tuple(map(squeeze, jnp.split(x, 3)))``
#: is three arrays; ``list(x.shape)`` is numbers)
JOIN_BUILTINS = frozenset({"abs", "max", "min", "sum", "pow", "next", "iter", "getattr", "list", "tuple", "sorted",
                           "reversed", "map", "filter"})


def join(*kinds: str) -> str:
    ks = set(kinds)
    if len(ks) > 1:
        ks.discard("cycle")  # a name's own value while it is being worked out
    if not ks:
        return PLAIN
    if len(ks) == 1:
        return ks.pop()
    if TENSOR in ks:
        return TENSOR
    if ks <= {PLAIN, DATA}:
        return DATA
    return UNKNOWN


def _annotation_text(ann: ast.AST) -> str | None:
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        return ann.value  # a string annotation: `"Optional[Callable[..., Tensor]]"`
    try:
        return ast.unparse(ann)
    except Exception:  # pragma: no cover - unparse handles every expression node
        return None


#: ``Callable[[Tensor], Tensor]``, ``Optional[Callable]``: an annotation of a function
_CALLABLE_RE = lazy_pattern(r"^(typing\.|t\.)?(Optional\[)?(typing\.|t\.|collections\.abc\.)?Callable\b")


def callable_annotation(ann: ast.AST | None) -> bool:
    """The parameter holds a function (``_CALLABLE_RE``)."""
    text = _annotation_text(ann) if ann is not None else None
    return text is not None and _CALLABLE_RE.match(text) is not None


def annotation_kind(ann: ast.AST | None) -> str | None:
    if ann is None:
        return None
    text = _annotation_text(ann)
    if text is None:
        return None
    if _CALLABLE_RE.match(text):
        return PLAIN  # `Optional[Callable[[Tensor], Tensor]]`: a function, not a tensor
    if TENSOR_TYPE_RE.search(text):
        return TENSOR
    words = set(re.findall(r"[A-Za-z_]\w*", text))
    bare = {w.rsplit(".", 1)[-1] for w in words} - {"typing", "t", "np", "numbers"}
    if bare and bare <= PLAIN_TYPES:
        return PLAIN
    return None


#: a predicted mask is no mask of the data: ``pred_masks``, ``mask_logits``, ``masks_queries_logits``
#: ``torch.nn`` layer classes that hold no parameters: calling one is the function it wraps
#: (``self.act = nn.ReLU()``), so what it returns carries gradient only when its input does
PARAMETER_FREE_LAYER_RE = lazy_pattern(
    r"^(?!PReLU)\w*(ReLU|ReLU6|LU|Sigmoid|sigmoid|Tanh|tanh|Softmax|Softmax2d|Softmin|Softplus|Softsign|"
    r"shrink|Threshold|GLU|Mish|Hardswish|Dropout\w*|Identity|Flatten|Unflatten|Pool\w*|"
    r"Pad\w*|Upsample\w*|Shuffle|Unshuffle|CosineSimilarity|PairwiseDistance|Fold|Unfold)$")


def parameter_free_layer(qname: str) -> bool:
    """``torch.nn.ReLU``, ``torch.nn.modules.pooling.MaxPool2d``: a ``torch.nn`` class without
    parameters (``PReLU`` learns its slope)."""
    return qname.startswith("torch.nn.") and bool(PARAMETER_FREE_LAYER_RE.match(qname.rsplit(".", 1)[-1]))


PREDICTED_MASK_RE = lazy_pattern(r"(^|_)(masks?|exists?)(_|$)", re.IGNORECASE)
PREDICTION_WORD_RE = lazy_pattern(r"(^|_)(pred|preds|predicted|prediction|predictions|logit|logits)(_|$)", re.IGNORECASE)


#: words that make a target-named value an estimate of it (asteroid's ``est_targets``)
ESTIMATE_RE = lazy_pattern(r"(^|_)(est|estimate|estimated|pred|preds|predicted|prediction|hat|recon|reconstructed|student|"
                           r"fake|generated)(_|$)", re.IGNORECASE)
_TARGETS_RE = lazy_pattern(r"(^|_)(targets?|counts)(_|$)", re.IGNORECASE)


#: a setting that bounds or counts (`max_symbols_per_step`, `num_tokens_per_batch`)
_LIMIT_RE = lazy_pattern(r"^(max|min|num|n|nb|total|target)_")


#: names whose last word says they hold a loss (``perm_losses``, the loss of each permutation)
_LOSS_VALUE_RE = lazy_pattern(r"(^|_)(loss|losses)$", re.IGNORECASE)


def name_kind(name: str) -> str | None:
    """Name heuristics for values the code does not describe: low confidence by design. A
    leading underscore only marks a name private (``self._n_updates``)."""
    name = name.lstrip("_") or name
    head, per, _ = name.partition("_per_")
    if per and head and not _LIMIT_RE.match(head):
        return name_kind(head)  # `kl_per_dim`, `tokens_per_expert` are values; `steps_per_epoch` a count
    if PLAIN_NAME_RE.match(name):
        return PLAIN
    head, of, _ = name.partition("_of_")
    if of and head:
        return name_kind(head)  # `cosine_of_target_classes` is a cosine, `mask_of_targets` a mask
    if DATASET_NAME_RE.search(name) or SCHEDULER_NAME_RE.search(name):
        return DATA
    if _LOSS_VALUE_RE.search(name):
        return None  # `perm_losses`, `mask_loss`: a loss, whatever it is a loss of
    if DATA_NAME_RE.search(name):
        if PREDICTED_MASK_RE.search(name) and PREDICTION_WORD_RE.search(name) \
                and not DATA_NAME_RE.search(PREDICTED_MASK_RE.sub("_", name)):
            return None  # `pred_masks`, `mask_logits`, `pred_exist`: a head's output
        if ESTIMATE_RE.search(name) and _TARGETS_RE.search(name) \
                and not DATA_NAME_RE.search(_TARGETS_RE.sub("_", name)):
            return None  # `est_targets`, `target_hat`, `student_counts`: an estimate is a prediction
        return DATA
    if EPS_RE.search(name):
        return PLAIN
    return None


def dimension_argument(node: ast.AST, ctx) -> bool:
    """``torch.max(x, 1)`` / ``torch.max(x, dim)``: the second argument is an axis (an integer,
    or a plain setting that is no eps: ``torch.max(union, eps)`` is a floor)."""
    v = const_value(node)
    if v is not None:
        return isinstance(v, int)
    return ctx.kind(node) == PLAIN and not is_eps_like(node)


def is_eps_like(node: ast.AST) -> bool:
    """``eps``, ``self.eps``, ``EPS``, ``cfg.epsilon``, ``1e-8``, ``torch.finfo(x).eps``,
    ``K.epsilon()``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return 0 < node.value < 1e-2
    if isinstance(node, ast.Name):
        return bool(EPS_RE.search(node.id))
    if isinstance(node, ast.Attribute):
        return bool(EPS_RE.search(node.attr)) or node.attr == "tiny"
    if isinstance(node, ast.Subscript):
        return is_eps_like(node.value)  # a table of eps by dtype: `EPS[x.dtype]`
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)):
        func = node.func
        tail = func.id if isinstance(func, ast.Name) else func.attr
        if tail in FILLS:  # `torch.full_like(n, eps)`, `n.new_full(shape, eps)`
            fill = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "fill_value"), None)
            return fill is not None and is_eps_like(fill)
        if isinstance(func, ast.Attribute) and tail in _EPS_CASTS and is_eps_like(func.value):
            return True  # self.eps.to(x), eps.float()
        if not node.args and not node.keywords and tail in ("epsilon", "eps"):
            return True  # keras' `K.epsilon()`: the backend's fuzz factor (1e-7)
        if _EPS_OF_DTYPE_RE.search(tail) and node.args and not node.keywords and all(_dtype(a) for a in node.args):
            return True  # allennlp's `tiny_value_of_dtype(x.dtype)`: the eps chosen per dtype
        # float(eps), torch.tensor(eps): a constructor, not `x.subtract(eps)` (a value minus eps)
        return tail in _EPS_CONSTRUCTORS and len(node.args) == 1 and is_eps_like(node.args[0])
    return False


#: arrays filled with one value: ``full(shape, v)``, ``full_like(x, v)``, ``x.new_full(shape, v)``
#: (an eps times ones is a modelled floor like any other: ``checks.kinks._eps_scaled``)
FILLS = frozenset({"full", "full_like", "new_full"})


#: helpers named for the eps of a dtype (not ``min_value_of_dtype``, the most negative number)
_EPS_OF_DTYPE_RE = lazy_pattern(r"(^|_)(eps|epsilon|tiny)(_|$)", re.IGNORECASE)


def _dtype(node: ast.AST) -> bool:
    """``x.dtype``, ``dtype``, ``torch.float32``-like names: what an eps-of-dtype helper takes."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name == "dtype" or name.endswith("_dtype") or bool(re.fullmatch(r"(b?float|half|double)\d*", name))


#: calls that make a number or a 0-d array out of their one argument
_EPS_CONSTRUCTORS = frozenset({"float", "tensor", "new_tensor", "as_tensor", "asarray", "array", "scalar_tensor",
                               "float16", "float32", "float64", "bfloat16", "Tensor", "convert_to_tensor"})
#: methods that keep an eps an eps
_EPS_CASTS = frozenset({"to", "type", "type_as", "float", "double", "half", "bfloat16", "astype", "item"})


def const_value(node: ast.AST | None):
    """A numeric constant folded from literals and unary/binary arithmetic, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = const_value(node.operand)
        if v is None:
            return None
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = const_value(node.left), const_value(node.right)
        return None if a is None or b is None else fold(node.op, a, b)
    if isinstance(node, ast.Call) and len(node.args) == 1 and all(k.arg == "dtype" for k in node.keywords):
        func = node.func
        tail = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if tail in _EPS_CONSTRUCTORS or tail in _DTYPE_ALIASES:
            return const_value(node.args[0])  # `jnp.float32(2)`, `f32(2)`, `torch.tensor(2.0)`
    return None


#: the short dtype names array code binds (``f32 = jnp.float32``): a call casts a number
_DTYPE_ALIASES = frozenset({"f16", "f32", "f64", "i32", "i64", "int32", "int64", "double"})


def fold(op: ast.operator, a, b):
    """``a <op> b`` for + - * / and small powers; None where Python would raise or the result
    is not a real number (``0 ** -1``, ``(-8) ** (1 / 3)``)."""
    try:
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.Div):
            return a / b
        if isinstance(op, ast.Pow) and abs(b) < 64 and abs(a) < 1e6:
            v = a**b
            return v if not isinstance(v, complex) else None
    except (ZeroDivisionError, OverflowError, ValueError, TypeError):
        return None
    return None
