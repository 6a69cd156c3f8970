"""What a function's parameter holds (:mod:`kinkcheck.lint.kinds` asks this for every name
that is a parameter): its annotation and its name say array, data or setting; a default says
setting; where they are silent, what every caller hands in decides. Loss APIs have
conventions (``target``, ``weight=``, ``avg_factor``) and JAX code has its own (a ``float``
under ``jax.grad`` may be a tracer), so both are read here, in one place."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.param_docs import documented_data
from kinkcheck.lint.resolve import (
    DATA,
    PLAIN,
    PREDICTION_WORD_RE,
    TENSOR,
    UNKNOWN,
    annotation_kind,
    dotted,
    join,
    name_kind,
)
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import call_tail

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context

#: parameters of a loss that carry no gradient by the conventions of loss APIs
#: (torch's ``weight=``, mmdet's ``avg_factor``); learnable weights are ``self.weight``
PARAM_DATA_RE = lazy_pattern(r"^(weight|weights|sample_weight|sample_weights|class_weight|class_weights|"
                             r"pos_weight|avg_factor|loss_weight|reduction_override|ignore_index)$")
#: sizes and shapes held in an array (``target_sizes: Tensor`` of (height, width) rows): data;
#: so is a batch (the data batch, or a graph batch's vector of graph ids)
SIZES_RE = lazy_pattern(r"(^|_)(sizes|shapes)$|^batch$")
#: tensor types of integers and truth values: no gradient flows through them
_INTEGER_TENSOR_RE = lazy_pattern(r"\b(LongTensor|IntTensor|ShortTensor|ByteTensor|CharTensor|BoolTensor)\b")
_FLOAT_TENSOR_RE = lazy_pattern(r"\b(Tensor|FloatTensor|DoubleTensor|HalfTensor|BFloat16Tensor|Array|ndarray)\b")


def parameter_kind(ctx: "Context", name: str) -> str:
    """The kind of parameter ``name`` of the function ``ctx`` checks."""
    from kinkcheck.lint.kinds import _assigned_kinds
    from kinkcheck.lint.kinds_calls import _internal, _passed_kind

    if name in ctx.setting_params and annotation_kind(ctx.params[name][0]) != TENSOR \
            and name not in ctx.assignments():
        return PLAIN  # every call hands a setting (`self.blur` of a loss built with `blur=0.05`), across files
    if name in ctx.data_params and not _setting(ctx, name):
        # every call from loss code hands in data, across files (`argflow`)
        return join(DATA, *_assigned_kinds(ctx, name)) if name in ctx.assignments() else DATA
    if _paired_reference(ctx, name) or _survival_time(ctx, name) or _fitted_on(ctx, name) \
            or _response_of_prediction(ctx, name) or _clean_sample(ctx, name):
        # `(ref_forces, pred_forces)`: the reference the prediction is scored against;
        # `(log_hz, event, time)`: when each event or censoring was observed; `(w, X, y)`:
        # the samples and targets an objective of the weights is fitted on; `(raw, y)`: the
        # response a raw score is scored against; `(x_start, x_t, t)`: a diffusion's clean sample
        return DATA
    if _edge_guide(ctx, name):
        return DATA  # `edge_aware_smoothness(disp, img)`: the image whose edges weigh the smoothness
    if _network_input(ctx, name):
        # `(model, x_natural, y)`: the input the loss runs the network it is handed on
        return join(DATA, *_assigned_kinds(ctx, name)) if name in ctx.assignments() else DATA
    ann, default = ctx.params[name]
    if _spread_into_arrays(ctx, name):
        return UNKNOWN  # `torch.min(*args)`: the star holds what the array function takes
    ak = annotation_kind(ann)
    if ak == TENSOR and ctx.fa.framework and _numpy_annotation(ann):
        return DATA  # an np.ndarray handed to torch/jax code is data
    if ak == TENSOR and (name_kind(name) == DATA or _loss_weight(ctx, name) or SIZES_RE.search(name)
                         or _counter(name) or _integer_tensor(ann) or documented_data(ctx, name)):
        # `target: Tensor`, `image_sizes: Tensor`: the annotation says array, the name says
        # which; `counts: torch.LongTensor`, `step: jnp.ndarray`: integers carry no gradient
        return DATA
    if ak == PLAIN and ctx.fa.jax and isinstance(ann, ast.Name) and ann.id in ("float", "complex") \
            and not _array_sibling(ctx):
        ak = None  # under jax.grad a `score: float` is a tracer: the namespace decides
    if ak == TENSOR and name not in ctx.assignments() and _passed_kind(ctx, name) == DATA:
        return DATA  # `cum_samples: Tensor`, and every caller hands in a buffer: an array of data
    if ak:
        return ak
    if ctx.fa.framework and name in ctx.numpy_arguments() and name not in ctx.assignments() \
            and _helper(ctx) and not PREDICTION_WORD_RE.search(name):
        # `np.log(diameter)` in a torch/JAX helper: numpy takes no tensor that carries gradient.
        # A loss handing its prediction to numpy is KC505's finding (it cuts the gradient)
        return DATA
    if _loss_weight(ctx, name):
        return DATA  # sample weights and normalisers handed to a loss (`weight`, `avg_factor`)
    if default is not None and isinstance(default, ast.Constant) and default.value is not None:
        # `eps = union.new_tensor([eps])`: a setting rebound to an array is an array
        return join(PLAIN, *_assigned_kinds(ctx, name)) if name in ctx.bound else PLAIN
    if isinstance(default, ast.Constant) and default.value is None and name in ctx.assignments():
        fills = _none_fills(ctx, name)
        if fills and all(_draw(v) and ctx.kind(v) == DATA for v in fills) and not _handed_gradient(ctx, name):
            # `if t is None: t = torch.randint(...)`: what a caller may hand in instead is the
            # same thing the function draws itself (timesteps, noise), unless a caller in the
            # file hands in more (a scale filled with ones may be the network's)
            return DATA
    hk = name_kind(name)
    if hk is None and documented_data(ctx, name):
        hk = DATA  # `y : torch.Tensor` / `targets` in the docstring: what the name would have said
    if hk == PLAIN and name in ctx.array_receivers():
        hk = None  # `m.mean()`, `k.abs()`: used as an array whatever the name suggests
    assigned = _assigned_kinds(ctx, name)
    if hk == DATA and set(assigned) <= {UNKNOWN, DATA, PLAIN}:
        return DATA  # `label, weight = _expand(label, ...)`: still the labels
    if hk == TENSOR and not assigned and _internal(ctx):
        if _passed_kind(ctx, name) == DATA:
            return DATA  # `self.collect_grad(cls_score.detach(), ...)`: the callers decide, not the name
    if not hk and not assigned:
        passed = _passed_kind(ctx, name)
        if passed is not None:
            return passed  # every caller in the file hands in data (a buffer, the targets)
    return join(hk or UNKNOWN, *assigned) if assigned else (hk or UNKNOWN)


def _none_fills(ctx: "Context", name: str) -> list[ast.AST] | None:
    """The values an optional parameter is given where it is None (``if noise is None: noise =
    torch.randn_like(x0)``, ``t = t if t is not None else torch.rand(n)``); None when it is
    rebound anywhere else too."""
    out: list[ast.AST] = []
    for value in ctx.assignments().get(name, ()):
        stmt = ctx.parent(value) if isinstance(value, ast.AST) else None
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is not value:
            return None
        if isinstance(value, ast.IfExp) and _none_test(value.test, name) is not None:
            kept = value.orelse if _none_test(value.test, name) else value.body
            fill = value.body if kept is value.orelse else value.orelse
            if not (isinstance(kept, ast.Name) and kept.id == name):
                return None
            out.append(fill)
            continue
        holder = ctx.parent(stmt)
        if not (isinstance(holder, ast.If) and stmt in holder.body and _none_test(holder.test, name)) \
                or stmt.value is None:
            return None
        out.append(stmt.value)
    return out


#: draws: what a function fills an optional timestep or noise argument with
_DRAWS = frozenset({"rand", "randn", "randint", "rand_like", "randn_like", "randint_like", "randperm", "normal",
                    "uniform", "bernoulli", "multinomial", "poisson", "categorical", "truncated_normal"})


def _draw(value: ast.AST) -> bool:
    """``value`` is (arithmetic on) a random draw: ``torch.randint(0, T, (n,))``,
    ``torch.randn_like(x0) * sigma``."""
    return any(isinstance(n, ast.Call) and call_tail(n) in _DRAWS for n in ast.walk(value))


def _handed_gradient(ctx: "Context", name: str) -> bool:
    """A call of the function in its file hands ``name`` something that may carry gradient."""
    from kinkcheck.lint import call_sites

    passed = call_sites.argument_values(name, ctx) or []
    return any(caller.kind(value) not in (PLAIN, DATA) for caller, value in passed)


def _none_test(test: ast.AST, name: str) -> bool | None:
    """True for ``name is None``, False for ``name is not None``, None for any other test."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name) \
            and test.left.id == name and isinstance(test.comparators[0], ast.Constant) \
            and test.comparators[0].value is None and isinstance(test.ops[0], (ast.Is, ast.IsNot)):
        return isinstance(test.ops[0], ast.Is)
    return None


