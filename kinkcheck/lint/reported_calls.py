"""Calls whose result is only reported: ``float(mae(pred, y))``, ``psnr(a, b).item()``,
``metrics = {"mae": mae(pred, y)}``, ``logger.info(rmse(...))``, anything an evaluation
function computes or a call made with gradients off. Scope does not follow such a call
(``metrics = {"ev": explained_variance(v, r)}`` beside a PPO loss). A function named as a
metric (``mae``, ``psnr``) is loss code by its name (:mod:`roots`), unless every call of it in
the checked tree is such a report: then it is the evaluation its callers log, not a term
anyone trains on (:mod:`scope`)."""

from __future__ import annotations

import ast

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.lint.resolve import ARRAY_LIBRARIES
from kinkcheck.lint.roots import LOSS_NAME_RE, METRIC_NAME_RE
from kinkcheck.syntax import LOGGING_CALLS, callee_tail

#: builtins and methods that turn a value into a Python number or a host array
_TO_HOST = frozenset({"float", "int", "round", "str", "item", "tolist", "numpy", "device_get", "to_host"})
#: ... and the NumPy calls that bring a value to the host (``np.asarray(rmse(...))``)
_NUMPY_TO_HOST = frozenset({"numpy.asarray", "numpy.array"})
#: containers of reported values (``metrics["mae"] = ...``, ``logs = {...}``, ``sums[k] += ...``)
_RECORD_NAME = lazy_pattern(
    r"(^|_)(metric|metrics|log|logs|logging|stat|stats|info|infos|summary|summaries|result|results|scalar|scalars|"
    r"record|records|history|sums|meter|meters|report|eval|evals)$")
#: call id -> (what the callee resolves to, how), as the indexer records every call
Resolved = dict[int, tuple[str | None, str | None]]
#: functions whose every computation is evaluation (not ``log_likelihood``: a loss by its name)
_EVALUATION_FN = lazy_pattern(r"^_*(eval|evaluate|evaluation|validate|validation|test)(_|$)")


def reported_targets(name: str, nodes: list[ast.AST], targets: dict[int, str], resolved: Resolved,
                     quiet: set[int]) -> tuple[str, ...]:
    """The callees (by the resolved ``targets`` of the calls of checked code among ``nodes``,
    the body of the function ``name``; ``resolved`` holds what every call there resolves to,
    and how, as the indexer keeps it) every call of which is made with gradients off
    (``quiet``) or only reported."""
    if not targets:
        return ()
    everything = bool(_EVALUATION_FN.match(name)) and not LOSS_NAME_RE.search(name)
    parents: dict[int, ast.AST] = {}
    for node in nodes:
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    verdict: dict[str, bool] = {}
    for node in nodes:
        if node.__class__ is not ast.Call:
            continue
        target = targets.get(id(node))
        if target is None:
            continue  # a call of nothing checked
        # a record of any other callee counts only if the function never reads it back
        # (`info["smooth"] = bending(d)`, then `loss = ... + info["smooth"]`)
        kept = None if METRIC_NAME_RE.search(target.rsplit(".", 1)[-1]) else nodes
        only = everything or id(node) in quiet or _reported(node, parents, resolved, kept)
        verdict[target] = verdict.get(target, True) and only
    return tuple(t for t, only in verdict.items() if only)


