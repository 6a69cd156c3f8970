"""``@record``: a frozen, slotted dataclass that costs next to nothing to define.

``@dataclass(frozen=True, slots=True)`` compiles six methods a class with ``exec``, about
1 ms a class: the catalog's eight classes were a tenth of the one-file ``kinkcheck check``
the pre-commit hook runs. ``@record`` compiles nothing when the class is defined: equality,
hashing, ``repr``, the frozen ``__setattr__`` and pickling are shared functions reading the
field names; ``__init__`` is compiled on the first call (a run that loads the catalog from
its cache never calls it: ``__reduce__`` rebuilds a record from its values directly).

A record behaves as the frozen dataclass did: the same ``__init__`` signature and defaults
(``field(default_factory=...)``), ``==`` and ``hash`` over the compared fields, assignment
raises ``dataclasses.FrozenInstanceError``, and ``dataclasses.fields``, ``replace`` and
``asdict`` work (``__dataclass_fields__`` is built by ``dataclasses`` itself, on first use).
Type checkers see a frozen dataclass (``dataclass_transform``). Not supported: inheritance
between records, ``ClassVar``/``InitVar`` annotations, ``init=False`` and ``kw_only`` fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, Field, FrozenInstanceError, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_options):
        return lambda decorator: decorator

__all__ = ["field", "field_names", "from_values", "record", "replace", "values_of"]

T = TypeVar("T", bound=type)
R = TypeVar("R")


class _Factory:
    """The signature default of a field with a ``default_factory`` (the factory runs in ``__init__``)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: T) -> T:
    """``cls`` as ``@dataclass(frozen=True, slots=True)`` would make it (see the module docstring)."""
    annotations = cls.__dict__.get("__annotations__", {})
    if any(getattr(base, "__record_fields__", None) or hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        raise TypeError(f"@record {cls.__name__}: inheriting fields is not supported")
    specs: list[tuple[str, Field]] = []
    for name, annotation in annotations.items():
        if "ClassVar" in str(annotation) or "InitVar" in str(annotation):
            raise TypeError(f"@record {cls.__name__}.{name}: ClassVar and InitVar are not supported")
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else field(default=value)
        if not spec.init or spec.kw_only is True:
            raise TypeError(f"@record {cls.__name__}.{name}: init=False and kw_only fields are not supported")
        if spec.default is not MISSING and spec.default.__class__.__hash__ is None:  # as dataclasses refuses it
            raise ValueError(f"mutable default {type(spec.default)} for field {name} is not allowed: use default_factory")
        specs.append((name, spec))
    names = tuple(name for name, _ in specs)
    namespace = {k: v for k, v in cls.__dict__.items() if k not in names and k not in ("__dict__", "__weakref__")}
    namespace.update(
        __slots__=names,
        __qualname__=cls.__qualname__,
        __record_fields__=tuple(specs),
        __match_args__=names,
        __dataclass_fields__=_DataclassFields(),
        __doc__=cls.__doc__ or f"{cls.__name__}({', '.join(names)})",
        __init__=_first_init,
        __signature__=_Signature(),
        __repr__=_repr,
        __eq__=_eq,
        __hash__=_hash,
        __setattr__=_frozen_setattr,
        __delattr__=_frozen_delattr,
        __reduce__=_reduce,
        _record_values=staticmethod(_getter(names)),
        _record_compared=staticmethod(_getter(tuple(n for n, f in specs if f.compare))),
        _record_hashed=staticmethod(_getter(tuple(n for n, f in specs if (f.compare if f.hash is None else f.hash)))),
    )
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    # each slot's own setter: 15 times cheaper than object.__setattr__ past the frozen one
    type.__setattr__(made, "_record_setters", tuple(made.__dict__[name].__set__ for name in names))
    return made


def field_names(cls: type) -> tuple[str, ...]:
    """A record class's field names, in order (``dataclasses.fields`` without building them)."""
    return tuple(name for name, _ in cls.__record_fields__)  # type: ignore[attr-defined]


def replace(obj: R, /, **changes: Any) -> R:
    """``dataclasses.replace`` for a record (a new one through ``__init__``), without building
    ``__dataclass_fields__``; an unknown name is ``__init__``'s TypeError."""
    cls = type(obj)
    return cls(**{**dict(zip(field_names(cls), obj._record_values(obj))), **changes})  # type: ignore[attr-defined]


def _getter(names: tuple[str, ...]):
    """A function of a record giving the tuple of ``names``' values."""
    if not names:
        return lambda self: ()
    get = attrgetter(*names)
    return get if len(names) > 1 else (lambda self: (get(self),))


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, spec in self.__record_fields__ if spec.repr)
    return f"{self.__class__.__qualname__}({shown})"