def _spread_into_arrays(ctx: "Context", name: str) -> bool:
    """An unannotated ``*name`` handed whole to an array function that takes arrays (metric
    learning's ``smallest_dist(self, *args)`` returning ``torch.min(*args)``): it holds that
    function's arrays, not the tuple of settings an unannotated star is otherwise read as
    (a shape handed to ``torch.randn(*size)`` stays one). Handed as the tuple it is to a function
    of a sequence of arrays (``torch.stack(dists)``) it holds arrays too."""
    from kinkcheck.lint.resolve import ARRAY_ROOTS
    from kinkcheck.lint.walk import walk_local

    star = getattr(getattr(ctx.fn, "args", None), "vararg", None)
    if star is None or star.arg != name or star.annotation is not None:
        return False

    def hands_over(call: ast.Call, tail: str) -> bool:
        return any(isinstance(a, ast.Starred) and isinstance(a.value, ast.Name) and a.value.id == name
                   for a in call.args) or (
            tail in _SEQUENCE_OF_ARRAYS and bool(call.args) and isinstance(call.args[0], ast.Name)
            and call.args[0].id == name and not _type_tested(ctx, name))  # `torch.stack(dists)`: the tuple

    return any(isinstance(n, ast.Call) and (q := ctx.qualify(n.func) or "").split(".")[0] in ARRAY_ROOTS
               and (tail := q.rsplit(".", 1)[-1]) not in _SHAPED and hands_over(n, tail) for n in walk_local(ctx.fn))


