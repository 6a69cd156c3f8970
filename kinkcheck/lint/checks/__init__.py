"""Checks registered by rule code.

Most rules need no code: the engine matches their ``[match]`` table (qualified callables,
tensor methods, operators) and applies their ``guards``. A rule whose decision needs code
registers it here, by code:

- ``@refine("KC202")``: sees every site the generic matcher found for KC202 and returns
  it (possibly with another operand or confidence) or None to drop it;
- ``@node_check("KC401", ast.If, ...)``: produces sites from nodes of the given types.

``validate(catalog)`` runs on first use and fails loudly when a check names a code that
is not in the catalog, so a typo cannot silently disable a check.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import Any, TYPE_CHECKING, Callable, Iterable

from kinkcheck.catalog import CatalogError

if TYPE_CHECKING:
    from kinkcheck.lint.context import Context


@dataclass(frozen=True, slots=True)
class Site:
    """A candidate finding before guards: where, what was matched, and the kinked operand."""

    code: str
    node: ast.AST  # the node whose span the finding reports
    callee: str  # the matched name as written: "torch.abs", ".abs()", "/"
    operand: ast.AST | None = None
    qname: str | None = None
    confidence: str = "high"
    call: Any = None  # the Call / BinOp / Compare that was matched (checks narrow it)
    via: str = "call"  # call | method | operator | instance | node
    category: str | None = None  # the kind of point, where not the rule's (an L1 norm is a kink)
    guards: tuple[str, ...] | None = None  # the guards that can hold here, where not the rule's

    def with_(self, **kw) -> "Site":
        return replace(self, **kw)


Refiner = Callable[[Site, "Context"], "Site | list[Site] | None"]
NodeCheck = Callable[[ast.AST, "Context"], Iterable[Site]]

REFINERS: dict[str, Refiner] = {}
NODE_CHECKS: dict[str, tuple[tuple[type, ...], NodeCheck]] = {}
#: extra call names a check looks at (so the index does not skip their files)
_EXTRA_NAMES: set[str] = set()


def refine(code: str, *, names: Iterable[str] = ()):
    def deco(fn: Refiner) -> Refiner:
        if code in REFINERS:
            raise CatalogError(f"two refiners registered for {code}")
        REFINERS[code] = fn
        _EXTRA_NAMES.update(names)
        return fn

    return deco


def node_check(code: str, *types: type, names: Iterable[str] = ()):
    def deco(fn: NodeCheck) -> NodeCheck:
        if code in NODE_CHECKS:
            raise CatalogError(f"two node checks registered for {code}")
        NODE_CHECKS[code] = (types, fn)
        _EXTRA_NAMES.update(names)
        return fn

    return deco


def _load_all() -> None:
    from kinkcheck.lint.checks import blackbox, branch, kinks, singular, spectral, steps, where  # noqa: F401


def extra_candidate_names() -> frozenset[str]:
    _load_all()
    return frozenset(_EXTRA_NAMES)


def registered_codes() -> frozenset[str]:
    _load_all()
    return frozenset(REFINERS) | frozenset(NODE_CHECKS)


_validated: set[int] = set()


def validate(catalog) -> None:
    """Every registered check must name a rule of the catalog."""
    if id(catalog) in _validated:
        return
    unknown = sorted(c for c in registered_codes() if c not in catalog)
    if unknown:
        raise CatalogError(f"checks registered for codes missing from the catalog: {', '.join(unknown)}")
    _validated.add(id(catalog))