def _reported(call: ast.Call, parents: dict[int, ast.AST], resolved: Resolved,
              kept: list[ast.AST] | None = None) -> bool:
    """``call``'s value only reaches a report: a number or host array, a logging call, an
    f-string, or a record (``metrics["mae"] = ...``, a dict literal kept as a record), one
    that no statement among ``kept`` reads back but to return it beside the loss."""
    child: ast.AST = call
    for _ in range(8):
        parent = parents.get(id(child))
        if parent is None:
            return False
        if isinstance(parent, ast.Attribute) and parent.value is child:
            if parent.attr in _TO_HOST:
                return True  # `psnr(a, b).item()`
            child = parent  # `.detach()`, `.cpu()`, `.mean()` on the way
            continue
        if isinstance(parent, ast.Call):
            if child is parent.func:
                child = parent
                continue
            return _reporting_call(parent, resolved)  # `float(mae(...))`, `logger.info(rmse(...))`
        if isinstance(parent, ast.FormattedValue):
            return True
        if isinstance(parent, ast.Dict) and any(v is child for v in parent.values):
            return _recorded_dict(parent, parents, resolved) and (
                kept is None or _kept_record(parents.get(id(parent)), kept, parents))
        if isinstance(parent, (ast.Assign, ast.AugAssign)) and parent.value is child:
            # an entry of a record (`sums["e_mae"] += ...`); a plain name (`result = rmse(p, y)`)
            # may be returned or trained on
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            return all(isinstance(t, ast.Subscript) and _record_target(t) for t in targets) and (
                kept is None or _kept_record(parent, kept, parents))
        return False
    return False


def _kept_record(assign: ast.AST | None, nodes: list[ast.AST], parents: dict[int, ast.AST]) -> bool:
    """The record ``assign`` writes is a local name the function reads only to return it cut
    beside the loss (not first in the returned tuple) or to hand it to a logging call."""
    if not isinstance(assign, (ast.Assign, ast.AugAssign)):
        return False
    names = set()
    for target in assign.targets if isinstance(assign, ast.Assign) else [assign.target]:
        while isinstance(target, ast.Subscript):
            target = target.value
        if not isinstance(target, ast.Name):
            return False  # `self.logs[...]`: another method may read it
        names.add(target.id)
    for node in nodes:
        if not (isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load)):
            continue
        child: ast.AST = node
        parent = parents.get(id(node))
        while parent is not None and not isinstance(parent, (ast.stmt, ast.Tuple)):
            if isinstance(parent, ast.Call) and child is not parent.func and callee_tail(parent.func) in LOGGING_CALLS:
                break
            child, parent = parent, parents.get(id(parent))
        else:
            if not (isinstance(parent, ast.Tuple) and isinstance(parents.get(id(parent)), ast.Return)
                    and parent.elts and child is not parent.elts[0] and _cut(child)):
                return False
    return True


def _cut(element: ast.AST) -> bool:
    """``jax.lax.stop_gradient(metrics)``, ``stats.detach()``: returned out of the graph (a bare
    dict beside a value may be read back by the caller)."""
    return isinstance(element, ast.Call) and callee_tail(element.func) in ("stop_gradient", "detach")


def _recorded_dict(node: ast.Dict, parents: dict[int, ast.AST], resolved: Resolved) -> bool:
    """A dict literal assigned to a record (``metrics = {...}``) or handed to a reporting call."""
    parent = parents.get(id(node))
    if isinstance(parent, ast.Assign) and parent.value is node:
        return all(_record_target(t) for t in parent.targets)
    return isinstance(parent, ast.Call) and node in parent.args and _reporting_call(parent, resolved)


def _reporting_call(call: ast.Call, resolved: Resolved) -> bool:
    """``float(...)``, ``jax.device_get(...)``, ``logger.info(...)``, ``np.asarray(...)``; not
    ``np.log(...)``, ``jax.numpy.log(...)`` nor ``jnp.asarray(...)``, which compute."""
    q = resolved.get(id(call), (None, None))[0]
    if q is not None and q.split(".")[0] in (*ARRAY_LIBRARIES, "math", "cmath"):
        return q in _NUMPY_TO_HOST or q == "jax.device_get"
    tail = callee_tail(call.func)
    return tail in _TO_HOST or tail in LOGGING_CALLS


def _record_target(target: ast.AST) -> bool:
    """``metrics``, ``self.logs``, ``sums["e_mae"]``: a container named as a record."""
    while isinstance(target, ast.Subscript):
        target = target.value
    name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else None
    return name is not None and bool(_RECORD_NAME.search(name.lower()))