def _type_tested(ctx: "Context", name: str) -> bool:
    """The function asks what ``*name`` holds (``isinstance(ls[0], torch.Tensor)``, or of a
    name bound to its items): a utility over any container (fastai's ``concat(*ls)``
    concatenates tensors, arrays or lists), not a function of the differentiated arrays."""
    from kinkcheck.lint.walk import walk_local

    def mentions(node: ast.AST, depth: int = 2) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and (n.id == name or depth and (d := ctx.definition(n.id)) is not None
                                            and d is not node and mentions(d, depth - 1)):
                return True
        return False

    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" and n.args
               and mentions(n.args[0]) for n in walk_local(ctx.fn))


#: array functions that take one sequence of arrays (``torch.stack(dists, dim=0)``)
_SEQUENCE_OF_ARRAYS = frozenset({"stack", "cat", "concat", "concatenate", "vstack", "hstack", "dstack", "row_stack",
                                 "column_stack", "block_diag", "broadcast_tensors", "broadcast_arrays"})


#: array functions a star hands sizes to, not arrays (``torch.randn(*size)``, ``x.view(*shape)``)
_SHAPED = frozenset({"zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "normal", "uniform",
                     "eye", "arange", "linspace", "logspace", "tensor", "as_tensor", "array", "asarray", "reshape",
                     "view", "permute", "transpose", "tile", "broadcast_to", "expand", "repeat", "Size", "unravel_index",
                     "ravel_multi_index", "ndindex", "indices"})


#: parameters that hold a run's parsed settings (argparse's namespace, a TrainingArguments)
_CONFIG_NAMESPACES = frozenset({"args", "training_args", "options"})
_CONFIG_TYPE_RE = lazy_pattern(r"(Config|Arguments|Args|Namespace|Options)\b")


def _unassigned_in_class(ctx: "Context", attr: str) -> bool:
    """The class of the method ``ctx`` checks is in the file, and neither it nor a base class
    of the file assigns ``self.<attr>`` (``kinds_members._defines``; memoized per file)."""
    from kinkcheck.lint.call_sites import bases_in_file
    from kinkcheck.lint.kinds_members import _defines

    cls = ctx.self_class()
    memo = ctx.fa.__dict__.setdefault("_unassigned_in_class", {})
    if (cls, attr) not in memo:
        memo[cls, attr] = cls is not None and ctx.fa.class_node(cls) is not None and not any(
            _defines(ctx.fa, c, attr) for c in (cls, *bases_in_file(ctx.fa, cls)))
    return memo[cls, attr]