def _eq(self, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self._record_compared(self) == other._record_compared(other)
    return NotImplemented


def _hash(self) -> int:
    return hash(self._record_hashed(self))


def _frozen_setattr(self, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _reduce(self):
    return from_values, (self.__class__, self._record_values(self))


def values_of(obj: Any) -> tuple:
    """A record's field values, in field order."""
    return type(obj)._record_values(obj)


def from_values(cls: type[R], values: tuple) -> R:
    """The record of ``cls`` with these field values (in field order), built as unpickling
    builds it: no ``__init__`` (which may not be compiled yet), no defaults."""
    self = object.__new__(cls)
    for setter, value in zip(cls._record_setters, values):  # type: ignore[attr-defined]
        setter(self, value)
    return self


def _first_init(self, *args, **kwargs) -> None:
    """Compile the class's real ``__init__``, install it and run it."""
    _init_of(type(self))(self, *args, **kwargs)


def _init_of(cls: type):
    """The record's compiled ``__init__``, compiled and installed on first use."""
    cls = next(c for c in cls.__mro__ if "__record_fields__" in c.__dict__)  # a plain subclass's record
    init = cls.__dict__["__init__"]
    if init is _first_init:
        init = _compile_init(cls)
        type.__setattr__(cls, "__init__", init)
    return init


class _Signature:
    """``inspect.signature(cls)`` before the first instance: the compiled ``__init__``'s."""

    def __get__(self, obj: Any, owner: type):
        import inspect

        signature = inspect.signature(_init_of(owner))
        return signature.replace(parameters=list(signature.parameters.values())[1:])


def _compile_init(cls: type):
    env: dict[str, Any] = {"_FACTORY": _FACTORY}
    params, body = [], []
    for (name, spec), setter in zip(cls.__record_fields__, cls._record_setters):  # type: ignore[attr-defined]
        env[f"_s_{name}"] = setter
        if spec.default is not MISSING:
            env[f"_d_{name}"] = spec.default
            params.append(f"{name}=_d_{name}")
        elif spec.default_factory is not MISSING:
            env[f"_f_{name}"] = spec.default_factory
            params.append(f"{name}=_FACTORY")
            body.append(f"    if {name} is _FACTORY:\n        {name} = _f_{name}()")
        else:
            params.append(name)
        body.append(f"    _s_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"])
    exec(source, env)  # noqa: S102 - built above from the class's own field names
    init = env["__init__"]
    init.__annotations__ = {**cls.__dict__.get("__annotations__", {}), "return": None}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


class _DataclassFields:
    """``__dataclass_fields__``, made by ``dataclasses`` on first use (``fields``, ``replace``,
    ``asdict``) from a plain class with the record's annotations and fields (asked for no
    method: nothing is compiled)."""

    def __get__(self, obj: Any, owner: type) -> dict[str, Field]:
        specs = owner.__record_fields__  # type: ignore[attr-defined]
        annotations = owner.__dict__.get("__annotations__", {})
        shadow = type(owner.__name__, (), {"__annotations__": dict(annotations), "__module__": owner.__module__,
                                            "__doc__": owner.__doc__, **{name: _copy(spec) for name, spec in specs}})
        made: Any = dataclasses.dataclass(init=False, repr=False, eq=False, match_args=False)(shadow)
        fields: dict[str, Field] = made.__dataclass_fields__
        type.__setattr__(owner, "__dataclass_fields__", fields)
        return fields


def _copy(spec: Field) -> Field:
    """A fresh ``field()`` like ``spec`` (dataclasses fills in a Field's name and type in place)."""
    return field(default=spec.default, default_factory=spec.default_factory, init=spec.init,
                 repr=spec.repr, hash=spec.hash, compare=spec.compare, metadata=spec.metadata)
