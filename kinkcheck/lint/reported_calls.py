"""Calls whose result is only reported: ``float(mae(pred, y))``, ``psnr(a, b).item()``,
``metrics = {"mae": mae(pred, y)}``, ``logger.info(rmse(...))``, anything an evaluation
function computes. A function named as a metric (``mae``, ``psnr``) is loss code by its name
(:mod:`roots`), unless every call of it in the checked tree is such a report: then it is the
evaluation its callers log, not a term anyone trains on (:mod:`scope`)."""

from __future__ import annotations

import ast

from kinkcheck.lazyre import lazy_pattern
from kinkcheck.syntax import LOGGING_CALLS, callee_tail

#: builtins and methods that turn a value into a Python number or a host array
_TO_HOST = frozenset({"float", "int", "round", "str", "item", "tolist", "numpy", "device_get", "to_host", "asarray"})
#: the array modules by their usual names: their ``log`` computes, it does not report
_ARRAY_MODULES = frozenset({"np", "numpy", "jnp", "torch", "math", "tf"})
#: containers of reported values (``metrics["mae"] = ...``, ``logs = {...}``, ``sums[k] += ...``)
_RECORD_NAME = lazy_pattern(
    r"(^|_)(metric|metrics|log|logs|logging|stat|stats|info|infos|summary|summaries|result|results|scalar|scalars|"
    r"record|records|history|sums|meter|meters|report|eval|evals)$")
#: functions whose every computation is evaluation
_EVALUATION_FN = lazy_pattern(r"^_*(eval|evaluate|evaluation|validate|validation|val|test|report|log)(_|$)")


def reported_targets(name: str, nodes: list[ast.AST], targets: dict[int, str], quiet: set[int]) -> tuple[str, ...]:
    """The callees (by the resolved ``targets`` of the calls among ``nodes``, the body of the
    function ``name``) every call of which is made with gradients off (``quiet``) or only
    reported."""
    if not targets:
        return ()
    everything = bool(_EVALUATION_FN.match(name))
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
            continue  # a callee not named as a metric
        only = everything or id(node) in quiet or _reported(node, parents)
        verdict[target] = verdict.get(target, True) and only
    return tuple(t for t, only in verdict.items() if only)


def _reported(call: ast.Call, parents: dict[int, ast.AST]) -> bool:
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
            return _reporting_call(parent)  # `float(mae(...))`, `logger.info(rmse(...))`, not `np.log(...)`
        if isinstance(parent, ast.FormattedValue):
            return True
        if isinstance(parent, ast.Dict) and any(v is child for v in parent.values):
            return _recorded_dict(parent, parents)
        if isinstance(parent, (ast.Assign, ast.AugAssign)) and parent.value is child:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            return all(_record_target(t) for t in targets)
        return False
    return False


def _recorded_dict(node: ast.Dict, parents: dict[int, ast.AST]) -> bool:
    """A dict literal assigned to a record (``metrics = {...}``) or handed to a reporting call."""
    parent = parents.get(id(node))
    if isinstance(parent, ast.Assign) and parent.value is node:
        return all(_record_target(t) for t in parent.targets)
    return isinstance(parent, ast.Call) and node in parent.args and _reporting_call(parent)


def _reporting_call(call: ast.Call) -> bool:
    """``float(...)``, ``jax.device_get(...)``, ``logger.info(...)``; not ``np.log(...)``."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _ARRAY_MODULES:
        return func.attr in ("asarray", "array")  # `np.asarray(rmse(...))`: to the host
    tail = callee_tail(func)
    return tail in _TO_HOST or tail in LOGGING_CALLS


def _record_target(target: ast.AST) -> bool:
    """``metrics``, ``self.logs``, ``sums["e_mae"]``: a container named as a record."""
    while isinstance(target, ast.Subscript):
        target = target.value
    name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else None
    return name is not None and bool(_RECORD_NAME.search(name.lower()))