def config_namespace(ctx: "Context", node: ast.AST) -> bool:
    """``args`` in ``args.beta``: a parameter named for a run's settings that is neither a star
    nor a scan's ``(carry, args)``: the constructor reads it (``__init__(self, model, args)``)
    or its annotation names a config type (``args: DPOConfig``). Or ``self.args`` in a class
    that never assigns it in the checked file: a base class out of it did (a ``Trainer``
    subclass's ``self.args.tau`` is its TrainingArguments)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
            and node.attr in _CONFIG_NAMESPACES:
        return _unassigned_in_class(ctx, node.attr)
    if not (isinstance(node, ast.Name) and node.id in _CONFIG_NAMESPACES and node.id in ctx.params):
        return False
    a = getattr(ctx.fn, "args", None)
    if not isinstance(a, ast.arguments) or any(s is not None and s.arg == node.id for s in (a.vararg, a.kwarg)):
        return False
    ann = ctx.params[node.id][0]
    typed = ann is not None and bool(_CONFIG_TYPE_RE.search(ast.unparse(ann)))
    return typed or getattr(ctx.fn, "name", "") == "__init__"


#: the word that makes a parameter the reference side of a (reference, prediction) pair
_REFERENCE_WORD_RE = lazy_pattern(r"(^|_)(ref|reference)(_|$)")
_PREDICTED_WORD_RE = lazy_pattern(r"(^|_)(pred|preds|predicted|prediction|predictions|hat|est|estimated)(_|$)")


def _paired_reference(ctx: "Context", name: str) -> bool:
    """``ref_forces`` beside ``pred_forces``, ``ref_energy`` beside ``energy_pred``: the same
    quantity twice, one side named the prediction, so the other is what it is scored against
    (a lone ``y_ref`` may be the model's own output, as in SURE)."""
    if not _REFERENCE_WORD_RE.search(name):
        return False
    quantity = _REFERENCE_WORD_RE.sub("_", name).strip("_")
    return any(other != name and _PREDICTED_WORD_RE.search(other)
               and _PREDICTED_WORD_RE.sub("_", other).strip("_") == quantity for other in ctx.params)


#: the follow-up times of a survival loss, and the event indicators they come with
_TIME_RE = lazy_pattern(r"^(\w+_)?times?$")
_EVENT_RE = lazy_pattern(r"^(event|events|event_indicators?|censor|censored|censoring|status)$")


def _survival_time(ctx: "Context", name: str) -> bool:
    """``time`` beside ``event`` (torchsurv's ``neg_partial_log_likelihood(log_hz, event,
    time)``): the observed follow-up times, which are sorted and searched as data. A lone
    ``time`` may be predicted (a grounding model's start and end times), and so is a time named
    the prediction beside the events (``censored_l1(pred_time, durations, events)``)."""
    return bool(_TIME_RE.match(name)) and not _PREDICTED_WORD_RE.search(name) \
        and any(_EVENT_RE.match(other) for other in ctx.params if other != name)


#: the fitted parameters an objective written ``f(w, X, y)`` takes first (scipy.optimize's and
#: sklearn's convention; ``jax.grad`` differentiates the first argument too)
_FITTED_RE = lazy_pattern(r"^(w|W|coef|coefs|theta|params|beta)$")
_DESIGN_RE = lazy_pattern(r"^[Xx]$")
_RESPONSE_RE = lazy_pattern(r"^[yY](_?(true|01|bin|binary|obs|train|pm|sign|signs|labels?))?$")


def _fitted_on(ctx: "Context", name: str) -> bool:
    """``X`` or ``y`` of ``def poisson_deviance(w, X, y)``: the first parameter is the weights
    fitted, the design matrix and the response beside it are the data they are fitted on."""
    if not (_DESIGN_RE.match(name) or _RESPONSE_RE.match(name)):
        return False
    params = [p for p in ctx.params if p not in ("self", "cls")]
    # a lowercase `x` beside `w` is a design matrix in NumPy code; in a torch or JAX loss
    # (`weighted_l1(w, x, y)`) it may be the prediction: there only a capital `X` says so
    design = "X" if ctx.imports_framework() else None
    return len(params) >= 3 and bool(_FITTED_RE.match(params[0])) \
        and any(_DESIGN_RE.match(p) and (design is None or p == design) for p in params[1:]) \
        and any(_RESPONSE_RE.match(p) for p in params[1:]) and (design is None or name != "x")


#: a parameter holding what the model scored: beside it a ``y`` is the response it is scored
#: against (a gradient-boosting objective's ``(raw, y)``, xgboost's ``(predt, dtrain)``, a
#: training step's ``compute_loss(out, y)``)
_SCORED_PARAM_RE = lazy_pattern(r"^(raw|raw_scores?|raw_preds?|preds?|predt|y_?pred|y_?hat|logits?|scores?|margins?|"
                                r"outs?|outputs?)$")


def _response_of_prediction(ctx: "Context", name: str) -> bool:
    """``y`` of ``logistic_grad_hess(raw, y)`` or ``logloss(y, raw)``: another parameter, one
    without a default (not ``margin=1.0``), is the prediction, so the response beside it is
    the data it is scored against."""
    return bool(_RESPONSE_RE.match(name)) and any(
        p != name and _SCORED_PARAM_RE.match(p) and ctx.params[p][1] is None for p in ctx.params)


#: a diffusion model's clean sample, and the names of the noised one and its timestep beside it
_CLEAN_SAMPLE_RE = lazy_pattern(r"^(x_start|x0|x_0)$")
_NOISED_RE = lazy_pattern(r"^(x_t|xt|x_noisy|noisy_x|noise|timesteps?)$")


def _clean_sample(ctx: "Context", name: str) -> bool:
    """``x_start`` of a diffusion loss (``q_sample(x_start, timesteps, noise)``, ``vlb(x0,
    x_t, t, pred)``): the data the model learns to denoise, beside the noised sample, the
    noise or the timesteps (not a bare ``t``: a shooting loss's ``(x0, t)`` is its state)."""
    return bool(_CLEAN_SAMPLE_RE.match(name)) and any(_NOISED_RE.match(p) for p in ctx.params if p != name)


#: a step or epoch counter held in an array (`lr_schedule(step: jnp.ndarray)`), a count, or an
#: array of indices, ids or types (`residue_index`, `edge_index`, `atom_type`: integers, which the
#: plain-name pattern reads as scalar settings)
_COUNTER_RE = lazy_pattern(r"^(step|steps|global_step|epoch|epochs|iteration|iterations|\w+_count|num_\w+|n_\w+|"
                           r"\w+_(index|indices|idx|ids?|types?))$")


def _loss_weight(ctx: "Context", name: str) -> bool:
    """``weight=``, ``avg_factor``: what a loss API is handed beside the prediction. A
    ``weight`` that comes first, has methods called on it and is the only array the function is
    handed (the rest are settings) is what the function is about: the weights a penalty measures
    (``def l1_linf_penalty(weight)``, ``def group_lasso(weight, dim=0)``); per-sample weights handed
    beside a prediction (``weighted_l1_loss(weights, pred, target)``) and a config of loss weights
    (``__init__(self, weights)``, ``weights.photometric``) are none."""
    if not PARAM_DATA_RE.search(name):
        return False
    order = _positional(ctx)
    return not (name in ("weight", "weights") and order[:1] == [name]
                and all(_setting(ctx, other) for other in order[1:]) and any(
                    isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                    and n.func.value.id == name for n in walk_local(ctx.fn)))


def _positional(ctx: "Context") -> list[str]:
    """The positional parameters of the function, without a method's ``self`` or ``cls``."""
    a = getattr(ctx.fn, "args", None)
    order = [x.arg for x in (*a.posonlyargs, *a.args)] if a is not None else []
    return order[1:] if order[:1] in (["self"], ["cls"]) else order


#: losses that smooth a prediction where an image has no edges (monodepth's edge-aware
#: smoothness, a guided total variation), and the names of that image
_EDGE_AWARE_RE = lazy_pattern(r"(^|_)(edge_aware|edge_guided|edge_weighted|guided)(_|$)", re.IGNORECASE)
_GUIDE_RE = lazy_pattern(r"^(img|imgs|image|images|guide|guidance|guide_img|guide_image|rgb|frame|frames)$")
#: a first parameter that is a mask or weights: what is smoothed is then the image itself
_MASK_PARAM_RE = lazy_pattern(r"(^|_)(mask|masks|weight|weights|target|targets|gt)$")


def _edge_guide(ctx: "Context", name: str) -> bool:
    """``img`` of ``edge_aware_smoothness(disp, img)`` or ``guide`` of ``edge_aware_tv_loss(img,
    guide)``: the input image whose gradients weigh the smoothness of the prediction (the first
    parameter), data as an input image is."""
    order = _positional(ctx)
    return bool(_GUIDE_RE.match(name)) and name in order[1:] and name_kind(order[0]) != DATA \
        and not _MASK_PARAM_RE.search(order[0]) and bool(_EDGE_AWARE_RE.search(ctx.qualname.rsplit(".", 1)[-1]))


def _counter(name: str) -> bool:
    """``step``, ``n_atoms``, ``num_pos``: a counter; not a count a model predicts (``pred_count``)
    nor a real number named an index (``refractive_index``, a soft-argmax's ``expected_idx``)."""
    return bool(_COUNTER_RE.match(name)) and not PREDICTION_WORD_RE.search(name) and not _REAL_INDEX_RE.search(name)


#: qualifiers of an index that is a real number, and values kept per index
#: (``max_attention_per_index``)
_REAL_INDEX_RE = lazy_pattern(r"(^|_)(expected|soft|refractive|fractional|continuous|mean|estimated|est|per)_")


#: the network a loss is handed (``trades_loss(model, x_natural, y)``), and the names of the
#: input it runs it on (not ``fake`` or ``pred``: a generator's output scored by a critic)
_NETWORK_PARAM_RE = lazy_pattern(r"^(model|net|network|classifier|clf|encoder|backbone|policy)$")
_INPUT_RE = lazy_pattern(r"^(x|xs|x_(nat|natural|clean|orig|original|in|input|batch)|inputs?|images?|imgs?|batch_x|xb|"
                         r"obs|observations?|states?)$")


def _network_input(ctx: "Context", name: str) -> bool:
    """``x_natural`` of ``trades_loss(model, x_natural, y)`` that calls ``model(x_natural)``: the
    input of the network the loss is handed (an adversarial, consistency or gradient-alignment
    loss), data as a batch's inputs are; the prediction is what the network returns."""
    if not _INPUT_RE.match(name):
        return False
    networks = {p for p in ctx.params if p != name and _NETWORK_PARAM_RE.match(p)}
    runs = [n for n in walk_local(ctx.fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            and n.func.id in networks]
    if not any(isinstance(a, ast.Name) and a.id == name for n in runs for a in n.args):
        return False
    if any(isinstance(a, ast.Name) and a.id != name and a.id in ctx.params and name_kind(a.id) == DATA
           for n in runs for a in n.args):
        return False  # `perceptual_loss(net, x, target)`: a feature network run on the target too compares
    from kinkcheck.lint.kinds_calls import passed_kinds

    return not (passed_kinds(ctx, name) or set()) - {DATA, PLAIN}  # a caller handing in features decides


def _helper(ctx: "Context") -> bool:
    """Neither a loss by its name nor a module's forward: a helper of loss code."""
    from kinkcheck.lint.roots import FORWARD_NAMES, LOSS_NAME_RE

    last = ctx.qualname.rsplit(".", 1)[-1]
    return not LOSS_NAME_RE.search(last) and last not in FORWARD_NAMES


def _setting(ctx: "Context", name: str) -> bool:
    """A parameter that reads as a setting (``config``, ``eps: float``, ``tau=1.0``): no
    caller's data makes it an array."""
    ann, default = ctx.params[name]
    return name_kind(name) == PLAIN or annotation_kind(ann) == PLAIN or (
        isinstance(default, ast.Constant) and default.value is not None)


def _array_sibling(ctx: "Context") -> bool:
    """Another parameter is annotated as an array (``x: Array, p: float``): the author told
    the arrays from the floats, so a ``float`` beside them is a setting, not a tracer."""
    return any(annotation_kind(ann) == TENSOR for ann, _ in ctx.params.values())


def _integer_tensor(ann: ast.AST | None) -> bool:
    """``torch.LongTensor``, ``Optional[torch.BoolTensor]``: no float tensor type beside it."""
    text = ast.unparse(ann) if ann is not None else ""
    return bool(_INTEGER_TENSOR_RE.search(text)) and not _FLOAT_TENSOR_RE.search(text)


def _numpy_annotation(ann: ast.AST | None) -> bool:
    text = (dotted(ann) if ann is not None else None) or (ann.value if isinstance(ann, ast.Constant) and isinstance(ann.value, str) else "")
    if text.startswith(("jnp.", "jax.", "jax_", "chex.")):
        return False  # `x: jnp.ndarray` is a traced array under jax.grad, not host data
    return "ndarray" in text or text.startswith(("np.", "numpy."))
