"""What makes code loss code, as names and tables: the index marks roots with these, and
scope (``scope.py``) closes them over what the roots run.

Kept apart from the index walk so that the rules read in one place.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import LOSS_LIBRARIES
from kinkcheck.lint.walk import walk_local
from kinkcheck.syntax import callee_tail

if TYPE_CHECKING:  # pragma: no cover
    from kinkcheck.lint.index import _Indexer

#: Calls that make their first argument (a function) a differentiated root.
GRAD_TRANSFORMS = frozenset(
    {
        "jax.grad", "jax.value_and_grad", "jax.vjp", "jax.jvp", "jax.jacrev", "jax.jacfwd",
        "jax.hessian", "jax.linearize", "torch.func.grad", "torch.func.grad_and_value",
        "torch.func.vjp", "torch.func.jacrev", "torch.func.jacfwd", "torch.func.hessian",
        "functorch.grad", "functorch.grad_and_value", "functorch.vjp", "functorch.jacrev",
        "functorch.jacfwd", "equinox.filter_grad", "equinox.filter_value_and_grad",
        # HIPS autograd: differentiates numpy code (``value_and_grad(negative_log_likelihood)``)
        "autograd.grad", "autograd.value_and_grad", "autograd.elementwise_grad", "autograd.hessian",
        "autograd.jacobian", "autograd.differential_operators.grad",
        "autograd.differential_operators.value_and_grad", "autograd.differential_operators.elementwise_grad",
        "autograd.differential_operators.hessian", "autograd.differential_operators.jacobian",
    }
)
#: transforms that differentiate every argument of the function they are handed (the primals
#: of a VJP or JVP); the others differentiate ``argnums`` (jax, torch.func) or ``argnum``
#: (autograd), the first argument unless told otherwise
_ALL_ARGUMENTS = frozenset({"vjp", "jvp", "linearize"})


def transform_argnums(call: ast.Call, transform: str) -> tuple[int, ...] | None:
    """The positions of the arguments ``transform`` differentiates the function it is handed
    in: ``jax.grad(loss)`` -> (0,), ``jax.grad(loss, argnums=(0, 2))`` -> (0, 2),
    ``elementwise_grad(f, argnum=1)`` -> (1,); None where every argument may be (a VJP's
    primals, an argnums the code computes)."""
    if transform.rsplit(".", 1)[-1] in _ALL_ARGUMENTS or transform not in GRAD_TRANSFORMS:
        return None
    spelled = next((k.value for k in call.keywords if k.arg in ("argnums", "argnum")), None)
    if spelled is None and len(call.args) > 1 and not transform.startswith("equinox."):
        spelled = call.args[1]  # `jax.grad(f, 1)`, `autograd.grad(f, 1)`
    if spelled is None:
        return (0,)
    items = spelled.elts if isinstance(spelled, (ast.Tuple, ast.List)) else [spelled]
    got = [i.value for i in items if isinstance(i, ast.Constant) and type(i.value) is int]
    return tuple(got) if len(got) == len(items) and all(g >= 0 for g in got) else None


#: Calls whose first argument (an expression) is differentiated.
GRAD_OF_EXPR = frozenset({"torch.autograd.grad", "torch.autograd.backward"})


def creates_graph(call: ast.Call) -> bool:
    """``torch.autograd.grad(..., create_graph=True)``: the gradients it returns stay in the
    graph because the caller differentiates them again (a gradient penalty, R1, path length)."""
    flag = next((k.value for k in call.keywords if k.arg == "create_graph"), None)
    return flag is not None and not (isinstance(flag, ast.Constant) and not flag.value)


def differentiated_expr(call: ast.Call) -> ast.AST | None:
    """What ``torch.autograd.grad(outputs, ...)`` / ``torch.autograd.backward(tensors)``
    differentiates, passed by position or by keyword."""
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in ("outputs", "tensors")), None)
#: Every call that differentiates the functions it is handed: callee -> (argument
#: positions, keywords). Gradient transforms, implicit differentiation, custom derivatives,
#: optimisers that call a gradient.
DIFFERENTIATED_ARGS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    **{q: ((0,), ("fun", "func", "f")) for q in GRAD_TRANSFORMS},
    **{f"torch.autograd.functional.{n}": ((0,), ("func",)) for n in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")},
    "torch.func.linearize": ((0,), ("func",)),
    "equinox.filter_jvp": ((0,), ("fn",)),
    "equinox.filter_vjp": ((0,), ("fun",)),
    "jax.lax.custom_root": ((0, 2, 3), ("f", "solve", "tangent_solve")),
    "jax.lax.custom_linear_solve": ((0, 2, 3), ("matvec", "solve", "transpose_solve")),
    "jax.custom_vjp": ((0,), ("fun",)),
    "jax.custom_jvp": ((0,), ("fun",)),
    "jax.linear_transpose": ((0,), ("fun_or_fun_linear",)),
    "optax.value_and_grad_from_state": ((0,), ("value_fn",)),
    "scipy.optimize.minimize": ((0,), ("fun", "jac", "hess", "hessp")),
    "scipy.optimize.least_squares": ((0,), ("fun", "jac")),
    "scipy.optimize.fmin_l_bfgs_b": ((0, 2), ("func", "fprime")),
    "scipy.optimize.check_grad": ((0, 1), ("func", "grad")),
}
#: ``f.defvjp(fwd, bwd)`` / ``f.defjvp(jvp)``: methods of a custom-derivative function
#: whose arguments are the derivative rules
DERIVATIVE_RULES = frozenset({"defvjp", "defjvp", "defjvps"})
#: solver classes of these packages take the objective first or as ``fun=``
DIFFERENTIATING_PACKAGES = ("jaxopt.",)

LOSS_BASES = frozenset({"torch.nn.modules.loss._Loss", "torch.nn.modules.loss._WeightedLoss"})
MODEL_BASES = frozenset(
    {"torch.nn.Module", "torch.nn.modules.module.Module", "flax.linen.Module", "flax.nnx.Module",
     "equinox.Module", "haiku.Module", "pytorch_lightning.LightningModule", "lightning.LightningModule"}
)
#: a ``.backward`` resolved into these packages is a tensor's (``loss = criterion(out, y)`` is
#: typed as what ``nn.L1Loss()(...)`` returns); a user's own ``backward`` resolves into theirs
TENSOR_BACKWARD_PACKAGES = ("torch.", "jax.", "tensorflow.")
#: a Lightning module's ``training_step`` returns the loss its trainer differentiates
LIGHTNING_BASES = frozenset({"pytorch_lightning.LightningModule", "pytorch_lightning.core.module.LightningModule",
                             "lightning.LightningModule", "lightning.pytorch.LightningModule",
                             "lightning.pytorch.core.module.LightningModule"})
#: methods whose return value a training framework differentiates (the loss it is handed)
TRAINING_STEPS = ("training_step",)
#: base classes of hand-written derivatives: their forward and backward are roots
AUTOGRAD_BASES = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})
#: the hand-written derivatives of an autograd Function: loss code (a kink there is a kink of
#: the gradient itself). Its ``forward``/``setup_context`` run with gradients off: what they
#: compute is never differentiated, the backward says what the gradient is.
AUTOGRAD_METHODS = ("backward", "jvp", "vjp")
AUTOGRAD_UNDIFFERENTIATED = ("forward", "setup_context")
#: loss code by name: a loss, objective or criterion, an NLL or ELBO, and the objectives of maximum
#: likelihood (``_negative_log_likelihood_right_censoring``, ``log_marginal_likelihood``,
#: ``loglik``): what a fitter hands to its optimizer's gradient
LOSS_NAME_RE = lazy_pattern(r"loss|objective|criterion|(^|_)(nll|elbo)(_|$)|"
                            r"(^|_)log_?(marginal_?)?lik(elihood)?s?(_|$)|(^|_)marginal_log_lik|"
                            # a negative log-density minimised (``neg_log_density``, ``negative_log_prob``;
                            # not ``neg_logits``, the logits of negative samples)
                            r"(^|_)neg(ative)?_log_(density|densities|prob|probs|probability|pdf|posterior|"
                            r"evidence|joint|lik|likelihood)(_|$)", re.IGNORECASE)
#: functions named after a loss they compute without saying "loss" (``lovasz_hinge``,
#: ``sigmoid_focal``, ``soft_dice_score``, ``nt_xent``): loss code by name when the loss is the
#: name's last word, before a known suffix (``focal_length``, ``jaccard_index`` and
#: ``get_contrastive_denoising_group`` are not losses)
LOSS_FAMILY_RE = lazy_pattern(
    r"(^|_)(hinge|lovasz|dice|focal|tversky|jaccard|triplet|contrastive|huber|charbonnier|chamfer|"
    r"info_?nce|nt_?xent|cross_?entropy|xent|bce|ce|smooth_?l1|"
    # a penalty or regularizer of the objective (``gradient_penalty``, ``l1_regularization``,
    # ``group_lasso_penalty``): part of what the optimizer minimises; a KL divergence trained
    # on (``gaussian_kl``, ``free_bits_kl``, ``kl_divergence``). Their tooling is not
    # (``apply_repetition_penalty`` at generation time, ``log_kl``, ``update_kl``: OBJECTIVE_TOOLING_RE)
    r"penalty|regularizer|regularization|regulariser|regularisation|kl|kld|kl_?div|kl_?divergence)"
    r"(_(score|coeff|coefficient|flat|fn|func|term|with_logits|fast|distance))?$"
    # the Lovasz extension is only ever a loss, whatever follows it (``lovasz_softmax_flat``), and
    # so are the distances between distributions that generative models and domain adaptation
    # train on (``sliced_wasserstein_distance``, ``wasserstein_1d``, ``unbiased_mmd_squared``,
    # ``sinkhorn_divergence``, ``class SlicedWasserstein(nn.Module)``), and the total variation an
    # image model is regularised with, and the continuous ranked probability score a probabilistic
    # forecaster trains on (``crps_gaussian``, ``crps_from_samples``)
    r"|(^|_)(lovasz|wasserstein|mmd|sinkhorn_divergence|energy_distance|total_variation|crps)(_|$)"
    # score matching (denoising, sliced) is an objective by its name (``denoising_score_matching``;
    # not ``feature_matching`` of keypoint descriptors, nor ``hungarian_matching``)
    r"|(^|_)score_matching$", re.IGNORECASE)
#: functions that do something with a loss term rather than compute it
OBJECTIVE_TOOLING_RE = lazy_pattern(r"^_*(apply|log|update|print|plot|format|set|reset|init|schedule|adjust|anneal|"
                                    r"warmup|show|report|record|write|save|load|test|eval|evaluate|validate|val)_",
                                    re.IGNORECASE)
#: the regression, image-quality and audio metrics used as losses (``psnr(pred, target)``,
#: dm-pix's ``mae`` and scale-invariant ``simse``, objax's ``mean_absolute_error``, speech
#: separation's ``si_sdr``): a function of the module computing one is loss code by name, as a
#: loss-named one is, in a module that imports torch or JAX (a metric class's method is
#: evaluation code, and NumPy differentiates nothing). A bare ``snr`` is not one: a diffusion
#: schedule's ``compute_snr`` weights a loss and carries no gradient
METRIC_NAME_RE = lazy_pattern(
    r"(^|_)(mae|mse|rmse|msle|rmsle|mape|smape|nmse|nrmse|simse|psnr|ssim|ms_?ssim|si_?sdr|si_?snr|sd_?sdr|"
    r"(root_)?mean_(absolute|squared|squared_log)_error)$",
    re.IGNORECASE)
#: classification scores, whose slope is 0 wherever it exists (an argmax, a threshold, a
#: count): evaluation code, never trained on (``accuracy``, ``top5_accuracy``, ``f1_score``,
#: ``recall_at_k``, ``roc_auc``); a precision is not among them (a precision matrix). So are the
#: functions that gather metrics to log (``compute_metrics``, ``rollout_metrics``)
EVALUATION_SCORE_RE = lazy_pattern(r"(^|_)(top_?\d*_)?(accuracy|accuracies|f1|f1_score|fscore|f_score|fbeta|fbeta_score|"
                                   r"recall|auc|auroc|roc_auc|confusion_matrix|metrics)(_|$)", re.IGNORECASE)
#: ... and classes named after one (``CategoryAccuracy``, ``WeightedFScore``, ``BinaryAUROC``)
EVALUATION_CLASS_RE = lazy_pattern(r"(Accuracy|FScore|F1Score|F1|FBeta|Recall|AUC|AUROC|ConfusionMatrix)(?=[A-Z0-9_]|$)")
#: "Loss" as a word of a CamelCase class name (``LossWrapper``, ``DiceLossV2``; not ``YolosSelfAttention``)
LOSS_WORD_RE = lazy_pattern(r"(^|(?<=[a-z0-9_]))(Loss|Criterion|Objective)(?=[A-Z0-9_]|$)|^loss")
#: loss classes by name; a regularizer is a term of the loss (a ``*Penalty`` is often not:
#: generation's length and repetition penalties are never differentiated), and so is a
#: cross-entropy or a negative log-likelihood named for itself (timm's ``SoftTargetCrossEntropy``)
LOSS_CLASS_RE = lazy_pattern(r"(Loss|Criterion|Objective|Regularizer|Regularization|CrossEntropy|NLL)(V?\d+)?$")
MARK_RE = lazy_pattern(r"#\s*kinkcheck:\s*loss\b")
#: package or module names that hold losses
LOSS_MODULE_RE = lazy_pattern(r"^_?(loss|losses)$", re.IGNORECASE)
FORWARD_NAMES = ("forward", "__call__")

#: Hand-written derivatives: a kink there is a kink of the gradient itself ...
#: (a subgradient, ``hinge_subgradient``; scikit-learn's per-sample ``dloss``)
_GRAD_NAME_RE = lazy_pattern(r"^(grad|gradient|subgrad|subgradient|dloss|jacobian|hessian|backward)$|^(sub)?grad_|"
                             r"_(grad|gradient|subgrad|subgradient|jacobian|hessian)$")
#: ... but not the functions that switch, clear, sync or scale gradients someone else
#: computed (``zero_grad``, ``no_grad``, ``clip_grad``, ``average_gradients``, ``apply_if_grad``),
#: nor the conjugate gradient method (a linear solver)
_GRAD_NAME_SKIP_RE = lazy_pattern(
    r"^_*(zero|no|enable|disable|set|requires?|clip|is|has|reset|toggle)_|(^|_)(zero|no|enable|disable|set|requires?|"
    r"clip|is|has|reset|toggle|if|with|without|keep|stop|accumulate|average|sync|all_?reduce|reduce|scale|unscale|"
    r"log|check|register|apply|sq|conjugate)_grad", re.IGNORECASE)
#: parameters named like a function (handed on down a call chain before one calls it)
FUNCTION_PARAM_RE = lazy_pattern(r"(^|_)(fn|fns|func|funcs|function|callable|loss|losses|criterion|metric|metrics|"
                                 r"objective|callback|hook|cost|dist|distance|kernel|f|g|op|nll|elbo)(_|$)", re.IGNORECASE)

_LAYER_PACKAGES = ("torch.nn.", "flax.linen.", "flax.nnx.", "equinox.nn.", "haiku.")
_NETWORK_FACTORIES = ("torchvision.models.", "timm.", "transformers.")
_NOT_LAYERS = frozenset({"Module", "ModuleList", "ModuleDict", "Sequential", "Parameter", "ParameterList",
                         "ParameterDict", "Identity", "Flatten", "Unflatten", "Buffer"})


def is_gradient_name(name: str) -> bool:
    """``grad``, ``hinge_grad``, ``grad_w``, ``l1_subgradient``, ``jacobian``, ``backward``: a derivative
    written by hand (not ``zero_grad``, ``no_grad``, ``clip_grad``)."""
    return _GRAD_NAME_RE.search(name) is not None and _GRAD_NAME_SKIP_RE.search(name) is None


def differentiated_slots(callee: str) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    """Which arguments of a call to ``callee`` are functions it differentiates."""
    slots = DIFFERENTIATED_ARGS.get(callee)
    if slots is None and callee.startswith(DIFFERENTIATING_PACKAGES) and callee.rsplit(".", 1)[-1][:1].isupper():
        slots = ((0,), ("fun",))
    return slots


def is_layer(q: str) -> bool:
    """A layer of a network library (``nn.Linear``, ``nn.Conv2d``, flax/equinox/haiku
    layers, a torchvision/timm model): a class that builds one is a network, whose forward
    is not loss code even when a loss calls it."""
    if q.startswith(_NETWORK_FACTORIES):
        return True
    if not q.startswith(_LAYER_PACKAGES):
        return False
    last = q.rsplit(".", 1)[-1]
    return last[:1].isupper() and last not in _NOT_LAYERS and not LOSS_CLASS_RE.search(last)


def function_root(ix: "_Indexer", fn: ast.AST, name: str, cls_qual: str | None, decorators: list[str | None],
                  is_lambda: bool) -> tuple[str | None, bool]:
    """-> (why the function is a root, or None; whether it is a network module's forward).
    Roots from the backward slice and from values are decided elsewhere (index, scope)."""
    root = None
    for target in decorators:
        if target == "kinkcheck.loss":
            root = "decorator"
        elif target in DIFFERENTIATED_ARGS:
            root = "grad-transform"
    plain = fn is not ix.tree
    if root is None and plain and not is_lambda and isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        first = fn.lineno - 1
        last = fn.body[0].lineno - 1 if fn.body else first
        if any(MARK_RE.search(ix.lines[i]) for i in range(first, min(last, first + 20) + 1) if i < len(ix.lines)):
            root = "comment"
    model_forward = False
    if cls_qual is not None and name in FORWARD_NAMES and not is_lambda:
        if class_is(ix.classes, cls_qual, LOSS_BASES, loss=True):
            root = root or "loss-class"
        elif class_is(ix.classes, cls_qual, MODEL_BASES, loss=False):
            model_forward = True
    if root is None and plain and (LOSS_NAME_RE.search(name) or LOSS_FAMILY_RE.search(name.lstrip("_"))
                                   and not _objective_tooling(name, fn)):
        root = "name"  # `test_accessible_kl_divergence` tests an estimator, `log_kl` logs one: none is a loss
    if root is None and plain and not is_lambda and cls_qual is None and ix.framework_code \
            and METRIC_NAME_RE.search(name):
        root = "name"
    if root is None and plain and ix.array_code and is_gradient_name(name) and not _reads_gradients(fn):
        root = "gradient"
    if root is None and plain and not is_lambda and ix.array_code and not ix.framework_code \
            and _returns_value_and_gradient(fn):
        root = "gradient"  # `return value, grad`: scipy's `jac=True` objective, whatever its name
    if root is None and plain and not is_lambda and cls_qual is None and ix.array_code \
            and in_loss_module(ix.module, framework=ix.framework_code):
        root = "module"
    return root, model_forward


def _objective_tooling(name: str, fn: ast.AST) -> bool:
    """``log_kl``, ``update_kl``, ``apply_repetition_penalty``: a function that does something
    with a loss term. A ``log_`` that returns what it computes with a logarithm, and hands
    nothing to a logger, is a log-domain term (``log_jacobian_penalty`` returns the penalty on
    log det J, ``log_sum_penalty`` a log-sum)."""
    if not OBJECTIVE_TOOLING_RE.match(name):
        return False
    if not name.lstrip("_").startswith("log_") or not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    returns = [n for n in walk_local(fn) if isinstance(n, ast.Return)]
    if not returns or any(r.value is None or isinstance(r.value, ast.Constant) for r in returns):
        return True
    tails = {callee_tail(n.func) for n in walk_local(fn) if isinstance(n, ast.Call)}
    # a log-domain term takes a logarithm and hands its value to no logger
    return not tails & _LOGARITHMS or bool(tails & _LOGGING_CALLS)


#: what a log-domain term computes ...
_LOGARITHMS = frozenset({"log", "log1p", "log2", "log10", "logsumexp", "log_softmax", "logdet", "slogdet", "xlogy"})
#: ... and what a logger calls (``writer.add_scalar``, ``logger.info``), or the host numbers it
#: hands over (``.item()``, ``.tolist()``); ``wandb.log``'s ``log`` is a logarithm by name, so a
#: logger calling only it is told apart by those
_LOGGING_CALLS = frozenset({"add_scalar", "add_scalars", "add_histogram", "add_image", "log_metrics", "log_dict",
                            "info", "debug", "warning", "print", "write", "item", "tolist"})


#: the second item of ``return value, grad`` (an objective with its gradient, scipy's ``jac=True``)
_RETURNED_GRADIENT_RE = lazy_pattern(r"^(grad|grads|gradient|gradients|jac|jacobian|dloss|dtheta|d_theta)$")


def _returns_value_and_gradient(fn: ast.AST) -> bool:
    """Some ``return`` hands back ``(value, grad)`` (``return -float(a), -grad``): the function
    is an objective and its hand-written gradient."""
    for n in walk_local(fn):
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple) and len(n.value.elts) == 2:
            second = n.value.elts[1]
            if isinstance(second, ast.UnaryOp) and isinstance(second.op, ast.USub):
                second = second.operand
            if isinstance(second, ast.Name) and _RETURNED_GRADIENT_RE.search(second.id):
                return True
    return False


def _reads_gradients(fn: ast.AST) -> bool:
    """``p.grad`` is read: the function handles gradients autograd computed (``grad_norm`` for a
    log, a clipping or sync helper), it does not write one by hand."""
    nodes = list(walk_local(fn))
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}  # `torch.autograd.grad(...)` computes one
    return any(isinstance(n, ast.Attribute) and n.attr == "grad" and isinstance(n.ctx, ast.Load) and id(n) not in called
               for n in nodes)


def in_loss_module(module: str, framework: bool = True) -> bool:
    """``pkg.losses.total_variation``, ``pkg.loss.chamfer``: a module of the package a library
    keeps its losses in, whose functions are losses or their helpers whatever their names
    (``total_variation``, ``chamfer_distance``, ``mesh_laplacian_smoothing``), and a package's
    ``losses`` module (``selfsup.losses``), or its ``costs`` module where it differentiates with
    a ``framework`` (``diffmpc.costs``; a NumPy service's latency costs are no objective). A lone
    ``loss.py`` is not enough: it may hold a training script's reporting too."""
    parts = module.split(".")
    last = parts[-1].lstrip("_").lower()
    return any(LOSS_MODULE_RE.search(part) for part in parts[:-1]) \
        or len(parts) >= 2 and (last == "losses" or last == "costs" and framework)


def class_is(classes: dict[str, tuple[str, ...]], cls_qual: str, bases: frozenset[str], *, loss: bool,
             depth: int = 0) -> bool:
    """A loss class (``loss``) or a module class, by name or by its bases in this file."""
    if loss and LOSS_CLASS_RE.search(cls_qual.rsplit(".", 1)[-1]):
        return True
    if depth > 8:
        return False
    for base in classes.get(cls_qual, ()):
        if base in bases:
            return True
        tail = base.rsplit(".", 1)[-1]
        if loss and (base.startswith("torch.nn.") and tail.endswith("Loss")):
            return True
        if not loss and base.startswith(("torch.nn.", "flax.", "equinox.", "haiku.")) and tail == "Module":
            return True
        if base in classes and class_is(classes, base, bases, loss=loss, depth=depth + 1):
            return True
    return False


def returns_the_loss(classes: dict[str, tuple[str, ...]], name: str, cls_qual: str | None) -> bool:
    """``training_step`` of a Lightning module: its trainer calls ``backward`` on what it
    returns, so the statements computing the returned value are a backward slice."""
    return name in TRAINING_STEPS and cls_qual is not None and class_is(classes, cls_qual, LIGHTNING_BASES, loss=False)


#: a value named as the loss a function computes (``loss``, ``total_loss``, ``losses``)
_RETURNED_LOSS_RE = lazy_pattern(r"(^|_)loss(es)?$", re.IGNORECASE)


def returned_losses(returned: list[ast.AST], cls_name: str = "") -> list[ast.AST]:
    """The loss-named values a function returns (``return loss, value, penalty``): a module
    whose ``forward`` computes ``loss = torch.mean(penalty)`` and returns it is what its caller
    differentiates, whatever the module is called, so the statements computing it are a
    backward slice. So is a module whose every return is a whole reduction to one number
    (``return torch.mean((norm - radius) ** 2)``): a network returns a value per sample, a
    loss (or an energy) one number; not an evaluation score's (``Accuracy``)."""
    out: list[ast.AST] = []
    for value in returned:
        for item in value.elts if isinstance(value, ast.Tuple) else [value]:
            if isinstance(item, ast.Name) and _RETURNED_LOSS_RE.search(item.id):
                out.append(item)
    if not out and returned and not EVALUATION_CLASS_RE.search(cls_name) and all(_whole_reduction(v) for v in returned):
        out.extend(returned)
    return out


#: a library's losses (``torch.nn.functional``'s, optax's): a module whose forward returns
#: one of them, alone or combined with terms of its own, is a loss whatever it is called
_LIBRARY_LOSSES = frozenset({"cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                             "kl_div", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "soft_margin_loss",
                             "multilabel_soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "ctc_loss",
                             "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
                             "sigmoid_binary_cross_entropy"})


def returns_library_loss(returned: list[ast.AST], fn: ast.AST, resolve) -> bool:
    """Every value ``fn`` returns is one number computed from a library loss (``return ce +
    self.alpha * (penalty * valid).sum() / denom`` with ``ce = F.cross_entropy(logits,
    target)``): MbLS, label smoothing and other losses named for their method. A tuple, a dict
    or an output record (a model's forward returning its logits and loss) is none."""
    if not returned:
        return False
    bound: dict[str, ast.AST] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound[node.targets[0].id] = node.value if node.targets[0].id not in bound else ast.Constant(value=None)

    def is_loss(node: ast.AST, hops: int = 2) -> bool:
        if isinstance(node, ast.Name) and hops and node.id in bound:
            return is_loss(bound[node.id], hops - 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            return is_loss(node.left, hops) or is_loss(node.right, hops)
        if isinstance(node, ast.Call):
            return library_loss(resolve(node.func) or "")
        return False

    return all(is_loss(v) for v in returned)


def library_loss(qname: str) -> bool:
    """``torch.nn.functional.cross_entropy``, ``optax.softmax_cross_entropy``: a library's loss."""
    return qname.startswith(LOSS_LIBRARIES) and qname.rsplit(".", 1)[-1] in _LIBRARY_LOSSES


def _scalar(node: ast.AST) -> bool:
    """A number, or a module's attribute (``2``, ``self.weight``): one value for the batch."""
    return isinstance(node, ast.Constant) or isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
        and node.value.id == "self"


#: reductions that, with no axis given, reduce a whole array to one number
_WHOLE_REDUCTIONS = frozenset({"mean", "sum", "nanmean", "nansum"})
#: modules whose ``mean``/``sum`` take the array first (the others are methods of the array)
_REDUCING_MODULES = frozenset({"torch", "jnp", "np", "numpy"})


def _whole_reduction(node: ast.AST) -> bool:
    """``torch.mean(e)``, ``e.mean()``, ``self.weight * e.sum() / 2``: one number, no
    ``dim``/``axis`` (``x - y.mean()`` is an array)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        sides = (node.left, node.right)
        return any(_whole_reduction(s) for s in sides) and all(_whole_reduction(s) or _scalar(s) for s in sides)
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _WHOLE_REDUCTIONS):
        return False
    if any(k.arg in ("dim", "axis") for k in node.keywords):
        return False
    receiver = node.func.value
    function = isinstance(receiver, ast.Name) and receiver.id in _REDUCING_MODULES
    return len(node.args) == (1 if function else 0)


#: methods that differentiate the loss they are handed: Accelerate's, Lightning Fabric's and
#: DeepSpeed's ``backward(loss)``, Lightning's ``manual_backward(loss)``, an optimizer wrapper's
#: ``step(loss)`` (tianshou)
HANDED_LOSS_METHODS = frozenset({"backward", "manual_backward", "step"})


def handed_loss(call: ast.Call) -> ast.AST | None:
    """The loss ``accelerator.backward(loss)`` / ``self.optim.step(actor_loss)`` differentiates:
    its first argument, when that reads as a loss (``loss``, ``loss / accum``); a tensor's own
    ``out.backward(grad)`` and ``optimizer.step(closure)`` hand no loss."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr in HANDED_LOSS_METHODS and call.args):
        return None
    arg = call.args[0]
    named = [n for n in ast.walk(arg) if isinstance(n, (ast.Name, ast.Attribute))]
    return arg if any(LOSS_NAME_RE.search(n.id if isinstance(n, ast.Name) else n.attr) for n in named) else None


def backward_operand(call: ast.Call, resolve: Callable[[], tuple[str | None, str | None]]) -> ast.AST | None:
    """What a backward call differentiates: the loss handed to ``accelerator.backward(loss)``
    & co. (:func:`handed_loss`), or the receiver of a tensor's own ``loss.backward()``.
    ``resolve`` names the callee as ``(target, how)``; it is asked only for a ``.backward()``."""
    handed = handed_loss(call)
    if handed is not None:
        return handed
    if isinstance(call.func, ast.Attribute) and call.func.attr == "backward" and tensor_backward(*resolve()):
        return call.func.value
    return None


def tensor_backward(target: str | None, how: str | None) -> bool:
    """``loss.backward()``: a tensor's backward, whose receiver is what is differentiated (not
    an imported function's or a user class's own ``backward``). ``target``/``how``: what name
    resolution made of the callee."""
    return how != "import" and (target is None or target.startswith(TENSOR_BACKWARD_PACKAGES))
